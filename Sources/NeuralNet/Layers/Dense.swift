import Tensor

/// Fully connected layer: y = x · W + b. x is (B, in), W is (in, out), b is (out), y is (B, out).
public struct Dense: Layer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    /// Initial weights are normal with standard deviation gain / √fan_in.
    public let initGain: Float
    /// The input is the network's image, mostly paper: batches that are at least half zeros
    /// are multiplied by their non-zeros only (same result, summed in another order).
    public let sparseInput: Bool

    public init(inputs: Int, outputs: Int, initGain: Float = 1, sparseInput: Bool = false) {
        inputShape = FeatureShape(channels: inputs)
        outputShape = FeatureShape(channels: outputs)
        self.initGain = initGain
        self.sparseInput = sparseInput
    }

    private func isSparse(_ x: UnsafePointer<Float>, batch: Int) -> Bool {
        sparseInput && zeroFraction(x, count: batch * inputs) >= 0.5
    }

    /// A sparse-input layer remembers forward's choice for backward (one value), rather than
    /// measuring the batch's zeros a second time.
    public func cacheCount(batch: Int) -> Int { sparseInput ? 1 : 0 }

    var inputs: Int { inputShape.count }
    var outputs: Int { outputShape.count }

    public var parameterTensors: [ParameterTensor] {
        [ParameterTensor(name: "weight", shape: [inputs, outputs]), ParameterTensor(name: "bias", shape: [outputs])]
    }

    public var specification: String { "dense \(outputs)" }

    public func initialize(_ parameters: UnsafeMutableBufferPointer<Float>, _ random: inout SeededRandom) {
        let scale = initGain / Float(inputs).squareRoot()
        for i in 0..<inputs * outputs { parameters[i] = random.nextNormal() * scale }
        for i in inputs * outputs..<parameters.count { parameters[i] = 0 }
    }

    public func forward(
        _ y: UnsafeMutablePointer<Float>, _ cache: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>, _ parameters: UnsafePointer<Float>,
        _ statistics: UnsafeMutablePointer<Float>, mode: ForwardMode, batch: Int
    ) {
        let sparse = isSparse(x, batch: batch)
        if sparseInput { cache[0] = sparse ? 1 : 0 }
        if sparse {
            gemmSparseLeft(y, ldc: outputs, x, rows: batch, inner: inputs, parameters, columns: outputs, accumulate: false)
        } else {
            gemm(y, ldc: outputs,
                 MatrixRef(x, rows: batch, columns: inputs),
                 MatrixRef(parameters, rows: inputs, columns: outputs),
                 accumulate: false)
        }
        addRowBias(y, parameters + inputs * outputs, rows: batch, columns: outputs)
    }

    public func backward(
        _ dx: UnsafeMutablePointer<Float>?, _ dparameters: UnsafeMutablePointer<Float>,
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
        _ cache: UnsafeMutablePointer<Float>, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        let dyMatrix = MatrixRef(dy, rows: batch, columns: outputs)
        if sparseInput && cache[0] == 1 {
            gemmSparseLeftTransposed(dparameters, x, rows: batch, inner: inputs, dy, columns: outputs)
        } else {
            gemm(dparameters, ldc: outputs, MatrixRef(x, rows: batch, columns: inputs).transposed, dyMatrix, accumulate: true)
        }
        sumRows(into: dparameters + inputs * outputs, dy, rows: batch, columns: outputs)
        guard let dx else { return }
        gemm(dx, ldc: inputs, dyMatrix, MatrixRef(parameters, rows: inputs, columns: outputs).transposed, accumulate: true)
    }
}
