import Tensor

/// Per-image shape of an activation: channels × height × width (a flat vector is c × 1 × 1).
public struct FeatureShape: Equatable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(channels: Int, height: Int = 1, width: Int = 1) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var count: Int { channels * height * width }
    public var description: String { height == 1 && width == 1 ? "\(channels)" : "\(channels)x\(height)x\(width)" }
}

/// Whether a forward pass trains (batch statistics, running averages updated) or infers.
public enum ForwardMode: Sendable {
    case training
    case inference
}

/// A named view into the flat parameter buffer: what the checkpoint stores.
public struct ParameterTensor: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

/// One differentiable step of a network. Layers are immutable descriptions: parameters live in
/// the network's flat buffer and per-batch state in a workspace, so one network can serve any
/// number of threads.
///
/// Argument order everywhere: outputs, then inputs, then weights, then dimensions.
/// `backward` takes the input and parameter gradients first, then the output gradient, then
/// what forward computed, and **accumulates** into both gradients.
public protocol Layer: Sendable {
    var inputShape: FeatureShape { get }
    var outputShape: FeatureShape { get }
    /// The layer's parameter tensors, in the order they sit in the flat buffer.
    var parameterTensors: [ParameterTensor] { get }
    /// State the layer keeps that training does not differentiate (running averages), in the
    /// order it sits in the network's statistics buffer, with initial values.
    var statisticTensors: [(tensor: ParameterTensor, initialValue: Float)] { get }
    /// Floats this layer keeps from forward to backward for a batch (im2col matrix, pool winners).
    func cacheCount(batch: Int) -> Int
    /// Fills this layer's slice of the parameter buffer with initial values.
    func initialize(_ parameters: UnsafeMutableBufferPointer<Float>, _ random: inout SeededRandom)
    /// `statistics` are the layer's non-trained state (batch-norm running averages): training
    /// updates them, inference reads them.
    func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>,
        _ statistics: UnsafeMutablePointer<Float>, mode: ForwardMode, batch: Int)
    /// `dx` is nil when no one needs the input gradient (the first layer).
    func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int)
    /// The layer as written in an architecture description (see `Architecture`).
    var specification: String { get }
    /// True when the output is the input read with another shape (same values, same order):
    /// a workspace then lets the two share memory and skips the layer's copies.
    var onlyReshapes: Bool { get }
}

extension Layer {
    public var parameterCount: Int { parameterTensors.reduce(0) { $0 + $1.count } }
    public var parameterTensors: [ParameterTensor] { [] }
    public var statisticTensors: [(tensor: ParameterTensor, initialValue: Float)] { [] }
    public var statisticCount: Int { statisticTensors.reduce(0) { $0 + $1.tensor.count } }
    public func cacheCount(batch: Int) -> Int { 0 }
    public var onlyReshapes: Bool { false }
    public func initialize(_ parameters: UnsafeMutableBufferPointer<Float>, _ random: inout SeededRandom) {}
}
