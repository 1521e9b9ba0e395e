/// The models mnistd knows how to build and train.
public enum ModelKind: String, CaseIterable, Sendable {
    /// The original project's network, kept exactly: 784-128-10, tanh, softmax, squared error, SGD.
    case mlpSeed = "mlp-seed"
    /// The default: a small convolutional network trained with AdamW and augmentation. Its
    /// convolutions have no padding: a digit's 4-pixel border is paper, and unpadded
    /// convolutions do a third of the work (the README compares it with the padded network it
    /// replaced).
    case cnn

    /// The layer list, as an architecture description.
    public var architecture: String {
        switch self {
        case .mlpSeed:
            return "input 1x28x28, flatten, dense 128, tanh, dense 10"
        case .cnn:
            return "input 1x28x28, conv 16 5 0, relu, maxpool, conv 32 5 0, relu, maxpool, flatten, dense 128, relu, dense 10"
        }
    }
}

public enum ArchitectureError: Error, Equatable, CustomStringConvertible {
    case malformed(String, reason: String)

    public var description: String {
        switch self {
        case let .malformed(text, reason): return "invalid architecture \"\(text)\": \(reason)"
        }
    }
}

/// The most floats one image may need in a workspace (16 MB): dozens of times what the cnn needs.
public let maxValuesPerImage = 1 << 22

/// Parses an architecture description — comma-separated layers after an input shape, e.g.
/// `input 1x28x28, conv 32 5 2, relu, maxpool, flatten, dense 10` — into layers whose shapes
/// chain. `conv C K P` has C output channels, a K×K kernel and P pixels of padding.
public func parseArchitecture(_ text: String) throws -> (input: FeatureShape, layers: [any Layer]) {
    func fail(_ reason: String) -> ArchitectureError { .malformed(text, reason: reason) }
    var items = text.split(separator: ",").map { $0.split(separator: " ").map(String.init) }
    guard let first = items.first, first.count == 2, first[0] == "input" else {
        throw fail("it must start with \"input CxHxW\"")
    }
    let dims = first[1].split(separator: "x").compactMap { Int($0) }
    guard dims.count == 3, dims.allSatisfy({ $0 > 0 && $0 <= 4096 }) else { throw fail("bad input shape \(first[1])") }
    let input = FeatureShape(channels: dims[0], height: dims[1], width: dims[2])
    items.removeFirst()

    var shape = input
    var layers: [any Layer] = []
    var footprint = input.count
    // Until a layer computes something, the layers read the input image itself.
    var readsImage = true
    for words in items {
        let arguments = words.dropFirst().compactMap { Int($0) }
        guard let name = words.first, arguments.count == words.count - 1, arguments.allSatisfy({ $0 >= 0 }) else {
            throw fail("bad layer \"\(words.joined(separator: " "))\"")
        }
        let layer: any Layer
        switch (name, arguments.count) {
        case ("conv", 3):
            let (channels, kernel, padding) = (arguments[0], arguments[1], arguments[2])
            guard channels > 0, channels <= 4096, kernel > 0, kernel <= 255, padding < kernel,
                  shape.height + 2 * padding >= kernel, shape.width + 2 * padding >= kernel
            else { throw fail("conv \(arguments) does not fit input \(shape)") }
            layer = Convolution2D(input: shape, outputChannels: channels, kernel: kernel, padding: padding)
        case ("dense", 1):
            guard shape.height == 1, shape.width == 1 else { throw fail("dense needs a flat input, got \(shape)") }
            guard arguments[0] > 0, arguments[0] <= 1 << 16 else { throw fail("dense \(arguments[0]) is out of range") }
            layer = Dense(inputs: shape.count, outputs: arguments[0], sparseInput: readsImage)
        case ("maxpool", 0):
            guard shape.height >= 2, shape.width >= 2 else { throw fail("maxpool on \(shape)") }
            layer = MaxPool(input: shape)
        case (let name, 0) where ActivationFunction(rawValue: name) != nil:
            layer = Activation(ActivationFunction(rawValue: name)!, input: shape)
        case ("flatten", 0): layer = Flatten(input: shape)
        case ("batchnorm", 0): layer = BatchNorm(input: shape)
        default:
            throw fail("unknown layer \"\(words.joined(separator: " "))\"")
        }
        layers.append(layer)
        shape = layer.outputShape
        readsImage = readsImage && layer is Flatten
        // Every layer's output and cache is kept per image of a batch: bound what one image costs.
        footprint += layer.outputShape.count + layer.cacheCount(batch: 1)
        guard footprint <= maxValuesPerImage else {
            throw fail("the layers need more than \(maxValuesPerImage) values of memory per image")
        }
    }
    guard !layers.isEmpty else { throw fail("no layers") }
    return (input, layers)
}
