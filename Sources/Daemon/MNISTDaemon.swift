#if canImport(Glibc)
import Glibc
#endif
import Logging
import NeuralNet

/// Everything the daemon is told at start.
public struct DaemonConfiguration: Sendable {
    public var directories: StateDirectories
    /// The weights to load; nil: the shipped default model.
    public var weightsPath: String?
    public var deleteProcessed = false
    public var limits = InputLimits()
    public var queueCapacity = 4096
    public var batchLimit = 64

    public init(directories: StateDirectories, weightsPath: String? = nil) {
        self.directories = directories
        self.weightsPath = weightsPath
    }
}

/// A start-up problem, said plainly.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
}

/// Composes the pieces — model, spool, queue, watcher, worker, writer — and runs them until SIGTERM
/// or SIGINT; SIGHUP re-reads the weights.
public final class MNISTDaemon {
    let configuration: DaemonConfiguration
    let logger: Logger
    let models: ModelHolder
    let spool: Spool
    let queue: WorkQueue
    let notifier = ServiceNotifier()

    public init(configuration: DaemonConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        models = ModelHolder(try Self.loadModel(configuration.weightsPath))
        spool = try Spool(directories: configuration.directories, deleteProcessed: configuration.deleteProcessed)
        queue = WorkQueue(capacity: configuration.queueCapacity)
    }

    static func loadModel(_ path: String?) throws -> LoadedModel {
        guard let path = path ?? DefaultWeights.locate() else {
            throw StartupError(description: "no --weights given and no default model found; looked in:\n  "
                + DefaultWeights.candidates().joined(separator: "\n  "))
        }
        return try LoadedModel.load(path: path)
    }

    public var model: LoadedModel { models.current }

    /// Runs until a stop signal; returns once the batch in hand is committed.
    public func run() throws {
        // Signals are taken synchronously by this thread alone; the threads started below
        // inherit the mask and never see them.
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let directories = configuration.directories
        let spool = self.spool
        let watcher = try InboxWatcher(inbox: directories.inbox, queue: queue, logger: logger) {
            try makeDirectories(spool.directories.inbox)
            try makeDirectories(spool.directories.claimed)
        }
        let writer = OutboxWriter(spool: spool, logger: logger)
        let worker = ClassifierWorker(queue: queue, spool: spool, decoder: InputDecoder(limits: configuration.limits),
                                      models: models, writer: writer, logger: logger, batchLimit: configuration.batchLimit)
        let writerThread = WorkerThread(name: "outbox-writer") { writer.run() }
        let workerThread = WorkerThread(name: "classifier") { worker.run() }
        let watcherThread = WorkerThread(name: "inbox-watcher") { watcher.run() }
        let model = models.current
        logger.notice("mnistd started: watching \(directories.inbox) with model \(model.id)", metadata: [
            "model": "\(model.id)", "file": "\(model.path)",
        ])
        notifier.ready(status: "watching \(directories.inbox) with model \(model.id)")

        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            if received == SIGHUP {
                reload()
                continue
            }
            logger.notice("stopping on signal \(received): finishing the files in hand")
            notifier.stopping()
            break
        }
        // Upstream first: no new names, then the batch in hand classified, then written.
        watcher.stop()
        queue.close()
        watcherThread.join()
        workerThread.join()
        writer.close()
        writerThread.join()
        logger.notice("mnistd stopped")
    }

    /// Re-reads the weights the daemon was started with; on error keeps the current model.
    public func reload() {
        notifier.reloading()
        do {
            let model = try LoadedModel.load(path: models.current.path)
            models.replace(with: model)
            logger.notice("reloaded the model: \(model.id)", metadata: ["model": "\(model.id)", "file": "\(model.path)"])
        } catch {
            logger.error("reload failed, keeping model \(models.current.id): \(error)", metadata: ["error": "\(error)"])
        }
        notifier.ready(status: "watching \(configuration.directories.inbox) with model \(models.current.id)")
    }
}
