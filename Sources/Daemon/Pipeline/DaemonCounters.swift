import SystemResources

/// What the daemon has done since it started, for `status`: files and images, and the
/// claim-to-commit latency of the most recent files.
public final class DaemonCounters: @unchecked Sendable {
    private let lock = ConditionLock()
    private var done = 0
    private var failed = 0
    private var images = 0
    private var latencies: [Double] = []
    private var nextLatency = 0
    static let latencyWindow = 1024

    public init() {}

    func record(classified: Bool, images count: Int, milliseconds: Double) {
        lock.withLock {
            if classified { done += 1; images += count } else { failed += 1 }
            if latencies.count < Self.latencyWindow {
                latencies.append(milliseconds)
            } else {
                latencies[nextLatency] = milliseconds
                nextLatency = (nextLatency + 1) % Self.latencyWindow
            }
        }
    }

    public var filesDone: Int { lock.withLock { done } }
    public var filesFailed: Int { lock.withLock { failed } }
    public var imagesClassified: Int { lock.withLock { images } }

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
