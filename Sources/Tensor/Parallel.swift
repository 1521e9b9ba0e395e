import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How many threads the kernels split their work over: one per online core, or
/// MNISTD_KERNEL_THREADS (1…64) to leave cores to other work or to run the kernels inline.
public let kernelThreadCount: Int = {
    if let text = getenv("MNISTD_KERNEL_THREADS").map({ String(cString: $0) }), let count = Int(text), (1...64).contains(count) {
        return count
    }
    return max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 64))
}()

/// Runs `body(part)` for `part` in `0..<parts` on the kernel threads and returns when all are
/// done. Parts run on the calling thread when there is one part, or when the pool is already
/// busy (a nested region, or another thread's kernels), so callers never wait for each other.
@inline(__always)
public func parallelFor(_ parts: Int, _ body: (Int) -> Void) {
    if parts <= 1 || kernelThreadCount == 1 || !KernelThreadPool.shared.run(parts, body) {
        for part in 0..<parts { body(part) }
    }
}

/// Splits 0..<count into one contiguous range per core and runs body on each in parallel;
/// small counts (under `minimumPerThread` per core) run on the calling thread.
@inline(__always)
public func parallelRanges(_ count: Int, minimumPerThread: Int = 16_384, _ body: (Range<Int>) -> Void) {
    let parts = max(1, min(kernelThreadCount, count / minimumPerThread))
    parallelFor(parts) { part in body(partRange(part, of: parts, count: count)) }
}

/// The `part`-th of `parts` near-equal contiguous ranges covering 0..<count, never inverted:
/// rounding each part up instead would leave the last parts past the end when there are many.
@inline(__always)
public func partRange(_ part: Int, of parts: Int, count: Int) -> Range<Int> {
    part * count / parts..<(part + 1) * count / parts
}

/// Carries raw pointers and non-Sendable closures into fork-join regions whose lifetime is
/// bounded by the caller; the kernels guarantee that parts write disjoint memory.
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    @inline(__always) public init(_ value: Value) { self.value = value }
}

/// Fork-join over persistent threads. A training step opens hundreds of parallel regions of a
/// few microseconds each; waking a sleeping thread per region (as Dispatch does) costs more
/// than the region, so workers spin briefly for the next region before going to sleep.
/// Idle, they sleep on a condition variable and use no CPU.
final class KernelThreadPool: @unchecked Sendable {
    static let shared = KernelThreadPool(workers: kernelThreadCount - 1)

    /// Spin iterations (a few tens of microseconds) before a worker sleeps.
    private static let spinLimit = 20_000
    /// Parked value of `nextPart` between regions, so a late worker claims nothing.
    private static let parked = Int.max / 2

    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let nextPart = Atomic<Int>(parked)
    private let partCount = Atomic<Int>(0)
    private let unfinished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    /// Valid while a region runs; workers read it only after claiming a part, which the
    /// releasing store of `nextPart` orders after this write.
    private var body: ((Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeUp = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    private init(workers: Int) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeUp, nil)
        for _ in 0..<workers {
            var thread = pthread_t()
            let context = Unmanaged.passUnretained(self).toOpaque()
            pthread_create(&thread, nil, { context in
                Unmanaged<KernelThreadPool>.fromOpaque(context!).takeUnretainedValue().workerLoop()
                return nil
            }, context)
            pthread_detach(thread)
        }
    }

    /// Runs the region on the workers and the calling thread; false if the pool is busy.
    func run(_ parts: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            partCount.store(parts, ordering: .relaxed)
            unfinished.store(parts, ordering: .relaxed)
            nextPart.store(0, ordering: .releasing)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wakeUp)
                pthread_mutex_unlock(mutex)
            }
            workOnParts()
            while unfinished.load(ordering: .acquiring) > 0 {}
            nextPart.store(Self.parked, ordering: .relaxed)
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    private func workOnParts() {
        while true {
            let part = nextPart.wrappingAdd(1, ordering: .acquiring).oldValue
            guard part < partCount.load(ordering: .relaxed) else { return }
            body!(part)
            unfinished.subtract(1, ordering: .releasing)
        }
    }

    private func workerLoop() -> Never {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .sequentiallyConsistent) == seen {
                spins += 1
                if spins < Self.spinLimit { continue }
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen {
                    pthread_cond_wait(wakeUp, mutex)
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
            }
            seen = generation.load(ordering: .acquiring)
            workOnParts()
        }
    }
}
