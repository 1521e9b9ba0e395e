#if canImport(Glibc)
import Glibc
import Classification
import InputSpool
import Logging
import SystemResources
#endif

/// One classified input waiting to be published.
public struct ClassifiedInput: Sendable {
    public let input: ClaimedInput
    public let outcome: Outcome
    /// What was said of each image (none for a rejected input).
    public let predictions: [Prediction]
    /// Why it was rejected, in a word (nil when classified).
    public let failure: FailureClass?
    /// The size of the file that was classified (0 for a rejected input).
    public let byteCount: Int

    static func classified(_ input: ClaimedInput, csv: [UInt8], predictions: [Prediction], byteCount: Int) -> ClassifiedInput {
        ClassifiedInput(input: input, outcome: .classified(csv: csv), predictions: predictions, failure: nil, byteCount: byteCount)
    }

    static func rejected(_ input: ClaimedInput, because error: any Error) -> ClassifiedInput {
        ClassifiedInput(input: input, outcome: .failed(reason: "\(error)"), predictions: [], failure: FailureClass(error), byteCount: 0)
    }
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
///
/// When the disk refuses a commit (full, read-only, removed, permissions), the batch is
/// committed one input at a time, so that what the disk takes gets through; each input it
/// refuses stays claimed and is set aside, retried with growing pauses while later batches go
/// on — a read-only failed/ does not hold up good inputs. Once `setAsideLimit` inputs wait,
/// no new batch is taken until some get through. Each episode is logged once.
public final class OutboxWriter: Service, @unchecked Sendable {
    public let threadName = "outbox-writer"
    let spool: Spool
    let logger: Logger
    let counters: DaemonCounters
    let capacity: Int
    static let setAsideLimit = 256
    private let lock = ConditionLock()
    private var pending: [ClassifiedBatch] = []
    private var closed = false
    /// Set when the daemon stops: a refused commit is not retried (its inputs stay claimed
    /// for the next start), so that a dead disk cannot hold the shutdown.
    private var stopping = false
    // Writer thread only: refused inputs, each as a batch of one; when to retry them next and
    // the pause after that; whether an episode of refusals is under way.
    private var setAside: [ClassifiedBatch] = []
    private var nextRetryMicroseconds: Int64 = 0
    private var retryPauseMicroseconds: Int64 = 100_000
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
    public func stop() {
        lock.withLock {
            closed = true
            lock.broadcast()
        }
    }

    /// The daemon is stopping: give up on commits the disk refuses.
    public func shutdownBegins() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
    }

    private var isStopping: Bool { lock.withLock { stopping || closed } }

    private enum Work {
        case batch(ClassifiedBatch)
        case retry
        case finished
    }

    /// Writes batches until closed and drained; when idle for a second, lets the spool
    /// settle what the last batches left behind. Inputs still set aside then stay claimed,
    /// for the next start to finish.
    public func run() {
        loop: while true {
            switch next() {
            case .batch(let batch):
                write(batch)
                lock.withLock {
                    pending.removeFirst()
                    lock.broadcast()
                }
            case .retry:
                retrySetAside()
            case .finished:
                break loop
            }
        }
        spool.settle()
    }

    /// The oldest batch (left in `pending` until written, so that `submit` counts it), or a
    /// retry of what was set aside when one is due.
    private func next() -> Work {
        while true {
            let stoppingNow = isStopping
            if !setAside.isEmpty && !stoppingNow && monotonicMicroseconds() >= nextRetryMicroseconds { return .retry }
            let takesBatches = setAside.count < Self.setAsideLimit || stoppingNow
            let untilRetry = setAside.isEmpty || stoppingNow ? nil : Double(nextRetryMicroseconds - monotonicMicroseconds()) / 1e6
            let (work, idle) = lock.withLock { () -> (Work?, Bool) in
                if (pending.isEmpty || !takesBatches) && !closed {
                    if let untilRetry {
                        lock.wait(seconds: max(0.001, untilRetry))
                    } else if spool.needsSettling {
                        lock.wait(seconds: 1)
                    } else {
                        lock.wait()
                    }
                }
                if closed && pending.isEmpty { return (.finished, false) }
                return (takesBatches ? pending.first.map(Work.batch) : nil, pending.isEmpty)
            }
            if let work { return work }
            if idle && setAside.isEmpty && spool.needsSettling { spool.settle() }
        }
    }

    private func write(_ batch: ClassifiedBatch) {
        if let committed = attempt(batch) {
            log(batch, committed)
        } else {
            for input in batch.inputs {
                let single = ClassifiedBatch(inputs: [input], modelID: batch.modelID, startedMicroseconds: batch.startedMicroseconds)
                if let committed = attempt(single) {
                    log(single, committed)
                } else {
                    if setAside.isEmpty { nextRetryMicroseconds = monotonicMicroseconds() + retryPauseMicroseconds }
                    setAside.append(single)
                }
            }
        }
        endEpisodeIfClear()
    }

    private func retrySetAside() {
        spool.recreateDirectories()
        var refused: [ClassifiedBatch] = []
        for single in setAside {
            if let committed = attempt(single) { log(single, committed) } else { refused.append(single) }
        }
        setAside = refused
        retryPauseMicroseconds = refused.isEmpty ? 100_000 : min(retryPauseMicroseconds * 2, 5_000_000)
        nextRetryMicroseconds = monotonicMicroseconds() + retryPauseMicroseconds
        endEpisodeIfClear()
    }

    /// One commit; the first refusal of an episode is logged.
    private func attempt(_ batch: ClassifiedBatch) -> [Committed]? {
        do {
            return try spool.commit(batch.inputs.map { ($0.input, $0.outcome) })
        } catch {
            counters.diskRetries(setAside: setAside.count, refusals: 1)
            if !failing {
                failing = true
                logger.error("cannot write results, keeping \(batch.inputs.count) input(s) claimed and retrying: \(error)",
                             metadata: ["error": "\(error)"])
            }
            return nil
        }
    }

    /// An episode ends when nothing refused is left waiting.
    private func endEpisodeIfClear() {
        counters.diskRetries(setAside: setAside.count, refusals: 0)
        if failing && setAside.isEmpty {
            failing = false
            logger.notice("results can be written again; carrying on")
        }
    }

    /// Logs each outcome and counts it.
    private func log(_ batch: ClassifiedBatch, _ committed: [Committed]) {
        let duration = monotonicMicroseconds() - batch.startedMicroseconds
        for (entry, classified) in zip(committed, batch.inputs) {
            guard let report = entry.report else {
                counters.takenOver()
                logger.warning("not answering \(entry.input.name): another instance took over its claim while this one's lease had lapsed",
                               metadata: ["file": "\(entry.input.name)"])
                continue
            }
            let predictions = classified.predictions
            counters.committed(failure: classified.failure, statuses: predictions.map(\.status), bytes: classified.byteCount,
                               seconds: Double(duration) / 1e6)
            switch classified.outcome {
            case .classified:
                var metadata: Logger.Metadata = [
                    "file": "\(entry.input.name)", "images": "\(predictions.count)", "duration_us": "\(duration)",
                    "model": "\(batch.modelID)", "output": "\(report)",
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
                    "file": "\(entry.input.name)", "error": "\(reason)", "duration_us": "\(duration)", "output": "\(report)",
                ])
            }
        }
    }
}
