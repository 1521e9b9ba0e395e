import Tensor

/// A model: its kind, its layers and every parameter in one flat buffer. Immutable once built,
/// so any number of threads may classify with it at once, each with its own `Workspace`.
public struct Network: Sendable {
    public let kind: ModelKind
    public let architecture: String
    public let inputShape: FeatureShape
    public let layers: [any Layer]
    public internal(set) var parameters: [Float]
    /// Where each layer's parameters start in `parameters`.
    public let parameterOffsets: [Int]
    /// Non-trained state (batch-norm running averages), updated by training forward passes.
    public internal(set) var statistics: [Float]
    /// Where each layer's statistics start in `statistics`.
    public let statisticOffsets: [Int]
    /// The softmax temperature fitted after training so that confidences match accuracy
    /// (see `TemperatureScaling`); 1 leaves the logits as trained.
    public var temperature: Float = 1
    /// For 8-bit inference: the largest value each ReLU layer puts out on training images, in
    /// layer order (see `QuantizedNetwork`); nil runs inference in float.
    public var activationRanges: [Float]?

    /// A freshly initialised network of the given kind.
    public init(kind: ModelKind, seed: UInt64) {
        // The built-in descriptions are valid by construction; the tests parse every one.
        try! self.init(kind: kind, architecture: kind.architecture, seed: seed)
    }

    /// A freshly initialised network with another architecture, trained with `kind`'s recipe.
    public init(kind: ModelKind, architecture: String, seed: UInt64) throws {
        try self.init(kind: kind, architecture: architecture, parameters: nil)
        var random = SeededRandom(seed: seed)
        parameters.withUnsafeMutableBufferPointer { all in
            for (layer, offset) in zip(layers, parameterOffsets) {
                let slice = UnsafeMutableBufferPointer(rebasing: all[offset..<offset + layer.parameterCount])
                layer.initialize(slice, &random)
            }
        }
    }

    /// A network from a stored description and parameters (nil: zeros); statistics start at
    /// their initial values.
    public init(kind: ModelKind, architecture: String, parameters: [Float]?) throws {
        let parsed = try parseArchitecture(architecture)
        guard let last = parsed.layers.last, last.outputShape.height == 1, last.outputShape.width == 1,
              last.outputShape.channels >= 2 else {
            throw ArchitectureError.malformed(architecture, reason: "the last layer must output class scores")
        }
        self.kind = kind
        self.architecture = architecture
        self.inputShape = parsed.input
        self.layers = parsed.layers
        var offsets: [Int] = []
        var total = 0
        for layer in parsed.layers {
            offsets.append(total)
            total += layer.parameterCount
        }
        self.parameterOffsets = offsets
        var statisticOffsets: [Int] = []
        var statistics: [Float] = []
        for layer in parsed.layers {
            statisticOffsets.append(statistics.count)
            for (tensor, initialValue) in layer.statisticTensors {
                statistics += [Float](repeating: initialValue, count: tensor.count)
            }
        }
        self.statisticOffsets = statisticOffsets
        self.statistics = statistics
        if let parameters {
            guard parameters.count == total else {
                throw ArchitectureError.malformed(architecture, reason: "it needs \(total) parameters, got \(parameters.count)")
            }
            self.parameters = parameters
        } else {
            self.parameters = [Float](repeating: 0, count: total)
        }
    }

    public var classCount: Int { layers.last!.outputShape.channels }
    public var parameterCount: Int { parameters.count }

    /// Which flat buffer a tensor lives in.
    public enum Buffer: Sendable {
        case parameters
        case statistics
    }

    /// Every tensor with its qualified name (`layer3.weight`), its buffer and its offset there:
    /// all parameters, then all statistics.
    public var namedTensors: [(tensor: ParameterTensor, buffer: Buffer, offset: Int)] {
        var result: [(ParameterTensor, Buffer, Int)] = []
        func append(_ buffer: Buffer, _ offsets: [Int], _ tensorsOf: (any Layer) -> [ParameterTensor]) {
            for (index, (layer, start)) in zip(layers, offsets).enumerated() {
                var offset = start
                for var tensor in tensorsOf(layer) {
                    tensor.name = "layer\(index).\(tensor.name)"
                    result.append((tensor, buffer, offset))
                    offset += tensor.count
                }
            }
        }
        append(.parameters, parameterOffsets) { $0.parameterTensors }
        append(.statistics, statisticOffsets) { $0.statisticTensors.map(\.tensor) }
        return result
    }

