import Tensor

/// y = max(0, x), elementwise.
public struct ReLU: Layer {
    public let inputShape: FeatureShape
    public init(input: FeatureShape) { inputShape = input }
    public var outputShape: FeatureShape { inputShape }
    public var specification: String { "relu" }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        reluForward(y, x, count: inputShape.count * batch)
    }

    public func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        guard let dx else { return }
        reluBackward(dx, dy, y, count: inputShape.count * batch)
    }
}

/// y = tanh(x), elementwise.
public struct Tanh: Layer {
    public let inputShape: FeatureShape
    public init(input: FeatureShape) { inputShape = input }
    public var outputShape: FeatureShape { inputShape }
    public var specification: String { "tanh" }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        tanhForward(y, x, count: inputShape.count * batch)
    }

    public func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        guard let dx else { return }
        tanhBackward(dx, dy, y, count: inputShape.count * batch)
    }
}

/// Marks the end of the image-shaped layers: (B, H, W, C) activations already are per-image
/// rows (B, H·W·C), so this only relabels the shape and copies.
public struct Flatten: Layer {
    public let inputShape: FeatureShape
    public init(input: FeatureShape) { inputShape = input }
    public var outputShape: FeatureShape { FeatureShape(channels: inputShape.count) }
    public var specification: String { "flatten" }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
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
