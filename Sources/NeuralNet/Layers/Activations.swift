import Tensor

/// An elementwise nonlinearity.
public enum ActivationFunction: String, Sendable {
    /// y = max(0, x)
    case relu
    /// y = tanh(x)
    case tanh
}

/// Applies an activation function to every value; the shape is unchanged.
public struct Activation: Layer {
    public let function: ActivationFunction
    public let inputShape: FeatureShape

    public init(_ function: ActivationFunction, input: FeatureShape) {
        self.function = function
        inputShape = input
    }

    public var outputShape: FeatureShape { inputShape }
    public var specification: String { function.rawValue }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>,
        _ statistics: UnsafeMutablePointer<Float>, mode: ForwardMode, batch: Int
    ) {
        switch function {
        case .relu: reluForward(y, x, count: inputShape.count * batch)
        case .tanh: tanhForward(y, x, count: inputShape.count * batch)
        }
    }

    public func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        guard let dx else { return }
        switch function {
        case .relu: reluBackward(dx, dy, y, count: inputShape.count * batch)
        case .tanh: tanhBackward(dx, dy, y, count: inputShape.count * batch)
        }
    }
}

/// Marks the end of the image-shaped layers: (B, H, W, C) activations already are per-image
/// rows (B, H·W·C), so this only relabels the shape and copies.
public struct Flatten: Layer {
    public let inputShape: FeatureShape
    public init(input: FeatureShape) { inputShape = input }
    public var outputShape: FeatureShape { FeatureShape(channels: inputShape.count) }
    public var specification: String { "flatten" }
    public var onlyReshapes: Bool { true }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>,
        _ statistics: UnsafeMutablePointer<Float>, mode: ForwardMode, batch: Int
    ) {
        y.update(from: x, count: inputShape.count * batch)
    }

    public func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        guard let dx else { return }
        for i in 0..<inputShape.count * batch { dx[i] += dy[i] }
    }
}
