import Formats
import NeuralNet
import SystemResources

/// A network ready to classify, with the id its CSV rows carry.
public struct LoadedModel: Sendable {
    /// The weights file as read: network, metadata and input profile.
    public let weights: WeightsFile
    public let id: String
    public let path: String

    /// The network in 8 bits, when the weights carry activation ranges: what classifies.
    public let quantized: QuantizedNetwork?

    /// A model ready to classify; refused when it does not take 28×28 single-channel images or
    /// its probabilities are not finite numbers on the probe images (weights so large that
    /// they overflow): such a model would answer every image from NaN.
    public init(weights: WeightsFile, path: String) throws {
        let shape = weights.network.inputShape
        guard shape.channels == 1, shape.height == DigitNormalization.side, shape.width == DigitNormalization.side else {
            throw FormatError(file: path, reason: "the model takes \(shape) images; mnistd classifies 28×28 single-channel digits")
        }
        self.weights = weights
        self.id = weights.modelID
        self.path = path
        quantized = QuantizedNetwork(weights.network)
        let probabilities = Classifier().probabilities(self, pixels: Self.probeImages)
        guard probabilities.allSatisfy(\.isFinite) else {
            throw FormatError(file: path, reason: "the model's probabilities are not finite numbers (NaN or infinity) on plain test images: its weights overflow, so it cannot classify")
        }
    }

    public var network: Network { weights.network }
    public var metadata: [String: String] { weights.metadata }
    /// What the training images looked like (nil for models trained before it was kept).
    public var inputProfile: InputProfile? { weights.inputProfile }

    /// Reads and validates a weights file; the model must take 28×28 single-channel images.
    public static func load(path: String) throws -> LoadedModel {
        try LoadedModel(weights: WeightsFile.read(from: path), path: path)
    }

    /// Validates a weights file's bytes; errors name `path`.
    public init(decoding bytes: [UInt8], path: String) throws {
        try self.init(weights: WeightsFile(decoding: bytes, source: path), path: path)
    }

    /// A blank image, a black one and a dense texture: overflowing weights show on one of them.
    static let probeImages: [UInt8] = {
        let size = DigitNormalization.side * DigitNormalization.side
        let texture = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 37 + $0 / DigitNormalization.side * 11) }
        return [UInt8](repeating: 0, count: size) + [UInt8](repeating: 255, count: size) + texture
    }()
}

extension WeightsFile {
    /// Reads and validates a weights file from disk; errors name `path`.
    public static func read(from path: String) throws -> WeightsFile {
        try WeightsFile(decoding: readFile(path, maxBytes: 256 << 20), source: path)
    }
}
