import Classification
import SystemResources

/// The settings a reload may change while the daemon runs (`systemctl reload`, SIGHUP): each
/// piece reads them when it uses them, so a new value holds from the next input, request or
/// retraining on. The others (directories, socket, weights, metrics file) hold until a restart.
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
        /// Members of this group may use the control socket, besides root and the daemon's user.
        public var socketGroup: UInt32?

        public init(minimumConfidence: Float? = nil, limits: InputLimits = InputLimits(), minimumAccuracy: Double = 0.8,
                    maxDatasetImages: Int = 200_000, metricsIntervalSeconds: Double = 5, socketGroup: UInt32? = nil) {
            self.minimumConfidence = minimumConfidence
            self.limits = limits
            self.minimumAccuracy = minimumAccuracy
            self.maxDatasetImages = maxDatasetImages
            self.metricsIntervalSeconds = metricsIntervalSeconds
            self.socketGroup = socketGroup
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
