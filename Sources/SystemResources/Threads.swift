#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A mutex with a condition variable, for the few places that block waiting for work.
package final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for a `broadcast`; call with the lock held (inside `withLock`).
    package func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits for a `broadcast` or until `seconds` pass; call with the lock held.
    package func wait(seconds: Double) {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + Int(seconds * 1e9)
        deadline.tv_sec += nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        pthread_cond_timedwait(condition, mutex, &deadline)
    }

    package func broadcast() { pthread_cond_broadcast(condition) }
}

/// A thread running `body`, joinable once.
package final class WorkerThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    package init(name: String, _ body: @escaping @Sendable () -> Void) {
        self.body = { linux_set_thread_name(String(name.prefix(15))); body() }
        let box = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { context in
            let worker = Unmanaged<WorkerThread>.fromOpaque(context!).takeRetainedValue()
            worker.body()
            return nil
        }, box)
        precondition(created == 0, "cannot start thread \(name): error \(created)")
    }

    package func join() { pthread_join(thread, nil) }
}

/// Microseconds on the monotonic clock, for durations.
package func monotonicMicroseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
}

/// A stop that cuts a wait short: a service's `stop()` raises it, its `run()` pauses on it.
package final class StopFlag: @unchecked Sendable {
    private let lock = ConditionLock()
    private var raised = false

    package init() {}

    package func raise() {
        lock.withLock {
            raised = true
            lock.broadcast()
        }
    }

    package var isRaised: Bool { lock.withLock { raised } }

    /// Waits up to `seconds`, less if the flag is raised meanwhile; whether it is raised.
    package func pause(seconds: Double) -> Bool {
        lock.withLock {
            if !raised { lock.wait(seconds: seconds) }
            return raised
        }
    }
}
