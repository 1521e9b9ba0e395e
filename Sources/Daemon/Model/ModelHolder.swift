import Classification
import SystemResources

/// The model in use. Readers take a snapshot and classify a whole input with it, so a swap
/// never splits one input between two models.
public final class ModelHolder: @unchecked Sendable {
    private let lock = ConditionLock()
    private var model: LoadedModel

    public init(_ model: LoadedModel) { self.model = model }

    public var current: LoadedModel { lock.withLock { model } }

    public func replace(with newModel: LoadedModel) { lock.withLock { model = newModel } }
}

/// Why a reload kept the model in use.
public struct ReloadFailure: Error, CustomStringConvertible {
    public let kept: String
    public let reason: String

    public var description: String { "reload failed, kept model \(kept): \(reason)" }
}
