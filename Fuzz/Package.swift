// swift-tools-version:6.0
// libFuzzer targets for initdiag's readers. A package of its own so the root Package.swift stays
// free of sanitizer-only targets; it depends on the root package by path. Build and run with
// ../scripts/fuzz.sh (see README.md).
import PackageDescription

let fuzzTargets = ["fuzz-prototxt", "fuzz-solver", "fuzz-caffemodel", "fuzz-blobproto-datum", "fuzz-scheme"]

let package = Package(
    name: "initdiag-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: "../.build-fuzz/initdiag"),
    ],
    targets: fuzzTargets.map {
        .executableTarget(name: $0, dependencies: [.product(name: "InitDiag", package: "initdiag")])
    } + [
        // Writes the binary seed corpora with the library's own encoders (a plain executable, built
        // without the fuzzer runtime).
        .executableTarget(name: "fuzz-seedgen", dependencies: [.product(name: "InitDiag", package: "initdiag")]),
    ]
)
