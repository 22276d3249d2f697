// swift-tools-version:6.0
// libFuzzer targets for initdiag's readers. A package of its own so the root Package.swift stays
// free of sanitizer-only targets. Build and run with ../scripts/fuzz.sh (see README.md).
//
// The root package is reached by path through `.build-fuzz/initdiag`, a link to the repository
// root that fuzz.sh creates (`ln -sfn .. .build-fuzz/initdiag`): a path dependency's identity is
// its last path component, and `..` in a checkout directory named `fuzz` would collide with this
// package's own identity (`fuzz`, from `Fuzz/`), so SwiftPM could not find the InitDiag product.
import PackageDescription

let fuzzTargets = ["fuzz-prototxt", "fuzz-solver", "fuzz-caffemodel", "fuzz-blobproto-datum", "fuzz-scheme", "fuzz-statistics", "fuzz-onnx"]

let package = Package(
    name: "initdiag-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: "../.build-fuzz/initdiag"),
    ],
    targets: fuzzTargets.map {
        .executableTarget(name: $0, dependencies: [.product(name: "InitDiag", package: "initdiag"),
                                            .product(name: "CStatistics", package: "initdiag")])
    } + [
        // Writes the binary seed corpora with the library's own encoders (a plain executable: build it
        // without the fuzzer flags, as `fuzz.sh --seeds` does; libFuzzer's own main would clash).
        .executableTarget(name: "fuzz-seedgen", dependencies: [.product(name: "InitDiag", package: "initdiag")]),
    ]
)
