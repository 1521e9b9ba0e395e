#if canImport(Glibc)
import Glibc
#endif
import FuzzTargets
import SystemResources

/// The target: MNIST_FUZZ_TARGET=inputs|weights|dataset (default inputs).
let target = getenv("MNIST_FUZZ_TARGET").flatMap { UntrustedInput.Target(rawValue: String(cString: $0)) } ?? .inputs

#if FUZZING
/// One input from libFuzzer (`make fuzz` builds this with -sanitize=fuzzer,address).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    UntrustedInput.exercise(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [], as: target)
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// SwiftPM links an executable's entry point under this name; libFuzzer's driver runs from it.
@_cdecl("mnist_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOneInput)
}
#else
/// Without the fuzzer: replays the files given through the target, one after the other.
@main
struct Replay {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() { UntrustedInput.exercise(try readFile(path, maxBytes: 1 << 20), as: target) }
    }
}
#endif
