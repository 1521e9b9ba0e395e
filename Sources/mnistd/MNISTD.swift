#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Classification
import ControlProtocol
import Daemon
import Formats
import InputSpool
import Logging
import SystemResources

extension LogTarget: ExpressibleByArgument {}
extension WatchMode: ExpressibleByArgument {}

@main
struct MNISTD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnistd",
        abstract: "Classify handwritten digits dropped into an inbox directory (PNG or IDX) and write the predictions as CSV.",
        discussion: """
            mnistd watches STATE_DIR/inbox with inotify. Each PNG (any size; normalised like MNIST) or IDX \
            image batch (N×28×28, plain or gzip) written or renamed there is claimed, classified, and \
            answered by outbox/NAME.csv (columns: source, index, label, status, confidence, p0…p9, model); the \
            input then moves to processed/, or to failed/ beside NAME.error when it cannot be read. A \
            crash at any point loses nothing: the next start finishes every claimed input.

            Retraining: drop a labeled dataset (IDX files, or PNG folders 0/…9/) into STATE_DIR/datasets/NAME \
            and run `mnistctl retrain --dataset NAME`; the new model replaces the current one only if it \
            passes validation. Versions are kept in STATE_DIR/models.

            Signals: SIGTERM and SIGINT finish the files in hand and exit 0; SIGHUP re-reads the configuration \
            file (what can change live) and the active model. Under systemd (Type=notify) it reports READY, STATUS, RELOADING, STOPPING and \
            watchdog pings, and takes its control socket from socket activation. Events go to journald \
            with MNISTD_* fields (journalctl -t mnistd).

            Files: /etc/mnistd/mnistd.conf (with --config), /var/lib/mnistd (state under systemd), \
            /run/mnistd/control.sock.
            """,
        version: mnistdVersion)

    /// Keys a configuration file may set: every option and flag but --config itself.
    static let configurationOptions: Set<String> = [
        "state-dir", "inbox", "outbox", "failed", "processed", "weights", "log-target", "socket", "socket-group",
        "min-confidence", "min-accuracy", "max-dataset-images", "max-file-bytes", "max-png-pixels", "max-idx-images",
        "metrics-file", "metrics-interval", "watch", "poll-interval", "instance", "lease-timeout",
    ]
    static let configurationFlags: Set<String> = ["delete-processed"]

    /// The configuration file's settings go before the command line, which wins.
    static func main() {
        let commandLine = Array(CommandLine.arguments.dropFirst())
        let file = configurationFile(named: commandLine)
        if commandLine.contains("--check-config") {
            Glibc.exit(ConfigurationCheck.run(commandLine: commandLine.filter { $0 != "--check-config" }, file: file))
        }
        if let problem = file?.problems.first { exit(withError: ValidationError("--config: \(problem)")) }
        main((file?.arguments ?? []) + commandLine)
    }

    /// The file `--config` names, read whole (nil without --config).
    static func configurationFile(named commandLine: [String]) -> ConfigurationFile.Parsed? {
        guard let flag = commandLine.firstIndex(of: "--config"), flag + 1 < commandLine.count else { return nil }
        let path = commandLine[flag + 1]
        do {
            let text = String(decoding: try readFile(path, maxBytes: 1 << 20), as: UTF8.self)
            return ConfigurationFile.parse(text, source: path, options: configurationOptions, flags: configurationFlags)
        } catch {
            return ConfigurationFile.Parsed(problems: [error])
        }
    }

    /// What a reload reads: the configuration file again, and the command line, which still wins.
    static func rereadConfiguration() throws -> DaemonConfiguration {
        let commandLine = Array(CommandLine.arguments.dropFirst())
        let file = configurationFile(named: commandLine)
        if let problems = file?.problems, !problems.isEmpty {
            throw ValidationError(problems.map { "\($0)" }.joined(separator: "; "))
        }
        do {
            return try parse((file?.arguments ?? []) + commandLine).configuration
        } catch {
            throw ValidationError(message(for: error).split(separator: "\n").joined(separator: "; "))
        }
    }

    @Flag(help: "Check the configuration file and the options, then exit: status 0 when mnistd could start with them, 64 with each problem on a line of its own (file:line for the file's), as nginx -t does.")
    var checkConfig = false

    @Option(help: "Configuration file of `key = value` lines, keys being these options' names (e.g. /etc/mnistd/mnistd.conf); the command line wins over it.")
    var config: String?

    @Option(help: "State directory holding inbox/, outbox/, failed/ and processed/ (created when missing).")
    var stateDir = "./var"

    @Option(help: "Inbox directory (default: STATE_DIR/inbox).") var inbox: String?
    @Option(help: "Outbox directory for the CSV files (default: STATE_DIR/outbox).") var outbox: String?
    @Option(help: "Directory for rejected inputs and their .error files (default: STATE_DIR/failed).") var failed: String?
    @Option(help: "Directory for classified inputs (default: STATE_DIR/processed).") var processed: String?

    @Option(help: "Weights file (default: the shipped model).")
    var weights: String?

    @Flag(help: "Delete classified inputs instead of moving them to processed/.")
    var deleteProcessed = false

    @Option(help: "Control socket (default: STATE_DIR/mnistd.sock; under systemd socket activation, the socket passed in).")
    var socket: String?

    @Option(help: "Group whose members may use the control socket (besides root and the daemon's user); the socket file gets this group.")
    var socketGroup: String?

    @Option(help: "Lowest validation accuracy (0...1) at which a retrained model is swapped in.")
    var minAccuracy = DaemonConfiguration.defaultMinimumAccuracy

    @Option(help: "Most images accepted in a dataset for retraining.")
    var maxDatasetImages = DaemonConfiguration.defaultMaxDatasetImages

    @Option(help: "Reject option: lowest top probability (0...1) at which an image gets a label; below it, or for an image unlike every training image, the CSV says uncertain and leaves the label empty (default: off, every inked image gets its most probable digit). 0.8 is recommended: see the README's out-of-distribution figures.")
    var minConfidence: Float?

    @Option(help: "Keep the metrics in this file, in the Prometheus text format, replaced atomically: for node_exporter's textfile collector, put it (or a link to it) in the directory the collector reads. Default: no file (`mnistctl metrics` shows them either way).")
    var metricsFile: String?

    @Option(help: "Seconds between updates of the metrics file (when anything changed).")
    var metricsInterval = DaemonConfiguration.defaultMetricsIntervalSeconds

    @Option(help: "How the inbox is watched: auto (inotify on a local filesystem; inotify and listing the inbox on NFS, CIFS/SMB, CephFS, FUSE such as GlusterFS, where inotify does not see what other hosts write), inotify, or poll (listing only).")
    var watch: WatchMode = .auto

    @Option(help: "Seconds between listings of the inbox where it is polled; a new file is taken once left alone for half a second (or the interval if shorter): unchanged in size and modification time between two listings that far apart, or modified that long ago by the filesystem's clock.")
    var pollInterval = 1.0

    @Option(help: "This daemon's name among the daemons sharing an inbox from one host (the systemd template's instance name); its claims go to inbox/.claimed/INSTANCE@HOST@BOOT.")
    var instance = "mnistd"

    @Option(help: "Seconds another daemon sharing the inbox may leave its lease unchanged before this one takes over its claims (it must exceed any pause of a live daemon).")
    var leaseTimeout = 60.0

    @Option(help: "Where events go: auto (journald when reachable, else stderr), journal or stderr.")
    var logTarget: LogTarget = .auto

    @Option(help: "Largest input file accepted, in bytes.") var maxFileBytes = InputLimits().maxFileBytes
    @Option(help: "Largest PNG accepted, in pixels (width × height), checked before decoding.") var maxPNGPixels = InputLimits().maxPNGPixels
    @Option(help: "Most images accepted in one IDX batch.") var maxIDXImages = InputLimits().maxIDXImages

    func validate() throws {
        let problems = valueProblems()
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
    }

    /// Every value out of its range, each naming its option.
    func valueProblems() -> [String] {
        var problems: [String] = []
        for (name, value) in [("--max-file-bytes", maxFileBytes), ("--max-png-pixels", maxPNGPixels), ("--max-idx-images", maxIDXImages),
                              ("--max-dataset-images", maxDatasetImages)]
        where value <= 0 {
            problems.append("\(name) must be positive, got \(value)")
        }
        if let minConfidence, !(0...1).contains(minConfidence) {
            problems.append("--min-confidence must be between 0 and 1, got \(minConfidence)")
        }
        if !(metricsInterval >= 0.01 && metricsInterval <= 3600) {
            problems.append("--metrics-interval must be between 0.01 and 3600 seconds, got \(metricsInterval)")
        }
        if let metricsFile, metricsFile.isEmpty || metricsFile.hasSuffix("/") {
            problems.append("--metrics-file must name a file, got \"\(metricsFile)\"")
        }
        if !(pollInterval >= 0.01 && pollInterval <= 3600) {
            problems.append("--poll-interval must be between 0.01 and 3600 seconds, got \(pollInterval)")
        }
        if !(leaseTimeout >= 1 && leaseTimeout <= 86_400) {
            problems.append("--lease-timeout must be between 1 and 86400 seconds, got \(leaseTimeout)")
        }
        if instance.isEmpty || instance.contains(where: { $0 == "@" || $0 == "/" || $0.isWhitespace }) {
            problems.append("--instance must be a name without @, / or spaces, got \"\(instance)\"")
        }
        if !(0...1).contains(minAccuracy) { problems.append("--min-accuracy must be between 0 and 1, got \(minAccuracy)") }
        if let socketGroup, getgrnam(socketGroup) == nil { problems.append("--socket-group: no group named \(socketGroup)") }
        return problems
    }

    /// The daemon's configuration, as these options give it.
    var configuration: DaemonConfiguration {
        var configuration = DaemonConfiguration(
            directories: StateDirectories(stateDirectory: stateDir, inbox: inbox, outbox: outbox, failed: failed, processed: processed),
            socketPath: socket ?? "\(stateDir)/mnistd.sock", weightsPath: weights)
        configuration.deleteProcessed = deleteProcessed
        configuration.metricsFile = metricsFile
        configuration.watch = watch
        configuration.pollIntervalSeconds = pollInterval
        configuration.instance = instance
        configuration.leaseTimeoutSeconds = leaseTimeout
        configuration.live = LiveSettings.Values(
            minimumConfidence: minConfidence,
            limits: InputLimits(maxFileBytes: maxFileBytes, maxPNGPixels: maxPNGPixels, maxIDXImages: maxIDXImages),
            minimumAccuracy: minAccuracy, maxDatasetImages: maxDatasetImages, metricsIntervalSeconds: metricsInterval,
            socketGroup: socketGroup.flatMap { getgrnam($0)?.pointee.gr_gid })
        configuration.reread = { try MNISTD.rereadConfiguration() }
        return configuration
    }

    func run() throws {
        LoggingSystem.bootstrap(logTarget.makeHandler(identifier: "mnistd"))
        let logger = Logger(label: "mnistd")
        let configuration = self.configuration
        let daemon: MNISTDaemon
        do {
            daemon = try MNISTDaemon(configuration: configuration, logger: logger)
        } catch {
            logger.critical("cannot start: \(error)", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        try daemon.run()
    }
}
