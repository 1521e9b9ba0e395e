#if canImport(Glibc)
import Glibc
import Classification
import InputSpool
import Logging
import NeuralNet
import SystemResources
#endif

/// Everything the daemon is told at start.
public struct DaemonConfiguration: Sendable {
    public var directories: StateDirectories
    /// The weights to load; nil: the shipped default model.
    public var weightsPath: String?
    public var deleteProcessed = false
    public var queueCapacity = 4096
    public var batchLimit = 64
    /// The control socket; ignored when systemd passes one (socket activation).
    public var socketPath: String
    public var controlLimits = ControlLimits()
    /// Where the metrics are kept, in the Prometheus text format; nil: no file.
    public var metricsFile: String?
    public var watch = WatchMode.auto
    /// Seconds between listings of the inbox, where it is polled.
    public var pollIntervalSeconds = 1.0
    /// This daemon's name among those sharing an inbox on one host (`mnistd@NAME`).
    public var instance = "mnistd"
    /// How long another instance's lease may stay unchanged before its claims are taken over.
    public var leaseTimeoutSeconds = 60.0
    /// What a reload may change.
    public var live = LiveSettings.Values()
    /// Reads the configuration again, for a reload (the configuration file and the command line); nil: nothing to read.
    public var reread: (@Sendable () throws -> DaemonConfiguration)?
    public static let defaultMinimumAccuracy = LiveSettings.Values().minimumAccuracy
    public static let defaultMaxDatasetImages = LiveSettings.Values().maxDatasetImages
    public static let defaultMetricsIntervalSeconds = LiveSettings.Values().metricsIntervalSeconds

    public init(directories: StateDirectories, socketPath: String, weightsPath: String? = nil) {
        self.directories = directories
        self.socketPath = socketPath
        self.weightsPath = weightsPath
    }

    /// Each setting as the configuration file names it, its value in words, and whether a
    /// reload applies it (else it waits for a restart).
    var settings: [(key: String, value: String, live: Bool)] {
        func words<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "none" }
        return [
            ("min-confidence", live.minimumConfidence.map { "\($0)" } ?? "off", true),
            ("max-file-bytes", "\(live.limits.maxFileBytes)", true),
            ("max-png-pixels", "\(live.limits.maxPNGPixels)", true),
            ("max-idx-images", "\(live.limits.maxIDXImages)", true),
            ("min-accuracy", "\(live.minimumAccuracy)", true),
            ("max-dataset-images", "\(live.maxDatasetImages)", true),
            ("metrics-interval", "\(live.metricsIntervalSeconds)", true),
            ("socket-group", words(live.socketGroup), true),
            ("inbox", directories.inbox, false), ("outbox", directories.outbox, false), ("failed", directories.failed, false),
            ("processed", directories.processed, false), ("state-dir", directories.stateDirectory, false),
            ("delete-processed", "\(deleteProcessed)", false), ("weights", words(weightsPath), false),
            ("socket", socketPath, false), ("metrics-file", words(metricsFile), false), ("watch", watch.rawValue, false),
            ("poll-interval", "\(pollIntervalSeconds)", false), ("instance", instance, false), ("lease-timeout", "\(leaseTimeoutSeconds)", false),
        ]
    }
}

/// A start-up problem, said plainly.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
}

/// Composes the pieces — model store, spool, queue, watcher, worker, writer, retrainer,
/// control server — and runs them until SIGTERM or SIGINT; SIGHUP re-reads the active model.
public final class MNISTDaemon {
    let configuration: DaemonConfiguration
    let logger: Logger
    let models: ModelHolder
    let spool: Spool
    let queue: WorkQueue
    let store: ModelStore
    let settings: LiveSettings
    let counters = DaemonCounters()
    let notifier = ServiceNotifier()
    /// How the inbox is watched, chosen at start by its filesystem.
    let watching: WatchMode.Choice

    /// The signals the main loop waits for.
    static let stopAndReloadSignals: sigset_t = {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        return signals
    }()

    /// The configuration as it holds now: the start's, with the live settings of the last reload.
    private var appliedConfiguration: DaemonConfiguration
    /// The control socket this daemon made (nil when systemd passed one): a new socket group
    /// is given the file too.
    private var ownSocket: String?

    public init(configuration: DaemonConfiguration, logger: Logger) throws {
        // Signals are taken synchronously by this thread alone, before any other thread
        // exists (loading the model starts the kernel pool): every thread inherits the mask,
        // so none of them dies of a SIGTERM meant for the main loop.
        var signals = Self.stopAndReloadSignals
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        self.configuration = configuration
        self.logger = logger
        settings = LiveSettings(configuration.live)
        appliedConfiguration = configuration
        store = try ModelStore(directory: configuration.directories.models)
        models = ModelHolder(try Self.startupModel(configuration.weightsPath, store: store, logger: logger))
        spool = try Spool(directories: configuration.directories, owner: .current(instance: configuration.instance),
                          deleteProcessed: configuration.deleteProcessed)
        queue = WorkQueue(capacity: configuration.queueCapacity)
        watching = configuration.watch.choice(forInbox: configuration.directories.inbox)
    }

