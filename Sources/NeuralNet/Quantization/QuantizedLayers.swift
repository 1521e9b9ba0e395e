import Tensor

/// What a layer becomes in 8 bits. A layer that has an 8-bit form says so here, next to the
/// others; `QuantizedNetwork` only strings the forms together, so a layer that does not conform
/// makes the network run in float, with the layer named as the reason.
protocol QuantizableLayer: Layer {
    /// The layer's 8-bit form where it sits in the network, or nil when it has none there (a
    /// convolution with padding, say). `weights` is the layer's slice of the parameters.
    func quantizedForm(_ weights: UnsafePointer<Float>, _ position: inout QuantizationPosition) -> QuantizedForm?
}

/// An 8-bit step, and whether it absorbed the ReLU after the layer (which then has no step).
enum QuantizedForm {
    case step(QuantizedNetwork.Step, absorbsNextReLU: Bool)
    /// The layer changes nothing in bytes (flatten).
    case none
}

/// The limits of the 8-bit form. Weights keep 7 bits (±63) and activations between layers 7 bits
/// (0…127), as oneDNN's and FBGEMM's "reduce range" does: then two byte products of AVX2's
/// vpmaddubsw never saturate its 16-bit lane, and a few of its sums add up in 16 bits before
/// they are widened — twice the multiply rate of the 16-bit products otherwise needed, exact
/// all the same. Pixels stay 8-bit bytes (|w| ≤ 63 keeps a pair of them within 16 bits too).
enum QuantizationForm {
    static let weightLimit: Float = 63
    static let activationCeiling: UInt8 = 127
    static let pixelCeiling: UInt8 = 255
    /// Part of the model id: the same float weights in another 8-bit form classify differently.
    static let name = "w7a7"
}

/// Where a layer sits: the scale and largest value of the bytes coming in, what follows it, and
/// the activation ranges not used yet.
struct QuantizationPosition {
    var inputScale: Float = pixelValue(1)
    var inputCeiling = QuantizationForm.pixelCeiling
    var remainingRanges: ArraySlice<Float>
    var followedByReLU = false
    var isLast = false

    /// The scale of the bytes a layer followed by a ReLU puts out (its range is the largest value
    /// met, as the activation ceiling), which becomes the next layer's input scale; nil when the
    /// layer is not followed by a ReLU or no range is left.
    mutating func takeOutputScale() -> Float? {
        guard followedByReLU, let range = remainingRanges.popFirst() else { return nil }
        inputScale = range / Float(QuantizationForm.activationCeiling)
        inputCeiling = QuantizationForm.activationCeiling
        return inputScale
    }
}

extension Convolution2D: QuantizableLayer {
    /// Convolution, ReLU and requantisation, image by image; unpadded only.
    func quantizedForm(_ weights: UnsafePointer<Float>, _ position: inout QuantizationPosition) -> QuantizedForm? {
        let shape = geometry
        let input = position
        guard shape.padding == 0, let outputScale = position.takeOutputScale() else { return nil }
        let quantized = quantizedColumns(
            weights, columns: shape.outputChannels, segments: shape.kernel, segmentLength: shape.kernel * shape.inputChannels,
            input: input, outputScale: outputScale
        ) { n, s, j in n * shape.patchSize + s * shape.kernel * shape.inputChannels + j }
        return .step(.convolution(quantized, shape), absorbsNextReLU: true)
    }
}

extension Dense: QuantizableLayer {
    /// Dense, ReLU and requantisation on a batch; the last dense layer gives float logits.
    func quantizedForm(_ weights: UnsafePointer<Float>, _ position: inout QuantizationPosition) -> QuantizedForm? {
        let inputs = inputShape.count, outputs = outputShape.count
        let input = position
        let at = { (n: Int, _: Int, j: Int) in j * outputs + n }
        if position.isLast {
            let quantized = quantizedColumns(weights, columns: outputs, segments: 1, segmentLength: inputs,
                                             input: input, outputScale: nil, index: at)
            return .step(.logits(quantized, inputs: inputs), absorbsNextReLU: false)
        }
        guard let outputScale = position.takeOutputScale() else { return nil }
        let quantized = quantizedColumns(weights, columns: outputs, segments: 1, segmentLength: inputs,
                                         input: input, outputScale: outputScale, index: at)
        return .step(.dense(quantized, inputs: inputs), absorbsNextReLU: true)
    }
}

extension MaxPool: QuantizableLayer {
    /// The largest byte is the largest value: scales pass through.
    func quantizedForm(_ weights: UnsafePointer<Float>, _ position: inout QuantizationPosition) -> QuantizedForm? {
        .step(.maxPool(inputShape), absorbsNextReLU: false)
    }
}

extension Flatten: QuantizableLayer {
    func quantizedForm(_ weights: UnsafePointer<Float>, _ position: inout QuantizationPosition) -> QuantizedForm? { QuantizedForm.none }
}

/// Weights in 8 bits, one scale per output column (its largest weight becomes ± the weight
/// limit), the sums of `input`'s bytes rescaled to the next layer's bytes (outputScale) or to real
/// logits (nil).
private func quantizedColumns(
    _ weights: UnsafePointer<Float>, columns: Int, segments: Int, segmentLength: Int,
    input: QuantizationPosition, outputScale: Float?, index: (_ column: Int, _ segment: Int, _ byte: Int) -> Int
) -> QuantizedWeights {
    let limit = QuantizationForm.weightLimit
    let bias = weights + columns * segments * segmentLength
    var weightScale = [Float](repeating: 1, count: columns)
    for n in 0..<columns {
        var largest: Float = 0
        for s in 0..<segments { for j in 0..<segmentLength { largest = max(largest, abs(weights[index(n, s, j)])) } }
        if largest > 0 { weightScale[n] = largest / limit }
    }
    let divisor = outputScale ?? 1
    return QuantizedWeights(
        columns: columns, segments: segments, segmentLength: segmentLength,
        scale: (0..<columns).map { input.inputScale * weightScale[$0] / divisor },
        offset: (0..<columns).map { bias[$0] / divisor },
        inputCeiling: input.inputCeiling, outputCeiling: QuantizationForm.activationCeiling
    ) { n, s, j in
        Int8((weights[index(n, s, j)] / weightScale[n]).rounded().clamped(to: -limit...limit))
    }
}

extension Comparable {
    fileprivate func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