    /// Images per forward pass in inference: small enough that a batch's activations stay in
    /// the caches, large enough to amortise the per-batch work.
    public static let inferenceBatchSize = 64

    /// Class probabilities (count × classes) for `count` images of `inputShape`, values in
    /// [0, 1]: the softmax of the logits divided by `temperature`.
    public func probabilities(for images: UnsafePointer<Float>, count: Int, batchSize: Int = inferenceBatchSize) -> [Float] {
        guard count > 0 else { return [] }
        return probabilities(for: images, count: count,
                             workspace: Workspace(network: self, batchCapacity: min(batchSize, count), training: false))
    }

    /// The same, in a workspace kept by the caller (made for this network): a long-running
    /// classifier allocates it once instead of on every call.
    public func probabilities(for images: UnsafePointer<Float>, count: Int, workspace: Workspace) -> [Float] {
        let inverseTemperature = 1 / temperature
        return inferBatches(images, count: count, workspace: workspace) { out, logits, batch in
            softmaxRows(out, logits, rows: batch, classes: classCount, inverseTemperature: inverseTemperature)
        }
    }

    /// The raw class scores (count × classes), before softmax and temperature.
    public func logits(for images: UnsafePointer<Float>, count: Int, batchSize: Int = inferenceBatchSize) -> [Float] {
        guard count > 0 else { return [] }
        return logits(for: images, count: count, workspace: Workspace(network: self, batchCapacity: min(batchSize, count), training: false))
    }

    /// The same, in a workspace kept by the caller (made for this network).
    public func logits(for images: UnsafePointer<Float>, count: Int, workspace: Workspace) -> [Float] {
        inferBatches(images, count: count, workspace: workspace) { out, logits, batch in
            out.update(from: logits, count: batch * classCount)
        }
    }

    /// Runs inference batch by batch; `emit(out, logits, batch)` turns each batch's logits
    /// into its rows of the result.
    private func inferBatches(
        _ images: UnsafePointer<Float>, count: Int, workspace: Workspace,
        emit: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void
    ) -> [Float] {
        precondition(workspace.architecture == architecture, "workspace made for another architecture")
        var result = [Float](repeating: 0, count: count * classCount)
        guard count > 0 else { return result }
        // Inference only reads the statistics; a copy keeps this method free of shared writes.
        var statistics = self.statistics
        result.withUnsafeMutableBufferPointer { out in
            parameters.withUnsafeBufferPointer { weights in
                statistics.withUnsafeMutableBufferPointer { statistics in
                    for start in stride(from: 0, to: count, by: workspace.batchCapacity) {
                        let batch = min(workspace.batchCapacity, count - start)
                        workspace.input.update(from: images + start * inputShape.count, count: batch * inputShape.count)
                        let logits = workspace.forward(self, weights.baseAddress!, statistics.baseAddress!, mode: .inference, batch: batch)
                        emit(out.baseAddress! + start * classCount, logits, batch)
                    }
                }
            }
        }
        return result
    }
}

extension Network {
    /// Lends the parameters and statistics to `body` to write, with the network's layers and
    /// offsets (`layout`, which holds neither meanwhile). Writing them through the network
    /// while it is also read, as the passes do, is an overlapping access Swift forbids.
    mutating func withWritableState<R>(
        _ body: (_ layout: Network, _ parameters: UnsafeMutablePointer<Float>, _ statistics: UnsafeMutablePointer<Float>) -> R
    ) -> R {
        var parameters = self.parameters, statistics = self.statistics
        // Taken out, the arrays are uniquely referenced: writing them copies nothing.
        self.parameters = []
        self.statistics = []
        defer {
            self.parameters = parameters
            self.statistics = statistics
        }
        let layout = self
        return parameters.withUnsafeMutableBufferPointer { p in
            statistics.withUnsafeMutableBufferPointer { s in body(layout, p.baseAddress!, s.baseAddress!) }
        }
    }
}

