/// Observations counted into buckets of fixed upper bounds, as Prometheus histograms are:
/// quantiles are computed by whoever scrapes them, over any window, from the counts alone.
public struct Histogram: Sendable, Equatable {
    /// Ascending, finite; the last bucket, +Inf, is implied.
    public let upperBounds: [Double]
    /// Per bucket, not cumulative: `counts[i]` observations were at most `upperBounds[i]` and
    /// above the bound before it; the last entry counts those above every bound.
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0

    public init(upperBounds: [Double]) {
        precondition(!upperBounds.isEmpty && zip(upperBounds, upperBounds.dropFirst()).allSatisfy { $0 < $1 }
                     && upperBounds.allSatisfy(\.isFinite), "a histogram's bounds must be finite and ascending")
        self.upperBounds = upperBounds
        counts = Array(repeating: 0, count: upperBounds.count + 1)
    }

    public var count: UInt64 { counts.reduce(0, +) }

    /// A value goes into the first bucket whose bound is at least it (Prometheus's `le`).
    public mutating func observe(_ value: Double) {
        let bucket = upperBounds.firstIndex { value <= $0 } ?? upperBounds.count
        counts[bucket] += 1
        sum += value
    }

    /// (upper bound, observations at most it), the last bound being +Inf: what `_bucket` says.
    public var cumulativeBuckets: [(upperBound: Double, count: UInt64)] {
        var running: UInt64 = 0
        return zip(upperBounds + [.infinity], counts).map { bound, count in
            running += count
            return (bound, running)
        }
    }
}
