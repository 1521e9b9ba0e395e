extension Network {
    /// What the first layer looks for, as square pictures over the input, one per output
    /// channel or unit: a convolution's kernels, or a dense layer's weights over a square
    /// image. Nil for other first layers or inputs with several channels.
    public var firstLayerFilters: (side: Int, filters: [[Float]])? {
        guard inputShape.channels == 1,
              let (tensor, _, offset) = namedTensors.first(where: { $0.tensor.name.hasSuffix(".weight") }) else { return nil }
        let shape = tensor.shape
        if shape.count == 4, shape[1] == shape[2], shape[3] == 1 {
            // Convolution: [output channels, kernel, kernel, input channels].
            let size = shape[1] * shape[2]
            return (shape[1], (0..<shape[0]).map { Array(parameters[offset + $0 * size..<offset + ($0 + 1) * size]) })
        }
        if shape.count == 2, shape[0] == inputShape.count, inputShape.height == inputShape.width {
            // Dense: [inputs, outputs]; unit j's weights are column j.
            let outputs = shape[1]
            return (inputShape.width, (0..<outputs).map { unit in
                (0..<shape[0]).map { parameters[offset + $0 * outputs + unit] }
            })
        }
        return nil
    }
}