/// Per-thread memory for running a network on batches of up to `batchCapacity` images:
/// every layer's output, every layer's cache, and (for training) two gradient buffers used
/// in turn.
public final class Workspace {
    public let batchCapacity: Int
    public let architecture: String
    /// False for an inference-only workspace, which has no room for gradients.
    public let training: Bool
    private let storage: UnsafeMutablePointer<Float>
    private let storageCount: Int
    private var activations: [UnsafeMutablePointer<Float>] = []
    private var caches: [UnsafeMutablePointer<Float>] = []
    private let gradients: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
    private let largestActivation: Int

    public init(network: Network, batchCapacity: Int, training: Bool = true) {
        self.batchCapacity = batchCapacity
        self.architecture = network.architecture
        self.training = training
        let shapes = [network.inputShape] + network.layers.map(\.outputShape)
        largestActivation = training ? shapes.map(\.count).max()! * batchCapacity : 0
        // A layer that only reshapes has no storage of its own: its output is its input.
        let sharesInput = shapes.indices.map { $0 > 0 && network.layers[$0 - 1].onlyReshapes }
        let activationCounts = shapes.indices.map { sharesInput[$0] ? 0 : shapes[$0].count * batchCapacity }
        let cacheCounts = network.layers.map { $0.cacheCount(batch: batchCapacity) }
        storageCount = activationCounts.reduce(0, +) + cacheCounts.reduce(0, +) + 2 * largestActivation
        storage = .allocate(capacity: storageCount)
        storage.initialize(repeating: 0, count: storageCount)
        var cursor = storage
        for (index, count) in activationCounts.enumerated() {
            activations.append(sharesInput[index] ? activations[index - 1] : cursor)
            cursor += count
        }
        for count in cacheCounts {
            caches.append(cursor)
            cursor += count
        }
        gradients = (cursor, cursor + largestActivation)
    }

    deinit { storage.deallocate() }

    /// Where the caller puts the batch: (B, H, W, C) images, row-major.
    public var input: UnsafeMutablePointer<Float> { activations[0] }

    /// What layer `index` put out in the last forward pass.
    public func output(ofLayer index: Int) -> UnsafePointer<Float> { UnsafePointer(activations[index + 1]) }

    /// Runs every layer on the batch in `input`; returns the logits, (B, classes).
    public func forward(
        _ network: Network, _ parameters: UnsafePointer<Float>, _ statistics: UnsafeMutablePointer<Float>,
        mode: ForwardMode, batch: Int
    ) -> UnsafeMutablePointer<Float> {
        precondition(batch <= batchCapacity, "batch \(batch) exceeds workspace capacity \(batchCapacity)")
        for (index, layer) in network.layers.enumerated() where !layer.onlyReshapes {
            layer.forward(activations[index + 1], caches[index], activations[index],
                          parameters + network.parameterOffsets[index], statistics + network.statisticOffsets[index],
                          mode: mode, batch: batch)
        }
        return activations[network.layers.count]
    }

    /// Accumulates ∂L/∂parameters into `parameterGradients` given ∂L/∂logits, after `forward`
    /// ran on the same batch.
    public func backward(
        _ parameterGradients: UnsafeMutablePointer<Float>, _ logitGradients: UnsafePointer<Float>,
        _ network: Network, _ parameters: UnsafePointer<Float>, batch: Int
    ) {
        precondition(training, "backward needs a training workspace")
        var outputGradient = logitGradients
        var (current, spare) = gradients
        // Below the first layer with parameters no gradient is needed: not even its input's.
        let firstTrained = network.layers.firstIndex { $0.parameterCount > 0 } ?? network.layers.count
        // A reshaping layer's input gradient is its output gradient, already in place.
        for index in network.layers.indices.reversed() where index >= firstTrained && !network.layers[index].onlyReshapes {
            let layer = network.layers[index]
            let inputGradient: UnsafeMutablePointer<Float>? = index == firstTrained ? nil : current
            inputGradient?.update(repeating: 0, count: layer.inputShape.count * batch)
            layer.backward(inputGradient, parameterGradients + network.parameterOffsets[index],
                           outputGradient, activations[index], activations[index + 1], caches[index],
                           parameters + network.parameterOffsets[index], batch: batch)
            outputGradient = UnsafePointer(current)
            swap(&current, &spare)
        }
    }
}
