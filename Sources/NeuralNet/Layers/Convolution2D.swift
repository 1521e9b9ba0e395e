import Tensor

/// Square-kernel convolution, stride 1, zero padding. x is (B, H, W, C) and y is (B, OH, OW, OC),
/// channels last (see `Tensor/Convolution.swift`). Parameters: weight (OC, K, K, C), then bias (OC).
public struct Convolution2D: Layer {
    public let geometry: ConvolutionShape

    public init(input: FeatureShape, outputChannels: Int, kernel: Int, padding: Int) {
        geometry = ConvolutionShape(
            inputChannels: input.channels, outputChannels: outputChannels,
            height: input.height, width: input.width, kernel: kernel, padding: padding)
    }

    public var inputShape: FeatureShape {
        FeatureShape(channels: geometry.inputChannels, height: geometry.height, width: geometry.width)
    }
    public var outputShape: FeatureShape {
        FeatureShape(channels: geometry.outputChannels, height: geometry.outputHeight, width: geometry.outputWidth)
    }

    public var parameterTensors: [ParameterTensor] {
        [ParameterTensor(name: "weight", shape: [geometry.outputChannels, geometry.kernel, geometry.kernel, geometry.inputChannels]),
         ParameterTensor(name: "bias", shape: [geometry.outputChannels])]
    }

    public var specification: String { "conv \(geometry.outputChannels) \(geometry.kernel) \(geometry.padding)" }

    /// He initialisation: normal with standard deviation √(2 / fan_in), suited to ReLU.
    public func initialize(_ parameters: UnsafeMutableBufferPointer<Float>, _ random: inout SeededRandom) {
        let scale = (2 / Float(geometry.patchSize)).squareRoot()
        for i in 0..<geometry.weightCount { parameters[i] = random.nextNormal() * scale }
        for i in geometry.weightCount..<parameters.count { parameters[i] = 0 }
    }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>,
        _ statistics: UnsafeMutablePointer<Float>, mode: ForwardMode, batch: Int
    ) {
        convolutionForward(y, x, parameters, parameters + geometry.weightCount, geometry, batch: batch)
    }

    public func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        convolutionBackward(dx, dparameters, dparameters + geometry.weightCount,
                            dy, x, parameters, geometry, batch: batch)
    }
}
