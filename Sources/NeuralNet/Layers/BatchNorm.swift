import Tensor

/// Batch normalisation per channel (Ioffe & Szegedy): in training, each channel is normalised
/// with the batch's mean and variance over all images and pixels and running averages are kept;
/// in inference, the running averages are used. Parameters: γ (C), then β (C).
/// Statistics: running mean (C), then running variance (C).
public struct BatchNorm: Layer {
    public let inputShape: FeatureShape
    public static let epsilon: Float = 1e-5
    public static let momentum: Float = 0.1

    public init(input: FeatureShape) { inputShape = input }

    public var outputShape: FeatureShape { inputShape }
    public var specification: String { "batchnorm" }
    var channels: Int { inputShape.channels }

    public var parameterTensors: [ParameterTensor] {
        [ParameterTensor(name: "gamma", shape: [channels]), ParameterTensor(name: "beta", shape: [channels])]
    }

    public var statisticTensors: [(tensor: ParameterTensor, initialValue: Float)] {
        [(ParameterTensor(name: "running_mean", shape: [channels]), 0),
         (ParameterTensor(name: "running_variance", shape: [channels]), 1)]
    }

    /// x̂ for every value, then 1/√(var + ε) per channel.
    public func cacheCount(batch: Int) -> Int { inputShape.count * batch + channels }

    public func initialize(_ parameters: UnsafeMutableBufferPointer<Float>, _ random: inout SeededRandom) {
        for c in 0..<channels {
            parameters[c] = 1
            parameters[channels + c] = 0
        }
    }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>,
        _ statistics: UnsafeMutablePointer<Float>, mode: ForwardMode, batch: Int
    ) {
        let rows = batch * inputShape.height * inputShape.width
        switch mode {
        case .training:
            batchNormTrainingForward(y, cache, cache + inputShape.count * batch, statistics, statistics + channels,
                                     x, parameters, parameters + channels,
                                     rows: rows, channels: channels, epsilon: Self.epsilon, momentum: Self.momentum)
        case .inference:
            batchNormInferenceForward(y, x, parameters, parameters + channels, statistics, statistics + channels,
                                      rows: rows, channels: channels, epsilon: Self.epsilon)
        }
    }

    public func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        batchNormBackward(dx, dparameters, dparameters + channels, dy, cache, cache + inputShape.count * batch,
                          parameters, rows: batch * inputShape.height * inputShape.width, channels: channels)
    }
}
