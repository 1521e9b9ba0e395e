import Formats
import NeuralNet

/// Class probabilities for batches of digits, in 8 bits when the model has an 8-bit form.
/// Keeps one inference workspace, made again only when the model changes, so a long-running
/// daemon allocates it once; its batch size bounds the memory an input of any size costs.
/// One per thread.
public final class Classifier {
    /// Images per forward pass: the network's inference batch, whose activations stay in
    /// the caches; it also bounds the workspace to a few MB for the shipped cnn.
    static let batchSize = Network.inferenceBatchSize
    private var workspace: Workspace?
    private var quantizedWorkspace: (model: String, workspace: QuantizedWorkspace)?

    public init() {}

    /// Classifies decoded inputs (small ones share forward passes) and judges each one's
    /// images: the one way an input becomes predictions, for the inbox, the control socket
    /// and `mnistctl predict`. An input whose probabilities are not finite gets that error.
    public func classify(_ inputs: [(name: String, input: DecodedInput)], with model: LoadedModel,
                         minimumConfidence: Float?) -> [Result<Verdict, any Error>] {
        let probabilities = self.probabilities(model, inputs: inputs.map(\.input.pixels))
        let classes = model.network.classCount
        var cursor = 0
        return inputs.map { name, input in
            let rows = probabilities[cursor..<cursor + input.count * classes]
            cursor += input.count * classes
            return Result {
                let predictions = try Prediction.judge(rows, of: input, named: name, model: model, minimumConfidence: minimumConfidence)
                return Verdict(predictions: predictions, probabilities: rows, classes: classes, model: model.id)
            }
        }
    }

    /// One input's verdict (see `classify(_:with:minimumConfidence:)`).
    public func classify(_ input: DecodedInput, named name: String, with model: LoadedModel, minimumConfidence: Float?) throws -> Verdict {
        try classify([(name, input)], with: model, minimumConfidence: minimumConfidence)[0].get()
    }

    /// Probabilities (count × classes) for `pixels` (count × 28 × 28 bytes, 255 = ink).
    public func probabilities(_ model: LoadedModel, pixels: [UInt8]) -> [Float] {
        probabilities(model, inputs: [pixels])
    }

    /// Probabilities for the images of several inputs in turn, as if concatenated: small
    /// inputs share forward passes.
    public func probabilities(_ model: LoadedModel, inputs: [[UInt8]]) -> [Float] {
        if let quantized = model.quantized {
            if quantizedWorkspace?.model != model.id {
                quantizedWorkspace = (model.id, QuantizedWorkspace(network: quantized, batchCapacity: Self.batchSize))
            }
            // Bytes are what the 8-bit network reads: one input needs no copy.
            let pixels = inputs.count == 1 ? inputs[0] : Array(inputs.joined())
            guard !pixels.isEmpty else { return [] }
            return pixels.withUnsafeBufferPointer {
                quantized.probabilities(forPixels: $0.baseAddress!, count: $0.count / quantized.inputShape.count,
                                        workspace: quantizedWorkspace!.workspace)
            }
        }
        return floatProbabilities(model.network, inputs: inputs)
    }

    /// The float path, for networks without an 8-bit form: converts a batch at a time.
    private func floatProbabilities(_ network: Network, inputs: [[UInt8]]) -> [Float] {
        if workspace?.architecture != network.architecture {
            workspace = Workspace(network: network, batchCapacity: Self.batchSize, training: false)
        }
        let imageSize = network.inputShape.count
        let count = inputs.reduce(0) { $0 + $1.count / imageSize }
        var result: [Float] = []
        result.reserveCapacity(count * network.classCount)
        var floats = [Float](repeating: 0, count: Self.batchSize * imageSize)
        var filled = 0
        func flush() {
            guard filled > 0 else { return }
            result += floats.withUnsafeBufferPointer {
                network.probabilities(for: $0.baseAddress!, count: filled, workspace: workspace!)
            }
            filled = 0
        }
        for pixels in inputs {
            for image in 0..<pixels.count / imageSize {
                pixels.withUnsafeBufferPointer { source in
                    floats.withUnsafeMutableBufferPointer { target in
                        writePixelValues(source.baseAddress! + image * imageSize, count: imageSize,
                                         to: target.baseAddress! + filled * imageSize)
                    }
                }
                filled += 1
                if filled == Self.batchSize { flush() }
            }
        }
        flush()
        return result
    }
}
