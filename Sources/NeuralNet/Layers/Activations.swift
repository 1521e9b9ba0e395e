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

/// Turns channel-major (C, B, H, W) activations into per-image rows (B, C·H·W) for dense layers.
public struct Flatten: Layer {
    public let inputShape: FeatureShape
    public init(input: FeatureShape) { inputShape = input }
    public var outputShape: FeatureShape { FeatureShape(channels: inputShape.count) }
    public var specification: String { "flatten" }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        let plane = inputShape.height * inputShape.width, channels = inputShape.channels
        for c in 0..<channels {
            for b in 0..<batch {
                (y + (b * channels + c) * plane).update(from: x + (c * batch + b) * plane, count: plane)
            }
        }
    }

    public func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        guard let dx else { return }
        let plane = inputShape.height * inputShape.width, channels = inputShape.channels
        for c in 0..<channels {
            for b in 0..<batch {
                let target = dx + (c * batch + b) * plane, source = dy + (b * channels + c) * plane
                for i in 0..<plane { target[i] += source[i] }
            }
        }
    }
}
