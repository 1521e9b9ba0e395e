import Tensor

/// A trained network in 8-bit integers, for inference: weights signed 8-bit (one scale per
/// output channel), activations unsigned 8-bit (one scale per layer, from the largest value the
/// layer put out on training images: `Network.activationRanges`), sums exact in 32 bits. A pixel
/// byte is its own 8-bit value, so images go in as bytes. Four times the multiply rate of float
/// on CPUs with VNNI, and the same results on every CPU.
///
/// Networks of unpadded convolutions and dense layers each followed by a ReLU, max pooling and
/// flatten, ending in a dense layer, can be quantised — the default cnn among them.
public struct QuantizedNetwork: Sendable {
    enum Step: Sendable {
        /// Convolution, ReLU and requantisation, on one image.
        case convolution(QuantizedWeights, ConvolutionShape)
        case maxPool(FeatureShape)
        /// Dense, ReLU and requantisation, on a batch.
        case dense(QuantizedWeights, inputs: Int)
        /// The last dense layer: float logits.
        case logits(QuantizedWeights, inputs: Int)

        /// Whether the step runs image by image (before the network flattens).
        var isPerImage: Bool {
            switch self {
            case .convolution, .maxPool: true
            case .dense, .logits: false
            }
        }

        /// Values the step puts out per image.
        var outputCount: Int {
            switch self {
            case .convolution(_, let shape): shape.outputChannels * shape.outputPlane
            case .maxPool(let shape): shape.channels * (shape.height / 2) * (shape.width / 2)
            case .dense(let weights, _), .logits(let weights, _): weights.columns
            }
        }
    }

    /// Run image by image (until the network flattens), then on the batch.
    let imageSteps: [Step]
    let batchSteps: [Step]
    public let inputShape: FeatureShape
    public let classCount: Int
    public let temperature: Float
    /// Bytes of one image after the image steps: a row of the batch matrix.
    let flatCount: Int
    /// The most bytes one image step reads or writes.
    let largestImageActivation: Int
    let largestBatchRow: Int

    /// The multiply-adds of one image's forward pass: the work a kernel's speed is judged by.
    public var multiplyAddsPerImage: Int {
        (imageSteps + batchSteps).reduce(0) { total, step in
            switch step {
            case .convolution(_, let shape): total + shape.outputPlane * shape.outputChannels * shape.patchSize
            case .dense(let weights, let inputs), .logits(let weights, let inputs): total + inputs * weights.columns
            case .maxPool: total
            }
        }
    }

    /// The code that runs the products on this CPU (AVX-512 VNNI, AVX2 or portable C).
    public static var kernelName: String { QuantizedKernelPath.automaticName }
    public static var kernelIdentifier: String { QuantizedKernelPath.automaticIdentifier }

    /// Why `network` cannot be quantised, or nil when it can.
    public static func obstacle(to network: Network) -> String? {
        switch plan(network) {
        case .failure(let reason): reason
        case .success: nil
        }
    }

    /// The network in 8 bits, or nil if it has no activation ranges or a layer this cannot run.
    public init?(_ network: Network) {
        guard case .success(let steps) = Self.plan(network) else { return nil }
        let firstBatchStep = steps.firstIndex { !$0.isPerImage }!
        imageSteps = Array(steps[..<firstBatchStep])
        batchSteps = Array(steps[firstBatchStep...])
        inputShape = network.inputShape
        classCount = network.classCount
        temperature = network.temperature
        let imageCounts = [network.inputShape.count] + imageSteps.map(\.outputCount)
        flatCount = imageCounts.last!
        largestImageActivation = imageCounts.max()!
        largestBatchRow = max(flatCount, batchSteps.map(\.outputCount).max()!)
    }

    /// The ReLU layers, one activation range each (in a network with an 8-bit form, each
    /// follows a convolution or a dense layer).
    static func rangedLayers(of network: Network) -> [Int] {
        network.layers.indices.dropFirst().filter { (network.layers[$0] as? Activation)?.function == .relu }
    }

    private enum Plan { case success([Step]), failure(String) }

    /// Each layer's 8-bit form (`QuantizableLayer`), in order.
    private static func plan(_ network: Network) -> Plan {
        guard let ranges = network.activationRanges else { return .failure("the weights have no activation ranges") }
        let rectifiers = rangedLayers(of: network).count
        guard ranges.count == rectifiers else {
            return .failure("the weights hold \(ranges.count) activation ranges for \(rectifiers) ReLU layers")
        }
        let layers = network.layers
        var position = QuantizationPosition(remainingRanges: ranges[...])
        var steps: [Step] = []
        var index = 0
        let planned: Bool = network.parameters.withUnsafeBufferPointer { parameters in
            while index < layers.count {
                position.followedByReLU = index + 1 < layers.count && (layers[index + 1] as? Activation)?.function == .relu
                position.isLast = index == layers.count - 1
                let weights = parameters.baseAddress! + network.parameterOffsets[index]
                guard let form = (layers[index] as? any QuantizableLayer)?.quantizedForm(weights, &position) else { return false }
                index += 1
                if case .step(let step, let absorbsNextReLU) = form {
                    steps.append(step)
                    if absorbsNextReLU { index += 1 }
                }
            }
            return true
        }
        guard planned else {
            return .failure("layer \(index) (\(layers[index].specification)) has no 8-bit form: only unpadded convolutions and dense layers followed by relu, maxpool and flatten, and a last dense layer")
        }
        // Image steps first, then batch steps: a convolution after a dense layer has no 8-bit form.
        let perImage = steps.map(\.isPerImage)
        guard perImage == perImage.sorted(by: { $0 && !$1 }), case .logits = steps.last else {
            return .failure("only convolutions and pooling before dense layers, ending in a dense layer, have an 8-bit form")
        }
        return .success(steps)
    }
}
