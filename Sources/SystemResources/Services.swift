/// A long-running piece of a program: it works in `run()`, on a thread of its own, until
/// asked to `stop()`.
package protocol Service: AnyObject, Sendable {
    /// The thread's name, for ps, top and gdb (15 bytes show).
    var threadName: String { get }
    /// Works until `stop()`, and finishes what it has in hand before it returns.
    func run()
    /// Makes `run()` return; callable from any thread, before `run()` starts or while it runs.
    func stop()
    /// Said to every service of a group before any is stopped: give up whatever could hold
    /// the shutdown up (a retry that may never succeed).
    func shutdownBegins()
}

extension Service {
    package func shutdownBegins() {}
}

/// Runs services each on a thread of its own. They start in the order given, each after the
/// ones it hands work to, and stop in reverse: each is stopped and its thread joined before
/// the next is asked to, so that the work in hand flows downstream and is finished.
package final class ServiceGroup {
    private let services: [any Service]
    private var threads: [WorkerThread] = []

    package init(_ services: [any Service]) { self.services = services }

    package func start() {
        threads = services.map { service in WorkerThread(name: service.threadName) { service.run() } }
    }

    /// Stops every service, last started first; returns when all have returned.
    package func stop() {
        for service in services { service.shutdownBegins() }
        for (service, thread) in zip(services, threads).reversed() {
            service.stop()
            thread.join()
        }
        threads = []
    }
}
