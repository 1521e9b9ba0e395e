import Formats
import NeuralNet

/// Everything the daemon does with bytes that come from outside, by target: the input decoder
/// (PNG through libpng and normalisation, IDX plain and gzip), the control request parser and
/// the configuration-file parser; the weights loader; and the dataset validator. The fuzzer
/// drives each target, and the tests replay its corpus: any crash, hang or runaway allocation
/// here is a bug.
public enum UntrustedInput {
    public enum Target: String, CaseIterable, Sendable {
        case inputs
        case weights
        case dataset
    }

    static let decoder = InputDecoder(limits: InputLimits(maxFileBytes: 1 << 20, maxPNGPixels: 4_000_000, maxIDXImages: 1000))

    public static func exercise(_ bytes: [UInt8], as target: Target) {
        switch target {
        case .inputs:
            for name in ["input.png", "input-idx3-ubyte.gz", "input"] {
                _ = try? decoder.decode(bytes: bytes, name: name)
            }
            _ = try? ControlCoding.decode(ControlRequest.self, from: bytes)
            _ = try? ConfigurationFile.arguments(fromText: String(decoding: bytes, as: UTF8.self), source: "input",
                                                 options: ["state-dir", "socket"], flags: ["delete-processed"])
        case .weights:
            // As given, and with its checksum made right: mutations must reach the parser
            // behind the checksum. A model that loads is also run once, as the daemon would.
            var resealed = bytes
            if bytes.count >= 4 {
                let checksum = CRC32.checksum(Array(bytes.dropLast(4)))
                resealed.replaceSubrange(bytes.count - 4..<bytes.count, with: (0..<4).map { UInt8(truncatingIfNeeded: checksum >> ($0 * 8)) })
            }
            for candidate in [bytes, resealed] {
                if let model = try? LoadedModel(decoding: candidate, path: "input.weights") {
                    _ = Classifier().probabilities(model, pixels: [UInt8](repeating: 128, count: model.network.inputShape.count))
                }
            }
        case .dataset:
            // Two bytes (big-endian) give the images file's length; the labels file follows it.
            guard bytes.count >= 2 else { return }
            let split = min(bytes.count, 2 + (Int(bytes[0]) << 8 | Int(bytes[1])))
            let limits = IDXLimits(maxFileBytes: 1 << 20, maxDataBytes: 1 << 20)
            guard let images = try? parseIDX(Array(bytes[2..<split]), source: "images", limits: limits),
                  let labels = try? parseIDX(Array(bytes[split...]), source: "labels", limits: limits),
                  let raw = try? pairImages(images, source: "images", labels: labels, labelSource: "labels") else { return }
            _ = try? LabeledDataset.validated(raw, source: "dataset", classes: 10)
        }
    }
}
