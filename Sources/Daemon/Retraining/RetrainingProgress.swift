import NeuralNet

/// Where a retraining stands: what `status` reports of the running or last one.
public struct RetrainingProgress: Sendable, Equatable {
    public enum Phase: String, Sendable, CaseIterable {
        case loading, training, validating, finished, refused, failed
    }

    public var phase: Phase
    public var dataset: String
    public var kind: ModelKind
    public var epoch: Int
    public var epochs: Int
    /// The mean loss of the epoch so far; nil before the first batch and when it is not finite.
    public var loss: Double?
    public var accuracy: Double?
    public var etaSeconds: Double?
    /// Of the training's batches, the share done (0...1).
    public var fractionDone = 0.0
    /// The outcome in words, once there is one.
    public var message: String?
    /// The new model's id, once trained.
    public var modelID: String?

    public var isRunning: Bool {
        switch phase {
        case .loading, .training, .validating: return true
        case .finished, .refused, .failed: return false
        }
    }
}