    /// The model to start with: the one given, else the store's active one, else the shipped
    /// default; a given or shipped model is kept in the store and made active. An active model
    /// that no longer loads (refused by a stricter check, or damaged) gives way to the shipped
    /// one, so that one bad model cannot keep the daemon from starting.
    static func startupModel(_ path: String?, store: ModelStore, logger: Logger) throws -> LoadedModel {
        if path == nil, let active = store.activeID {
            do {
                return try store.load(active).loggingWarnings(to: logger)
            } catch {
                logger.error("cannot load the active model \(active), starting with the shipped model instead: \(error)",
                             metadata: ["model": "\(active)", "error": "\(error)"])
            }
        }
        guard let path = path ?? DefaultWeights.locate() else {
            throw StartupError(description: "no --weights given and no default model found; looked in:\n  "
                + DefaultWeights.candidates().joined(separator: "\n  "))
        }
        let model = try store.add(LoadedModel.load(path: path).weights)
        try store.activate(model.id)
        return model.loggingWarnings(to: logger)
    }

    /// Runs until a stop signal; returns once the batch in hand is committed.
    public func run() throws {
        queueUnfinishedClaims()
        let services = ServiceGroup(try makeServices())
        services.start()
        let model = models.current
        let inbox = configuration.directories.inbox
        let inference = model.quantized == nil ? "float" : "8-bit, \(QuantizedNetwork.kernelName)"
        // Said, because which one the filesystems allow decides what a power failure can undo.
        let flushing = spool.flushMethod == .wholeFileSystem ? "one syncfs per batch" : "an fsync per file"
        let watchers = [watching.inotify ? "inotify" : nil, watching.polling ? "listing it every \(configuration.pollIntervalSeconds) s" : nil]
            .compactMap { $0 }.joined(separator: " and ")
        logger.notice("mnistd started: watching \(inbox) with \(watchers) (\(watching.reason)) as \(spool.owner.directoryName), with model \(model.id) (\(inference) inference), flushing to disk with \(flushing)", metadata: [
            "model": "\(model.id)", "file": "\(model.path)", "flush": "\(spool.flushMethod.rawValue)", "instance": "\(spool.owner.directoryName)",
        ])
        notifier.ready(status: statusLine())
        let signal = waitForStopSignal()
        logger.notice("stopping on signal \(signal): finishing the files in hand")
        notifier.stopping()
        services.stop()
        spool.retire()
        logger.notice("mnistd stopped")
    }

    /// Queues what the last run left claimed, before any other instance's claims can be taken
    /// over into the same directory (`LeaseKeeper`), so that each is finished once.
    private func queueUnfinishedClaims() {
        do {
            let unfinished = try spool.unfinished()
            guard !unfinished.isEmpty else { return }
            counters.claimed(unfinished.count)
            logger.notice("finishing \(unfinished.count) input(s) claimed before the last stop")
            queue.offerClaims(unfinished)
        } catch {
            logger.error("cannot look for unfinished inputs: \(error)", metadata: ["error": "\(error)"])
        }
    }

    /// The long-running pieces, each after the ones it hands work to: the group stops them in
    /// reverse, upstream first — no new names, no new commands, then the batch in hand
    /// classified, then written.
    private func makeServices() throws -> [any Service] {
        let directories = configuration.directories
        let spool = self.spool
        let deleteProcessed = configuration.deleteProcessed
        let writer = OutboxWriter(spool: spool, logger: logger, counters: counters)
        let worker = ClassifierWorker(queue: queue, spool: spool, settings: settings, models: models, writer: writer, counters: counters,
                                      logger: logger, batchLimit: configuration.batchLimit)
        let retrainer = try Retrainer(datasetsDirectory: directories.datasets, store: store, models: models, settings: settings, logger: logger)
        let metrics = MetricsReport(counters: counters, queue: queue, models: models, retrainer: retrainer)
        let commands = ControlCommands(models: models, store: store, queue: queue, counters: counters, retrainer: retrainer,
                                       metrics: metrics, settings: settings, logger: logger, reload: { [self] in reload() })
        let listener: FileDescriptor
        if let activated = ControlServer.activatedListener() {
            listener = activated
        } else {
            listener = try ControlServer.listen(at: configuration.socketPath, group: configuration.live.socketGroup)
            ownSocket = configuration.socketPath
        }
        let server = try ControlServer(listener: listener, policy: { [settings] in PeerPolicy(group: settings.current.socketGroup) },
                                       limits: configuration.controlLimits, logger: logger) { request, peer in
            commands.handle(request, from: peer)
        }
        var services: [any Service] = [writer, worker, retrainer, server,
                                       LeaseKeeper(spool: spool, queue: queue, counters: counters, logger: logger, timeoutSeconds: configuration.leaseTimeoutSeconds)]
        if watching.inotify {
            services.append(try InboxWatcher(inbox: directories.inbox, queue: queue, counters: counters, logger: logger) {
                try makeDirectories(spool.directories.inbox)
                try spool.checkOwnership()
                try Spool.checkInputsCanMove(spool.directories, deleteProcessed: deleteProcessed)
            })
        }
        if watching.polling {
            services.append(InboxPoller(inbox: directories.inbox, queue: queue, logger: logger, intervalSeconds: configuration.pollIntervalSeconds,
                                        fileSystemTime: spool.fileSystemTime))
        }
        if let path = configuration.metricsFile {
            // Stopped last, so that the file's final word counts the last batch.
            services.insert(MetricsFileWriter(path: path, report: metrics, settings: settings, logger: logger), at: 0)
        }
        if notifier.isListened {
            services.append(StatusReporter(notifier: notifier, counters: counters) { [models, queue, counters] in
                Self.statusLine(models: models, queue: queue, counters: counters)
            })
        }
        if let interval = notifier.watchdogMicroseconds {
            services.append(WatchdogPinger(notifier: notifier, intervalMicroseconds: interval, worker: worker, logger: logger))
        }
        return services
    }

