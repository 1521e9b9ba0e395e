import Tensor

/// 2×2 max pooling, stride 2, on (B, H, W, C) activations.
public struct MaxPool: Layer {
    public let inputShape: FeatureShape

    public init(input: FeatureShape) { inputShape = input }

    public var outputShape: FeatureShape {
        FeatureShape(channels: inputShape.channels, height: inputShape.height / 2, width: inputShape.width / 2)
    }

    public var specification: String { "maxpool" }

    /// One Int32 winner index per output, stored in Float-sized slots.
    public func cacheCount(batch: Int) -> Int { outputShape.count * batch }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>,
        _ statistics: UnsafeMutablePointer<Float>, mode: ForwardMode, batch: Int
    ) {
        let count = cacheCount(batch: batch)
        cache.withMemoryRebound(to: Int32.self, capacity: count) { winners in
            // Only backward reads the winners.
            maxPoolForward(y, mode == .training ? winners : nil, x, images: batch, height: inputShape.height,
                           width: inputShape.width, channels: inputShape.channels)
        }
    }

    public func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        guard let dx else { return }
        let count = cacheCount(batch: batch)
        cache.withMemoryRebound(to: Int32.self, capacity: count) { winners in
            maxPoolBackward(dx, dy, winners, outputCount: count)
        }
    }
}
