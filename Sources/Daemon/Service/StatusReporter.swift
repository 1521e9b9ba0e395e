import SystemResources

/// Keeps the service manager's status line (`systemctl status`) current: sent when the
/// counters change, at most once a second (a burst of files is not a message per file), and
/// not at all while nothing happens: it waits on the counters, not on a clock.
final class StatusReporter: Service, @unchecked Sendable {
    let threadName = "status"
    let notifier: ServiceNotifier
    let counters: DaemonCounters
    let status: @Sendable () -> String
    private let lock = ConditionLock()
    private var stopping = false

    init(notifier: ServiceNotifier, counters: DaemonCounters, status: @escaping @Sendable () -> String) {
        self.notifier = notifier
        self.counters = counters
        self.status = status
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    func run() {
        var seen = counters.changes
        while true {
            seen = counters.waitForChange(after: seen) { isStopping }
            if isStopping { return }
            notifier.status(status())
            let stopped = lock.withLock {
                if !stopping { lock.wait(seconds: 1) }
                return stopping
            }
            if stopped { return }
        }
    }

    func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        counters.wakeWaiters()
    }
}
