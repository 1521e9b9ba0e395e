import SystemResources

/// Keeps the service manager's status line (`systemctl status`) current: sent when the
/// counters change, at most once a second (a burst of files is not a message per file), and
/// not at all while nothing happens: it waits on the counters, not on a clock.
final class StatusReporter: Service, @unchecked Sendable {
    let threadName = "status"
    let notifier: ServiceNotifier
    let counters: DaemonCounters
    let status: @Sendable () -> String
    private let stopping = StopFlag()

    init(notifier: ServiceNotifier, counters: DaemonCounters, status: @escaping @Sendable () -> String) {
        self.notifier = notifier
        self.counters = counters
        self.status = status
    }

    func run() {
        var seen = counters.changes
        while true {
            seen = counters.waitForChange(after: seen) { stopping.isRaised }
            if stopping.isRaised { return }
            notifier.status(status())
            if stopping.pause(seconds: 1) { return }
        }
    }

    func stop() {
        stopping.raise()
        counters.wakeWaiters()
    }
}