    /// What `systemctl status` says: the model, the queue, the files done.
    private func statusLine() -> String { Self.statusLine(models: models, queue: queue, counters: counters) }

    private static func statusLine(models: ModelHolder, queue: WorkQueue, counters: DaemonCounters) -> String {
        let done = counters.current
        return "model \(models.current.id); queue \(queue.depth); \(done.filesClassified) files classified, \(done.filesFailedInAll) failed"
    }

    /// Waits for SIGTERM or SIGINT, and says which; SIGHUP meanwhile re-reads the model.
    private func waitForStopSignal() -> Int32 {
        var signals = Self.stopAndReloadSignals
        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            guard received == SIGHUP else { return received }
            reload()
        }
    }

    /// Re-reads the configuration (what can change live is applied, the rest is said to wait
    /// for a restart; a configuration with problems changes nothing) and the active model from
    /// the store (SIGHUP, `systemctl reload`, `mnistctl reload`); on error keeps the current model.
    @discardableResult
    public func reload() -> Result<LoadedModel, ReloadFailure> {
        notifier.reloading()
        defer { notifier.ready(status: statusLine()) }
        rereadConfiguration()
        do {
            let model = try (store.activeID.map { try store.load($0) } ?? LoadedModel.load(path: models.current.path))
                .loggingWarnings(to: logger)
            models.replace(with: model)
            logger.notice("reloaded the model: \(model.id)", metadata: ["model": "\(model.id)", "file": "\(model.path)"])
            return .success(model)
        } catch {
            logger.error("reload failed, keeping model \(models.current.id): \(error)", metadata: ["error": "\(error)"])
            return .failure(ReloadFailure(kept: models.current.id, reason: "\(error)"))
        }
    }

    /// Applies what a reload may change and says, key by key, what changed and what waits for a restart.
    private func rereadConfiguration() {
        guard let reread = configuration.reread else { return }
        let new: DaemonConfiguration
        do {
            new = try reread()
        } catch {
            logger.error("the configuration was not reloaded, every setting stays as it was: \(error)", metadata: ["error": "\(error)"])
            return
        }
        let applied = DaemonConfiguration.changes(from: appliedConfiguration, to: new)
        guard !applied.isEmpty else { return logger.notice("reloaded the configuration: nothing changed") }
        for change in applied {
            if change.live {
                logger.notice("reloaded \(change.key): \(change.old) → \(change.new)", metadata: ["key": "\(change.key)", "value": "\(change.new)"])
            } else {
                logger.warning("\(change.key) changed to \(change.new) (now \(change.old)): it takes effect at the next restart",
                               metadata: ["key": "\(change.key)", "value": "\(change.new)"])
            }
        }
        if let ownSocket, let group = new.live.socketGroup, group != appliedConfiguration.live.socketGroup,
           chown(ownSocket, UInt32.max, group) != 0 {
            logger.error("cannot give the control socket to group \(group): \(String(cString: strerror(errno)))", metadata: ["file": "\(ownSocket)"])
        }
        settings.replace(with: new.live)
        appliedConfiguration.live = new.live
    }
}

extension DaemonConfiguration {
    /// The settings that differ, each with whether a reload applies it.
    static func changes(from old: DaemonConfiguration, to new: DaemonConfiguration) -> [(key: String, old: String, new: String, live: Bool)] {
        zip(old.settings, new.settings).compactMap { before, after in
            before.value == after.value ? nil : (before.key, before.value, after.value, before.live)
        }
    }
}
