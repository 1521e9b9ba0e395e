import CLinux
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
    if parts <= 1 || kernelThreadCount == 1 || !KernelThreadPool.current.run(parts, body) {
        for part in 0..<parts { body(part) }
    }
}

/// Runs `body` with this thread's kernels split over threads that run at nice 10, as background
/// work does (a retraining beside the daemon's classification): the caller lowers its own
/// priority, and the threads that take parts of its products must not do that work at nice 0.
public func withBackgroundKernelThreads<Result>(_ body: () throws -> Result) rethrows -> Result {
    let previous = pthread_getspecific(KernelThreadPool.backgroundKey)
    pthread_setspecific(KernelThreadPool.backgroundKey, UnsafeRawPointer(bitPattern: 1))
    defer { pthread_setspecific(KernelThreadPool.backgroundKey, previous) }
    return try body()
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
///
/// Part p of a region goes first to thread p mod T (the caller is thread 0, worker w thread
/// w + 1): kernels that split their data the same way every time (the halves of a weight
/// matrix, its gradient and the optimizer step) then find it in the cache of the core that
/// touched it last, instead of pulling it from the other core. A thread with none of its own
/// parts left takes any unclaimed one, so a descheduled worker never holds a region up.
final class KernelThreadPool: @unchecked Sendable {
    static let shared = KernelThreadPool(workers: kernelThreadCount - 1, niceness: 0)
    /// For background work (`withBackgroundKernelThreads`); started at its first use.
    static let background = KernelThreadPool(workers: kernelThreadCount - 1, niceness: 10)
    /// Set on a thread whose kernels run in the background.
    static let backgroundKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The pool the calling thread's kernels use.
    @inline(__always) static var current: KernelThreadPool {
        pthread_getspecific(backgroundKey) == nil ? shared : background
    }

    /// Spin iterations (a few hundred microseconds) before a worker sleeps: longer than the
    /// serial stretches between the regions of a training step, so the workers stay awake
    /// (and keep their parts) through a whole step.
    private static let spinLimit = 200_000
    /// The most parts one region can have: one bit each in the claim word.
    private static let maxParts = UInt.bitWidth

    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    /// The current region's number and the bit mask of its unclaimed parts, swapped as one: a
    /// thread that read the pair of a region that has since ended cannot claim a part of the
    /// next one, however long it was preempted in between.
    private let claims = Atomic<WordPair>(WordPair(first: 0, second: 0))
    private let unfinished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let threads: Int
    /// Only the thread holding `busy` touches it.
    private var region: UInt = 0
    /// Valid while a region runs; workers read it only after claiming a part, which the
    /// releasing store of `claims` orders after this write.
    private var body: ((Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeUp = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// The workers' nice value.
    private let niceness: Int32

    private init(workers: Int, niceness: Int32) {
        threads = workers + 1
        self.niceness = niceness
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeUp, nil)
        for worker in 0..<workers {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, thread: worker + 1)).toOpaque()
            var thread = pthread_t()
            pthread_create(&thread, nil, { context in
                let worker = Unmanaged<WorkerContext>.fromOpaque(context!).takeRetainedValue()
                worker.pool.workerLoop(thread: worker.thread)
            }, context)
            pthread_detach(thread)
        }
    }

    private final class WorkerContext {
        let pool: KernelThreadPool
        let thread: Int
        init(pool: KernelThreadPool, thread: Int) {
            self.pool = pool
            self.thread = thread
        }
    }

    /// Runs the region on the workers and the calling thread; false if the pool is busy (or the
    /// region has more parts than the claim word has bits).
    func run(_ parts: Int, _ body: (Int) -> Void) -> Bool {
        guard parts <= Self.maxParts else { return false }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            region &+= 1
            unfinished.store(parts, ordering: .relaxed)
            claims.store(WordPair(first: region, second: parts == Self.maxParts ? ~0 : (1 << UInt(parts)) - 1), ordering: .releasing)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wakeUp)
                pthread_mutex_unlock(mutex)
            }
            workOnParts(thread: 0)
            // Every part is claimed, so from here on workers claim nothing until the next region.
            while unfinished.load(ordering: .acquiring) > 0 {}
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    /// Claims and runs parts of whichever region is current until none is left unclaimed,
    /// its own parts (p mod threads == thread) first.
    private func workOnParts(thread: Int) {
        var own: UInt = 0
        for part in stride(from: thread, to: Self.maxParts, by: threads) { own |= 1 << UInt(part) }
        var pair = claims.load(ordering: .acquiring)
        while pair.second != 0 {
            let mine = pair.second & own
            let part = (mine != 0 ? mine : pair.second).trailingZeroBitCount
            let claimed = WordPair(first: pair.first, second: pair.second & ~(1 << UInt(part)))
            let (exchanged, current) = claims.compareExchange(expected: pair, desired: claimed, ordering: .acquiring)
            guard exchanged else {
                pair = current
                continue
            }
            body!(part)
            unfinished.subtract(1, ordering: .releasing)
            pair = claims.load(ordering: .acquiring)
        }
    }

    private func workerLoop(thread: Int) -> Never {
        if niceness != 0 { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(linux_thread_id()), niceness) }
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
            workOnParts(thread: thread)
        }
    }
}
