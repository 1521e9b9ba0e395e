import Dispatch

/// How many threads the kernels split their work over: one per core, as the machine reports.
public let kernelThreadCount: Int = max(1, min(sysconfNumberOfCores(), 64))

private func sysconfNumberOfCores() -> Int {
    #if canImport(Glibc)
    return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    #else
    return 1
    #endif
}

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body(part)` for `part` in `0..<parts` on up to `kernelThreadCount` threads and returns
/// when all are done. Work is only split when it is worth a thread hand-off (a few microseconds).
@inline(__always)
public func parallelFor(_ parts: Int, _ body: (Int) -> Void) {
    if parts <= 1 {
        if parts == 1 { body(0) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(escapable)
        DispatchQueue.concurrentPerform(iterations: parts) { box.value($0) }
    }
}

/// Carries raw pointers and non-Sendable closures into fork-join regions whose lifetime is
/// bounded by the caller; the kernels guarantee that parts write disjoint memory.
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    @inline(__always) public init(_ value: Value) { self.value = value }
}

/// Splits 0..<count into one contiguous range per core and runs body on each in parallel;
/// small counts (under `minimumPerThread` per core) run on the calling thread.
@inline(__always)
public func parallelRanges(_ count: Int, minimumPerThread: Int = 16_384, _ body: (Range<Int>) -> Void) {
    let parts = max(1, min(kernelThreadCount, count / minimumPerThread))
    let size = (count + parts - 1) / parts
    parallelFor(parts) { part in
        body(part * size..<min(count, (part + 1) * size))
    }
}
