// swift-tools-version:6.1
import PackageDescription

// The kernels are only as fast as the SIMD width the compiler may use: without a target CPU,
// SIMD types fall back to SSE2 and GEMM runs ~100x slower. `native` builds for the CPU doing
// the build (what a source build wants); set MNISTD_TARGET_CPU=haswell for a portable binary
// (AVX2 + FMA, the floor our packages assume).
let targetCPU = Context.environment["MNISTD_TARGET_CPU"] ?? "native"

// Kernel-heavy targets are optimised even in debug builds, so `swift test` trains in seconds.
// Only Tensor's kernels, whose shapes their callers have validated, drop bounds and overflow
// checks: NeuralNet parses weights files, architectures and datasets, which come from outside,
// so it keeps every check (measured: training and inference as fast as with -Ounchecked).
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", targetCPU]),
]
let checkedOptimisedSettings: [SwiftSetting] = [
    .unsafeFlags(["-O", "-target-cpu", targetCPU]),
]

let package = Package(
    name: "mnistd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mnistd", targets: ["mnistd"]),
        .executable(name: "mnistctl", targets: ["mnistctl"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Formats", targets: ["Formats"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Optimised in debug builds too, as the Swift kernels are; per-function targets pick
        // the instructions, so no -march.
        .target(name: "CQuantizedKernels", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "Tensor", dependencies: ["CQuantizedKernels", "CLinux"], swiftSettings: kernelSettings),
        .target(name: "NeuralNet", dependencies: ["Tensor"], exclude: ["DefaultWeights"], swiftSettings: checkedOptimisedSettings),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .target(name: "CLinux"),
        // Descriptors, files, sockets and threads: each system call wrapped once, errors in words.
        .target(name: "SystemResources", dependencies: ["CLinux"]),
        .target(name: "Formats", dependencies: ["CZlib", "CPNG", "SystemResources"]),
        .target(name: "Drawing", dependencies: ["Formats"]),
        // The ways real digits differ from MNIST's, as seeded picture transforms (for measuring only).
        .target(name: "DigitVariants", dependencies: ["Formats"]),
        // A file becomes predictions, the same way for the daemon and for mnistctl.
        .target(
            name: "Classification",
            dependencies: ["NeuralNet", "Tensor", "Formats", "DigitVariants", "SystemResources", .product(name: "Logging", package: "swift-log")]
        ),
        // The inbox's files on disk: claimed, reported, moved, never lost.
        .target(name: "InputSpool", dependencies: ["SystemResources", "CLinux", .product(name: "Logging", package: "swift-log")]),
        // Counters, gauges and histograms in the Prometheus text format; stands alone.
        .target(name: "Metrics"),
        // The control socket's wire format and its client, for mnistctl and the benchmark.
        .target(name: "ControlProtocol", dependencies: ["SystemResources"]),
        .target(
            name: "Daemon",
            dependencies: [
                "Classification", "InputSpool", "ControlProtocol", "Metrics", "NeuralNet", "Tensor", "Formats", "SystemResources",
                "CSystemd", "CLinux", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What the fuzzer and the corpus replay feed the parsers; not part of the daemon.
        .target(name: "FuzzTargets", dependencies: ["Daemon", "Classification", "ControlProtocol", "InputSpool", "NeuralNet", "SystemResources"]),
        .executableTarget(
            name: "mnistd",
            dependencies: [
                "Daemon", "Classification", "ControlProtocol", "InputSpool", "Formats", "SystemResources",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "mnistctl",
            dependencies: [
                "NeuralNet", "Formats", "Classification", "ControlProtocol", "Drawing", "SystemResources",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "mnist-bench",
            dependencies: ["NeuralNet", "Formats", "Classification", "ControlProtocol", "InputSpool", "SystemResources", "TestSupport"],
            swiftSettings: checkedOptimisedSettings
        ),
        .executableTarget(name: "mnist-fuzz", dependencies: ["FuzzTargets", "SystemResources"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Formats", "SystemResources"]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "SystemResources", "CZlib"]),
        .testTarget(name: "InputSpoolTests", dependencies: ["InputSpool", "SystemResources"]),
        .testTarget(name: "ClassificationTests", dependencies: ["Classification", "Formats", "NeuralNet", "TestSupport", "CZlib"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets", "Classification", "TestSupport"]),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Daemon", "Classification", "ControlProtocol", "SystemResources", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "DrawingTests", dependencies: ["Drawing", "Formats"]),
        .testTarget(name: "DigitVariantsTests", dependencies: ["DigitVariants", "Formats", "NeuralNet"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics"]),
        .target(name: "TestSupport", dependencies: ["SystemResources"], path: "Tests/TestSupport"),
        .testTarget(name: "mnistctlTests", dependencies: ["mnistctl", "TestSupport"]),
        .testTarget(
            name: "mnistdTests",
            dependencies: ["mnistd", "mnistctl", "Daemon", "Classification", "DigitVariants", "NeuralNet", "ControlProtocol", "InputSpool",
                           "Formats", "Drawing", "SystemResources", "TestSupport"]
        ),
    ]
)
