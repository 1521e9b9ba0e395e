#if canImport(Glibc)
import Glibc
#endif
import Formats
import Logging

/// Takes names from the work queue, claims them, classifies each input wholly with one model
/// snapshot, and commits the results through the spool — a batch of files at a time, so that
/// many small PNGs share one forward pass and one flush to disk.
public final class ClassifierWorker: @unchecked Sendable {
    let queue: WorkQueue
    let spool: Spool
    let decoder: InputDecoder
    let models: ModelHolder
    let logger: Logger
    let batchLimit: Int
    private let classifier = Classifier()

    public init(queue: WorkQueue, spool: Spool, decoder: InputDecoder, models: ModelHolder, logger: Logger, batchLimit: Int = 64) {
        self.queue = queue
        self.spool = spool
        self.decoder = decoder
        self.models = models
        self.logger = logger
        self.batchLimit = batchLimit
    }

    /// Finishes what a previous run left claimed, scans the inbox, then serves the queue
    /// until it is closed. The batch in hand is always finished.
    public func run() {
        do {
            let unfinished = try spool.unfinished()
            if !unfinished.isEmpty {
                logger.notice("finishing \(unfinished.count) input(s) claimed before the last stop")
                for start in stride(from: 0, to: unfinished.count, by: batchLimit) {
                    process(Array(unfinished[start..<min(start + batchLimit, unfinished.count)]))
                }
            }
        } catch {
            logger.error("cannot look for unfinished inputs: \(error)", metadata: ["error": "\(error)"])
        }
        queue.requestRescan()
        while let work = queue.take(limit: batchLimit) {
            switch work {
            case .rescan:
                rescan()
            case .files(let names):
                do {
                    let (claimed, refused) = try spool.claim(names)
                    for (name, error) in refused {
                        logger.error("cannot claim \(name): \(error)", metadata: ["file": "\(name)", "error": "\(error)"])
                    }
                    if !claimed.isEmpty { process(claimed) }
                } catch {
                    logger.error("cannot claim inputs: \(error)", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    private func rescan() {
        do {
            for name in try directoryEntries(spool.directories.inbox).sorted() where InboxNames.isInput(name) {
                guard queue.offer(name) else { return }
            }
        } catch {
            logger.error("cannot scan the inbox: \(error)", metadata: ["error": "\(error)"])
        }
    }

    /// Classifies and commits claimed inputs.
    func process(_ claimed: [ClaimedInput]) {
        let started = monotonicMicroseconds()
        let model = models.current
        var decoded: [Result<DecodedInput, any Error>] = claimed.map { input in
            Result { try decoder.decode(path: input.path, displayName: input.name) }
        }
        var inputs: [[UInt8]] = []
        for case .success(let input) in decoded { inputs.append(input.pixels) }
        let probabilities = classifier.probabilities(model, inputs: inputs)
        inputs.removeAll()
        let classes = model.network.classCount
        var outcomes: [(ClaimedInput, Outcome)] = []
        var labels: [[Int]] = []
        var cursor = 0
        for (input, result) in zip(claimed, decoded) {
            switch result {
            case .success(let digits):
                var csv = CSVWriter(header: PredictionCSV.header(classes: classes))
                let rows = probabilities[cursor..<cursor + digits.count * classes]
                labels.append(PredictionCSV.appendRows(to: &csv, source: input.name, probabilities: rows, classes: classes, model: model.id))
                cursor += digits.count * classes
                outcomes.append((input, .classified(csv: Array(csv.text.utf8))))
            case .failure(let error):
                labels.append([])
                outcomes.append((input, .failed(reason: "\(error)")))
            }
        }
        decoded.removeAll()
        guard let committed = commitRetrying(outcomes) else { return }
        let duration = monotonicMicroseconds() - started
        for ((entry, outcome), labels) in zip(zip(committed, outcomes.map(\.1)), labels) {
            switch outcome {
            case .classified:
                var metadata: Logger.Metadata = [
                    "file": "\(entry.input.name)", "images": "\(labels.count)", "duration_us": "\(duration)",
                    "model": "\(model.id)", "output": "\(entry.report)",
                ]
                if labels.count == 1 { metadata["label"] = "\(labels[0])" }
                let summary = labels.count == 1 ? "digit \(labels[0])" : "\(labels.count) images"
                logger.info("classified \(entry.input.name): \(summary)", metadata: metadata)
            case .failed(let reason):
                logger.warning("rejected \(reason)", metadata: [
                    "file": "\(entry.input.name)", "error": "\(reason)", "duration_us": "\(duration)", "output": "\(entry.report)",
                ])
            }
        }
    }

    /// Commits, and when the disk refuses (full, read-only, permissions), keeps the inputs
    /// claimed and tries again with growing pauses, logging once per episode. Nil when the
    /// daemon is stopping first: the claims are finished at the next start.
    private func commitRetrying(_ outcomes: [(ClaimedInput, Outcome)]) -> [Committed]? {
        var pause: useconds_t = 100_000
        var failing = false
        while true {
            do {
                let committed = try spool.commit(outcomes)
                if failing { logger.notice("results can be written again; carrying on") }
                return committed
            } catch {
                if !failing {
                    logger.error("cannot write results, keeping \(outcomes.count) input(s) claimed and retrying: \(error)",
                                 metadata: ["error": "\(error)"])
                    failing = true
                }
                if queue.isClosed { return nil }
                usleep(pause)
                pause = min(pause * 2, 5_000_000)
            }
        }
    }
}
