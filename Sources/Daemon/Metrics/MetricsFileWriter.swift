import Logging
import SystemResources

/// Keeps a metrics file for node_exporter's textfile collector (or anything that reads the
/// Prometheus text format from a file). It is replaced atomically, so a scrape reads the old
/// file or the new one, never a part: every `interval` when anything changed, at least every
/// `heartbeat` (its age then tells a live daemon from a dead one: node_textfile_mtime_seconds),
/// and once more at a clean stop, saying mnistd_up 0. A file that cannot be written is said
/// once per reason; the daemon goes on either way.
final class MetricsFileWriter: Service, @unchecked Sendable {
    let threadName = "metrics-writer"
    let path: String
    let report: MetricsReport
    let settings: LiveSettings
    let logger: Logger
    static let heartbeatMicroseconds: Int64 = 60_000_000
    private let stopping = StopFlag()
    // The writer's thread only.
    private var written: String?
    private var writtenAt: Int64 = 0
    private var failure: String?

    init(path: String, report: MetricsReport, settings: LiveSettings, logger: Logger) {
        self.path = path
        self.report = report
        self.settings = settings
        self.logger = logger
    }

    private var intervalSeconds: Double { settings.current.metricsIntervalSeconds }

    func run() {
        if !path.hasSuffix(".prom") {
            logger.warning("the metrics file \(path) does not end in .prom: node_exporter's textfile collector reads only *.prom files",
                           metadata: ["file": "\(path)"])
        }
        while true {
            let text = report.text()
            if text != written || monotonicMicroseconds() - writtenAt >= Self.heartbeatMicroseconds { write(text) }
            if stopping.pause(seconds: intervalSeconds) { break }
        }
        write(report.text(running: false))
    }

    func stop() { stopping.raise() }

    /// Readable by all (node_exporter runs as another user); not flushed to disk: metrics
    /// are rewritten within seconds, and the next start writes them anew.
    private func write(_ text: String) {
        do {
            try writeFileAtomically(path, Array(text.utf8), durably: false, mode: 0o644)
            written = text
            writtenAt = monotonicMicroseconds()
            if failure != nil {
                failure = nil
                logger.notice("metrics are written to \(path) again", metadata: ["file": "\(path)"])
            }
        } catch {
            // Each attempt's temporary has a name of its own: the system's error says whether the reason changed.
            let reason = (error as? FileSystemError).map { "\($0.code)" } ?? "\(error)"
            guard failure != reason else { return }
            failure = reason
            logger.error("cannot write metrics: \(error); retrying every \(intervalSeconds) s", metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }
}
