import Tensor

extension Network {
    /// Measures `activationRanges` on up to `limit` of `images` (training images: what the
    /// network will meet), when the network has an 8-bit form; leaves them nil otherwise.
    /// Each range is the largest value its ReLU put out: nothing the network saw is clipped.
    public mutating func measureActivationRanges(on images: LabeledImages, limit: Int = 10_000) {
        let rectifiers = QuantizedNetwork.rangedLayers(of: self)
        activationRanges = nil
        let sample = images.prefix(limit)
        guard !rectifiers.isEmpty, sample.count > 0 else { return }
        var ranges = [Float](repeating: 0, count: rectifiers.count)
        let workspace = Workspace(network: self, batchCapacity: Self.inferenceBatchSize, training: false)
        var statistics = self.statistics
        parameters.withUnsafeBufferPointer { weights in
            statistics.withUnsafeMutableBufferPointer { statistics in
                for start in stride(from: 0, to: sample.count, by: workspace.batchCapacity) {
                    let batch = min(workspace.batchCapacity, sample.count - start)
                    for image in 0..<batch { sample.writePixels(of: start + image, to: workspace.input + image * inputShape.count) }
                    _ = workspace.forward(self, weights.baseAddress!, statistics.baseAddress!, mode: .inference, batch: batch)
                    for (slot, index) in rectifiers.enumerated() {
                        let output = workspace.output(ofLayer: index)
                        for i in 0..<batch * layers[index].outputShape.count { ranges[slot] = max(ranges[slot], output[i]) }
                    }
                }
            }
        }
        // A layer that never fired still needs a positive scale.
        activationRanges = ranges.map { max($0, Float.leastNormalMagnitude) }
        if QuantizedNetwork.obstacle(to: self) != nil { activationRanges = nil }
    }
}
