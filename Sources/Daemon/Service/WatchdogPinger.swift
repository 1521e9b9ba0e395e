import Logging
import SystemResources

/// Pings systemd's watchdog (`WatchdogSec=`) at half its interval, but only while the
/// classifier is not stuck on one piece of work for a whole interval: then the pings stop,
/// and systemd restarts the daemon.
final class WatchdogPinger: Service, @unchecked Sendable {
    let threadName = "watchdog"
    let notifier: ServiceNotifier
    let intervalMicroseconds: Int64
    let worker: ClassifierWorker
    let logger: Logger
    private let stopping = StopFlag()

    init(notifier: ServiceNotifier, intervalMicroseconds: Int64, worker: ClassifierWorker, logger: Logger) {
        self.notifier = notifier
        self.intervalMicroseconds = intervalMicroseconds
        self.worker = worker
        self.logger = logger
    }

    func run() {
        while true {
            let busy = worker.busyMicroseconds
            if busy < intervalMicroseconds {
                notifier.watchdog()
            } else {
                logger.critical("the classifier has been busy for \(busy / 1000) ms; no watchdog ping")
            }
            if stopping.pause(seconds: Double(intervalMicroseconds) / 2e6) { return }
        }
    }

    func stop() { stopping.raise() }
}
