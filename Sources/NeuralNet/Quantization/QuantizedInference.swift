import Tensor

/// Per-thread memory for running a quantized network on batches of up to `batchCapacity`
/// images: each kernel thread runs whole images through every step on its share of a call's
/// images, with two image buffers and two batch matrices of its own.
public final class QuantizedWorkspace {
    public let batchCapacity: Int
    let parts: Int
    private let imageBufferCount: Int
    private let batchBufferCount: Int
    private let storage: UnsafeMutablePointer<UInt8>

    public init(network: QuantizedNetwork, batchCapacity: Int) {
        self.batchCapacity = batchCapacity
        parts = max(1, min(kernelThreadCount, batchCapacity))
        // Each buffer may be read a few bytes past its end (see QuantizedRows.readSlack).
        imageBufferCount = network.largestImageActivation + QuantizedRows.readSlack
        batchBufferCount = batchCapacity * network.largestBatchRow + QuantizedRows.readSlack
        let total = 2 * parts * (imageBufferCount + batchBufferCount)
        storage = .allocate(capacity: total)
        storage.initialize(repeating: 0, count: total)
    }

    deinit { storage.deallocate() }

    /// Whether the buffers hold what `network` needs (the workspace was made for it or a smaller one).
    func fits(_ network: QuantizedNetwork) -> Bool {
        imageBufferCount >= network.largestImageActivation + QuantizedRows.readSlack
            && batchBufferCount >= batchCapacity * network.largestBatchRow + QuantizedRows.readSlack
    }

    /// Part `part`'s buffers: two for an image's steps, two for the batch's.
    func buffers(part: Int) -> PartBuffers {
        let first = storage + 2 * part * (imageBufferCount + batchBufferCount)
        return PartBuffers(image: (first, first + imageBufferCount),
                           batch: (first + 2 * imageBufferCount, first + 2 * imageBufferCount + batchBufferCount))
    }

    struct PartBuffers {
        let image: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt8>)
        let batch: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt8>)
    }
}

extension QuantizedNetwork {
    /// Class probabilities (count × classes) for `count` images of 8-bit pixels (255 = ink):
    /// the softmax of the logits divided by `temperature`.
    public func probabilities(forPixels pixels: UnsafePointer<UInt8>, count: Int, workspace: QuantizedWorkspace) -> [Float] {
        var result = logits(forPixels: pixels, count: count, workspace: workspace)
        result.withUnsafeMutableBufferPointer {
            softmaxRows($0.baseAddress!, $0.baseAddress!, rows: count, classes: classCount, inverseTemperature: 1 / temperature)
        }
        return result
    }

    /// The same, in a workspace of its own.
    public func probabilities(forPixels pixels: UnsafePointer<UInt8>, count: Int) -> [Float] {
        probabilities(forPixels: pixels, count: count, workspace: QuantizedWorkspace(network: self, batchCapacity: Network.inferenceBatchSize))
    }

    /// The raw class scores (count × classes), before softmax and temperature. The images are
    /// split once between the kernel threads, each running its share through every step in
    /// batches: one parallel region per call, not one per step and batch.
    public func logits(forPixels pixels: UnsafePointer<UInt8>, count: Int, workspace: QuantizedWorkspace) -> [Float] {
        precondition(workspace.fits(self), "workspace made for a larger network")
        var result = [Float](repeating: 0, count: count * classCount)
        result.withUnsafeMutableBufferPointer { out in
            let parts = min(workspace.parts, count)
            let shared = UncheckedSendable((pixels, out.baseAddress!))
            parallelFor(parts) { part in
                let (pixels, logits) = shared.value
                let share = partRange(part, of: parts, count: count)
                for start in stride(from: share.lowerBound, to: share.upperBound, by: workspace.batchCapacity) {
                    let batch = min(workspace.batchCapacity, share.upperBound - start)
                    forward(pixels + start * inputShape.count, batch: batch, into: logits + start * classCount,
                            workspace.buffers(part: part))
                }
            }
        }
        return result
    }

    /// One batch through every step, on the calling thread.
    private func forward(_ pixels: UnsafePointer<UInt8>, batch: Int, into logits: UnsafeMutablePointer<Float>,
                         _ buffers: QuantizedWorkspace.PartBuffers) {
        var (input, output) = buffers.batch
        for image in 0..<batch {
            runImageSteps(pixels + image * inputShape.count, into: input + image * flatCount, buffers.image)
        }
        for step in batchSteps {
            switch step {
            case .dense(let weights, let inputs):
                weights.product(QuantizedRows(matrix: input, stride: inputs, length: inputs),
                                rows: 0..<batch, into: output, stride: weights.columns)
                swap(&input, &output)
            case .logits(let weights, let inputs):
                weights.product(QuantizedRows(matrix: input, stride: inputs, length: inputs),
                                rows: 0..<batch, into: logits, stride: classCount)
            case .convolution, .maxPool:
                preconditionFailure("image steps run image by image")
            }
        }
    }

    /// The steps before flatten, on one image, its result written to `flat`.
    private func runImageSteps(_ pixels: UnsafePointer<UInt8>, into flat: UnsafeMutablePointer<UInt8>,
                               _ buffers: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt8>)) {
        var (input, output) = buffers
        // Copied so that reads past the image's end stay inside the workspace.
        input.update(from: pixels, count: inputShape.count)
        for step in imageSteps {
            switch step {
            case .convolution(let weights, let shape):
                weights.product(QuantizedRows(convolutionOver: input, width: shape.width, channels: shape.inputChannels,
                                              kernel: shape.kernel, outputWidth: shape.outputWidth),
                                rows: 0..<shape.outputPlane, into: output, stride: shape.outputChannels)
            case .maxPool(let shape):
                maxPoolBytes(output, input, height: shape.height, width: shape.width, channels: shape.channels)
            case .dense, .logits:
                preconditionFailure("batch steps run on the batch")
            }
            swap(&input, &output)
        }
        flat.update(from: input, count: flatCount)
    }
}
