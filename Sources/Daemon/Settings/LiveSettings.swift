import Classification
import SystemResources

/// The settings a reload may change while the daemon runs (`systemctl reload`, SIGHUP): each
/// piece reads them when it uses them, so a new value holds from the next input, request or
/// retraining on. The others (directories, socket, group, metrics file) hold until a restart.
public final class LiveSettings: @unchecked Sendable {
    public struct Values: Sendable, Equatable {
        /// Images whose top probability is below this get no label (status uncertain); nil: off.
        public var minimumConfidence: Float?
        public var limits: InputLimits
        /// A retrained model must reach this accuracy on its validation set to be swapped in.
        public var minimumAccuracy: Double
        public var maxDatasetImages: Int
        /// How often the metrics file is brought up to date.
        public var metricsIntervalSeconds: Double

        public init(minimumConfidence: Float? = nil, limits: InputLimits = InputLimits(), minimumAccuracy: Double = 0.8,
                    maxDatasetImages: Int = 200_000, metricsIntervalSeconds: Double = 5) {
            self.minimumConfidence = minimumConfidence
            self.limits = limits
            self.minimumAccuracy = minimumAccuracy
            self.maxDatasetImages = maxDatasetImages
            self.metricsIntervalSeconds = metricsIntervalSeconds
        }

        /// An input decoder with these limits.
        public var decoder: InputDecoder { InputDecoder(limits: limits) }
    }

    private let lock = ConditionLock()
    private var values: Values

    public init(_ values: Values = Values()) { self.values = values }

    public var current: Values { lock.withLock { values } }

    func replace(with new: Values) { lock.withLock { values = new } }
}
