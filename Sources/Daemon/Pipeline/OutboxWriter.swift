#if canImport(Glibc)
import Glibc
#endif
import Logging

/// One classified input waiting to be published.
public struct ClassifiedInput: Sendable {
    public let input: ClaimedInput
    public let outcome: Outcome
    /// What was said of each image (none for a rejected input).
    public let predictions: [Prediction]
}

/// A batch of inputs classified with one model, and when its work started.
public struct ClassifiedBatch: Sendable {
    public let inputs: [ClassifiedInput]
    public let modelID: String
    public let startedMicroseconds: Int64
}

/// Publishes classified batches through the spool on its own thread, so that the disk's
/// flushes overlap the next batch's decoding and forward pass. At most `capacity` batches
/// wait; the worker blocks beyond that, which bounds the memory of results not yet written.
/// Each outcome is logged once it is committed.
public final class OutboxWriter: @unchecked Sendable {
    let spool: Spool
    let logger: Logger
    let counters: DaemonCounters
    let capacity: Int
    private let lock = ConditionLock()
    private var pending: [ClassifiedBatch] = []
    private var closed = false
    /// Set when the daemon stops: a refused commit is not retried (its inputs stay claimed
    /// for the next start), so that a dead disk cannot hold the shutdown.
    private var stopping = false
    /// Set from a refused commit to the next one that succeeds (writer thread only).
    private var failing = false

    public init(spool: Spool, logger: Logger, counters: DaemonCounters, capacity: Int = 2) {
        self.spool = spool
        self.logger = logger
        self.counters = counters
        self.capacity = capacity
    }

    /// Hands a batch over; waits while `capacity` batches are already waiting.
    public func submit(_ batch: ClassifiedBatch) {
        lock.withLock {
            while pending.count >= capacity && !closed { lock.wait() }
            pending.append(batch)
            lock.broadcast()
        }
    }

    /// No more batches will come: `run` returns once the waiting ones are written.
    public func close() {
        lock.withLock {
            closed = true
            lock.broadcast()
        }
    }

    /// The daemon is stopping: give up on commits the disk refuses.
    public func stopRetrying() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
    }

    private var isStopping: Bool { lock.withLock { stopping || closed } }

    /// Writes batches until closed and drained; when idle for a second, lets the spool
    /// settle what the last batches left behind.
    public func run() {
        while let batch = next() {
            if let committed = commitRetrying(batch) { log(batch, committed) }
            lock.withLock {
                pending.removeFirst()
                lock.broadcast()
            }
        }
        spool.settle()
    }

    /// The oldest batch, left in `pending` until written so that `submit` counts it.
    private func next() -> ClassifiedBatch? {
        while true {
            let (batch, idle) = lock.withLock { () -> (ClassifiedBatch?, Bool) in
                if pending.isEmpty && !closed {
                    if spool.needsSettling { lock.wait(seconds: 1) } else { lock.wait() }
                }
                return (pending.first, pending.isEmpty && !closed)
            }
            if !idle { return batch }
            if spool.needsSettling { spool.settle() }
        }
    }

    /// Commits, and when the disk refuses (full, read-only, removed, permissions), keeps the
    /// inputs claimed and tries again with growing pauses, one input at a time so that what
    /// fits gets through; logs once per episode. Nil when the daemon stops first: the claims
    /// are finished at the next start.
    private func commitRetrying(_ batch: ClassifiedBatch) -> [Committed]? {
        let outcomes = batch.inputs.map { ($0.input, $0.outcome) }
        if let committed = attempt(outcomes) { return committed }
        var committed: [Committed] = []
        for outcome in outcomes {
            var pause: useconds_t = 100_000
            while true {
                if isStopping { return nil }
                usleep(pause)
                pause = min(pause * 2, 5_000_000)
                spool.recreateDirectories()
                if let one = attempt([outcome]) {
                    committed += one
                    break
                }
            }
        }
        return committed
    }

    /// One commit; an error starts (and is logged for) a failure episode, a success ends one.
    private func attempt(_ outcomes: [(ClaimedInput, Outcome)]) -> [Committed]? {
        do {
            let committed = try spool.commit(outcomes)
            if failing {
                failing = false
                logger.notice("results can be written again; carrying on")
            }
            return committed
        } catch {
            if !failing {
                failing = true
                logger.error("cannot write results, keeping \(outcomes.count) input(s) claimed and retrying: \(error)",
                             metadata: ["error": "\(error)"])
            }
            return nil
        }
    }

    /// Logs each outcome and counts it.
    private func log(_ batch: ClassifiedBatch, _ committed: [Committed]) {
        let duration = monotonicMicroseconds() - batch.startedMicroseconds
        for (entry, classified) in zip(committed, batch.inputs) {
            let predictions = classified.predictions
            if case .classified = classified.outcome {
                counters.record(classified: true, images: predictions.count, milliseconds: Double(duration) / 1000)
            } else {
                counters.record(classified: false, images: 0, milliseconds: Double(duration) / 1000)
            }
            switch classified.outcome {
            case .classified:
                var metadata: Logger.Metadata = [
                    "file": "\(entry.input.name)", "images": "\(predictions.count)", "duration_us": "\(duration)",
                    "model": "\(batch.modelID)", "output": "\(entry.report)",
                ]
                let summary: String
                if predictions.count == 1, let prediction = predictions.first {
                    metadata["status"] = "\(prediction.status.rawValue)"
                    if let label = prediction.label { metadata["label"] = "\(label)" }
                    summary = prediction.label.map { "digit \($0)" } ?? prediction.status.rawValue
                } else {
                    let unanswered = predictions.filter { $0.status != .ok }.count
                    metadata["unanswered"] = "\(unanswered)"
                    summary = "\(predictions.count) images" + (unanswered > 0 ? ", \(unanswered) uncertain or empty" : "")
                }
                logger.info("classified \(entry.input.name): \(summary)", metadata: metadata)
            case .failed(let reason):
                logger.warning("rejected \(reason)", metadata: [
                    "file": "\(entry.input.name)", "error": "\(reason)", "duration_us": "\(duration)", "output": "\(entry.report)",
                ])
            }
        }
    }
}
