// swift-tools-version:6.0
import PackageDescription

// Release builds of the engine are compiled with -Ounchecked: the hot loops index raw buffers whose
// bounds are established once per layer at reshape time.
let engineFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "initdiag",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "initdiag", targets: ["initdiag"]),
        .library(name: "InitDiag", targets: ["InitDiag"]),
        // The statistics kernels on their own, for the fuzz target that drives them directly.
        .library(name: "CStatistics", targets: ["CStatistics"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The ONNX reader's wire format (generated code in Sources/InitDiagEngine/ONNX/Generated/).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System libraries: one module map + one shim header each (see Sources/C*/).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb",
                       providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CLevelDB", providers: [.apt(["libleveldb-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // PNG (libpng) and JPEG (libjpeg-turbo's TurboJPEG) decoding for the ImageData layer.
        .target(name: "CImageCodecs", cSettings: [.unsafeFlags(["-O2"])],
                linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("turbojpeg")]),
        // The probes' statistics kernels (C++ with vector extensions, AVX2 chosen at run time);
        // -O3 in debug builds too, so the test suite does not crawl through them.
        .target(name: "CStatistics", cxxSettings: [.unsafeFlags(["-O3"])]),
        // The stages, each its own module so that the compiler keeps a stage from reaching into a
        // later one (docs/architecture.md): Core (shared vocabulary) ← Trace (HDF5) ← Engine (nets,
        // layers, fillers, solvers, data, probes) and ← Diagnosis (verdicts, report: reads trace
        // records, never a live net); InitDiag (runs and sweeps) uses them all; Bench and the CLI
        // sit on top.
        .target(name: "InitDiagCore", swiftSettings: engineFlags),
        .target(name: "InitDiagTrace", dependencies: ["InitDiagCore", "CHDF5"], swiftSettings: engineFlags),
        .target(name: "InitDiagEngine",
                dependencies: ["InitDiagCore", "InitDiagTrace", "CBLAS", "CLMDB", "CLevelDB", "CZlib", "CImageCodecs", "CStatistics",
                               .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["ONNX/Generated/README.md"],
                swiftSettings: engineFlags),
        .target(name: "InitDiagDiagnosis", dependencies: ["InitDiagCore", "InitDiagTrace"],
                exclude: ["Diagnosis/RULES.md"], swiftSettings: engineFlags),
        .target(name: "InitDiag",
                dependencies: ["InitDiagCore", "InitDiagTrace", "InitDiagEngine", "InitDiagDiagnosis"],
                swiftSettings: engineFlags),
        // Benchmarks are not part of the library: the CLI's `bench` command and the tests use them.
        .target(name: "InitDiagBench", dependencies: ["InitDiag"], swiftSettings: engineFlags),
        .executableTarget(name: "initdiag",
                          dependencies: ["InitDiag", "InitDiagBench",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: engineFlags),
        .testTarget(name: "InitDiagTests", dependencies: ["InitDiag", "InitDiagBench"]),
    ],
    cxxLanguageStandard: .cxx17
)
