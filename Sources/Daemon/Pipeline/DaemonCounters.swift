import Classification
import Formats
import Metrics
import SystemResources

/// What the daemon has done since it started, for `status` and the metrics: files by outcome,
/// images by status, timings, and the state of the pieces that can fall behind (claims, the
/// disk). Every piece records here; readers take a `Snapshot`.
public final class DaemonCounters: @unchecked Sendable {
    private let lock = ConditionLock()
    private var snapshot = Snapshot()
    /// How many records have been made: a waiter's mark of what it has seen.
    private(set) var changes: UInt64 = 0
    private var latencies: [Double] = []
    private var nextLatency = 0
    static let latencyWindow = 1024

    /// Claim to commit: from a fraction of a millisecond (tmpfs) to seconds (a large IDX batch, a slow disk).
    public static let fileLatencyBounds = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30]
    /// One batch's forward passes: from one digit (tens of µs) to a 100,000-image IDX batch.
    public static let forwardPassBounds = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30]

    public struct Snapshot: Sendable {
        public var filesClassified = 0
        public var filesFailed: [FailureClass: Int] = Dictionary(uniqueKeysWithValues: FailureClass.allCases.map { ($0, 0) })
        public var images: [Prediction.Status: Int] = Dictionary(uniqueKeysWithValues: Prediction.Status.allCases.map { ($0, 0) })
        public var inputBytes = 0
        public var fileLatency = Histogram(upperBounds: DaemonCounters.fileLatencyBounds)
        public var forwardPass = Histogram(upperBounds: DaemonCounters.forwardPassBounds)
        /// Claimed and not yet committed: in the classifier's hands, the writer's, or set aside.
        public var claimedInputs = 0
        /// Refused by the disk and waiting for a retry.
        public var setAsideInputs = 0
        public var commitRefusals = 0
        public var inotifyOverflows = 0
        /// Inputs taken over from instances whose lease lapsed, and inputs of this one taken over by another.
        public var claimsAdopted = 0
        public var claimsLost = 0
        public var inboxRescans = 0

        public var filesFailedInAll: Int { filesFailed.values.reduce(0, +) }
        public var imagesClassified: Int { images.values.reduce(0, +) }
    }

    public init() {}

    public var current: Snapshot { lock.withLock { snapshot } }

    /// An input's outcome was published: its images' statuses (none when it failed), the
    /// bytes read, and the seconds since it was claimed.
    func committed(failure: FailureClass?, statuses: [Prediction.Status], bytes: Int, seconds: Double) {
        record { snapshot in
            if let failure { snapshot.filesFailed[failure, default: 0] += 1 } else { snapshot.filesClassified += 1 }
            for status in statuses { snapshot.images[status, default: 0] += 1 }
            snapshot.inputBytes += bytes
            snapshot.claimedInputs -= 1
            snapshot.fileLatency.observe(seconds)
            let milliseconds = seconds * 1000
            if latencies.count < Self.latencyWindow {
                latencies.append(milliseconds)
            } else {
                latencies[nextLatency] = milliseconds
                nextLatency = (nextLatency + 1) % Self.latencyWindow
            }
        }
    }

    func claimed(_ count: Int) { record { $0.claimedInputs += count } }

    func adopted(_ count: Int) {
        record { snapshot in
            snapshot.claimedInputs += count
            snapshot.claimsAdopted += count
        }
    }

    func takenOver() {
        record { snapshot in
            snapshot.claimedInputs -= 1
            snapshot.claimsLost += 1
        }
    }

    func forwardPass(seconds: Double) { record { $0.forwardPass.observe(seconds) } }

    /// The writer's retry state: how many inputs the disk refused and wait, after `refusals` more refused commits.
    func diskRetries(setAside: Int, refusals: Int) {
        record { snapshot in
            snapshot.setAsideInputs = setAside
            snapshot.commitRefusals += refusals
        }
    }

    func inotifyOverflowed() { record { $0.inotifyOverflows += 1 } }

    func inboxRescanned() { record { $0.inboxRescans += 1 } }

    private func record(_ change: (inout Snapshot) -> Void) {
        lock.withLock {
            change(&snapshot)
            changes &+= 1
            lock.broadcast()
        }
    }

    /// Waits until a record is made after `seen` (a value of `changes`), unless `stopping`
    /// (asked with the counters' lock held, so a `wakeWaiters` that follows it is not missed);
    /// returns `changes` then.
    func waitForChange(after seen: UInt64, unless stopping: () -> Bool) -> UInt64 {
        lock.withLock {
            while changes == seen && !stopping() { lock.wait() }
            return changes
        }
    }

    func wakeWaiters() { lock.withLock { lock.broadcast() } }

    /// Percentiles over the last files (nil before the first).
    public var latency: Latency? {
        let sorted = lock.withLock { latencies }.sorted()
        guard !sorted.isEmpty else { return nil }
        func at(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] }
        return Latency(p50: at(0.5), p90: at(0.9), p99: at(0.99), samples: sorted.count)
    }
}

/// Claim-to-commit time of the most recent files, in milliseconds.
public struct Latency: Sendable, Equatable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var samples: Int
}

/// Why an input failed, in a word a dashboard can group by (its `.error` file says the rest):
/// the kind of the decoder's refusal, or that the model gave no usable answer (probabilities not finite).
public enum FailureClass: Hashable, Sendable, CaseIterable {
    case refused(FormatError.Kind)
    case unclassifiable

    public static var allCases: [FailureClass] { FormatError.Kind.allCases.map(refused) + [.unclassifiable] }

    public var label: String {
        switch self {
        case .refused(let kind): kind.rawValue
        case .unclassifiable: "unclassifiable"
        }
    }

    init(_ error: any Error) {
        self = (error as? FormatError).map { .refused($0.kind) } ?? .unclassifiable
    }
}
