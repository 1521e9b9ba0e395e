#if canImport(Glibc)
import Glibc
import Classification
import Formats
import InputSpool
import Logging
import SystemResources
#endif

/// Takes names from the work queue, claims them, classifies each input wholly with one model
/// snapshot, and hands the results to the outbox writer — a batch of files at a time, so that
/// many small PNGs share one forward pass and one flush to disk.
public final class ClassifierWorker: Service, @unchecked Sendable {
    public let threadName = "classifier"
    let queue: WorkQueue
    let spool: Spool
    let settings: LiveSettings
    let models: ModelHolder
    let writer: OutboxWriter
    let counters: DaemonCounters
    let logger: Logger
    let batchLimit: Int
    private let classifier = Classifier()
    private let lock = ConditionLock()
    private var workStarted: Int64?
    /// Inputs that did not decode but were written to moments ago: a writer may still be
    /// filling them (a file rewritten in place can be claimed between its truncation and its
    /// last write, and the writer goes on writing into the claimed file). Each is decoded again
    /// once it has been left alone for `settleMicroseconds`; only then is it failed.
    private var unsettled: [ClaimedInput] = []
    static let settleMicroseconds: Int64 = 500_000

    /// How long the work in hand has taken so far (0 while waiting for work or for the
    /// writer to take results): the watchdog's measure of a stuck classifier.
    public var busyMicroseconds: Int64 {
        lock.withLock { workStarted.map { monotonicMicroseconds() - $0 } ?? 0 }
    }

    public init(queue: WorkQueue, spool: Spool, settings: LiveSettings, models: ModelHolder, writer: OutboxWriter,
                counters: DaemonCounters, logger: Logger, batchLimit: Int = 64) {
        self.queue = queue
        self.spool = spool
        self.writer = writer
        self.counters = counters
        self.settings = settings
        self.models = models
        self.logger = logger
        self.batchLimit = batchLimit
    }

    /// Closes the queue: `run` returns once the batch in hand is done (names still queued
    /// stay in the inbox, for the next start).
    public func stop() { queue.close() }

    /// Scans the inbox, then serves the queue until it is closed (claims left by the last run
    /// come first: the daemon queues them before it starts). The batch in hand is always finished.
    public func run() {
        queue.requestRescan()
        while let work = queue.take(limit: batchLimit, waitingAtMost: unsettled.isEmpty ? nil : Double(Self.settleMicroseconds) / 1e6) {
            lock.withLock { workStarted = monotonicMicroseconds() }
            defer { lock.withLock { workStarted = nil } }
            let due = unsettled.filter { !Self.writtenRecently($0) }
            if !due.isEmpty {
                unsettled.removeAll { input in due.contains(input) }
                process(due)
            }
            switch work {
            case .rescan:
                rescan()
            case .claims(let inputs):
                processInBatches(inputs)
            case .files(let names):
                do {
                    let (claimed, refused) = try spool.claim(names)
                    counters.claimed(claimed.count)
                    for (name, error) in refused {
                        logger.error("cannot claim \(name): \(error)", metadata: ["file": "\(name)", "error": "\(error)"])
                    }
                    if !claimed.isEmpty { process(claimed) }
                } catch {
                    logger.error("cannot claim inputs: \(error)", metadata: ["error": "\(error)"])
                }
            }
        }
        // Stopping: what is still unsettled is judged as it is now.
        if !unsettled.isEmpty { process(unsettled, settled: true) }
        unsettled.removeAll()
    }

    private func processInBatches(_ inputs: [ClaimedInput]) {
        for start in stride(from: 0, to: inputs.count, by: batchLimit) {
            process(Array(inputs[start..<min(start + batchLimit, inputs.count)]))
        }
    }

    /// Whether the claimed file was modified less than `settleMicroseconds` ago.
    static func writtenRecently(_ input: ClaimedInput) -> Bool {
        guard let info = linkStatus(input.path) else { return false }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let age = (Int64(now.tv_sec) - Int64(info.st_mtim.tv_sec)) * 1_000_000 + (Int64(now.tv_nsec) - Int64(info.st_mtim.tv_nsec)) / 1000
        return age < settleMicroseconds
    }

    private func rescan() {
        counters.inboxRescanned()
        do {
            for raw in try directoryEntryBytes(spool.directories.inbox).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                guard let name = String(validating: raw, as: UTF8.self) else {
                    // Renamed to its escaped name, which arrives as any rename into the inbox does.
                    if let escaped = escapedName(raw), InboxNames.isInput(escaped) {
                        InboxNames.escape(raw, in: spool.directories.inbox, logger: logger)
                    }
                    continue
                }
                guard !InboxNames.isInput(name) || queue.offer(name) else { return }
            }
        } catch {
            logger.error("cannot scan the inbox: \(error)", metadata: ["error": "\(error)"])
        }
    }

    /// Classifies claimed inputs, writes their reports under temporary names (creating files
    /// here overlaps the writer's flushes of the previous batch) and hands them to the writer.
    /// An input that does not decode and was written to moments ago waits (`unsettled`) unless
    /// `settled`.
    func process(_ claimed: [ClaimedInput], settled: Bool = false) {
        let started = monotonicMicroseconds()
        let model = models.current
        let settings = settings.current
        let decoder = settings.decoder
        var decoded: [Result<DecodedInput, any Error>] = claimed.map { input in
            Result { try decoder.decode(path: input.path, displayName: input.name) }
        }
        let successes = zip(claimed, decoded).compactMap { input, result in (try? result.get()).map { (input.name, $0) } }
        let classifying = monotonicMicroseconds()
        var verdicts = classifier.classify(successes, with: model, minimumConfidence: settings.minimumConfidence).makeIterator()
        if !successes.isEmpty { counters.forwardPass(seconds: Double(monotonicMicroseconds() - classifying) / 1e6) }
        var classified: [ClassifiedInput] = []
        for (input, result) in zip(claimed, decoded) {
            switch result {
            case .success(let decodedInput):
                do {
                    let verdict = try verdicts.next()!.get()
                    classified.append(.classified(input, csv: verdict.csv(source: input.name), predictions: verdict.predictions,
                                                  byteCount: decodedInput.byteCount))
                } catch {
                    classified.append(.rejected(input, because: error))
                }
            case .failure(let error):
                if !settled && Self.writtenRecently(input) {
                    unsettled.append(input)
                    continue
                }
                classified.append(.rejected(input, because: error))
            }
        }
        decoded.removeAll()
        guard !classified.isEmpty else { return }
        // Waiting for the disk (writing reports ahead, or for the writer on a full or refusing
        // disk) is not being stuck: the watchdog's clock stops here, so a long disk episode
        // does not get the daemon killed.
        lock.withLock { workStarted = nil }
        spool.prepare(classified.map { ($0.input, $0.outcome) })
        writer.submit(ClassifiedBatch(inputs: classified, modelID: model.id, startedMicroseconds: started))
        spool.prepareClaimDirectory()
    }
}
