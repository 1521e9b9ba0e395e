#if canImport(Glibc)
import Glibc
#endif
import Classification
import ControlProtocol
import Daemon
import Formats
import InputSpool
import NeuralNet
import SystemResources

/// Everything the daemon does with bytes that come from outside, by target: the input decoder
/// (PNG through libpng and normalisation, IDX plain and gzip), the control request parser and
/// the configuration-file parser; the weights loader; the dataset validator; and the reply
/// encoder, fed numbers and strings as hostile stored state could make them; the names given
/// to reports and moved inputs. The fuzzer
/// drives each target, and the tests replay its corpus: any crash, hang or runaway allocation
/// here is a bug.
public enum UntrustedInput {
    public enum Target: String, CaseIterable, Sendable {
        case inputs
        case weights
        case dataset
        case replies
        case names
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
        case .replies:
            exerciseReplyEncoder(bytes)
        case .names:
            exerciseNameVariants(bytes)
        }
    }

    /// A model to describe with fuzzed metadata (its weights do not matter to the reply).
    static let describedModel = try? LoadedModel(weights: WeightsFile(network: Network(kind: .mlpSeed, seed: 1)), path: "fuzz")

    /// Builds a reply of every kind of field from the bytes (numbers by bit pattern, so NaN and
    /// infinity come up, and metadata text as a weights file could carry it): whatever is in it,
    /// the encoder must give one line that reads back as a reply.
    static func exerciseReplyEncoder(_ bytes: [UInt8]) {
        var reader = FuzzReader(bytes: bytes)
        guard var model = describedModel else { return }
        var metadata: [String: String] = [:]
        for key in LoadedModel.reportedNumbers.keys.sorted() + ["dataset", "created"] { metadata[key] = reader.text() }
        model = (try? LoadedModel(weights: WeightsFile(network: model.network, metadata: metadata), path: reader.text())) ?? model
        let state = RetrainingState(phase: .training, dataset: reader.text(), kind: reader.text(), epoch: reader.integer(),
                                    epochs: reader.integer(), loss: reader.number(), accuracy: reader.number(),
                                    etaSeconds: reader.number(), message: reader.text(), modelID: reader.text())
        let status = DaemonStatus(version: reader.text(), uptimeSeconds: reader.number(), model: ModelVersion(model.stored(active: true)),
                                  queueDepth: reader.integer(), filesDone: reader.integer(), filesFailed: reader.integer(),
                                  imagesClassified: reader.integer(),
                                  latencyMilliseconds: LatencyPercentiles(p50: reader.number(), p90: reader.number(),
                                                                          p99: reader.number(), samples: reader.integer()),
                                  retraining: state)
        let prediction = FilePrediction(file: reader.text(), labels: [reader.integer()], statuses: [.ok],
                                        confidences: [reader.number()], error: reader.text(), model: reader.text())
        let reply = ControlReply(ok: true, error: reader.text(), message: reader.text(), status: status,
                                 models: [ModelVersion(model.stored(active: false))], predictions: [prediction])
        let line = ControlCoding.encode(reply: reply)
        guard line.last == UInt8(ascii: "\n"), line.dropLast().firstIndex(of: UInt8(ascii: "\n")) == nil,
              (try? ControlCoding.decode(ControlReply.self, from: Array(line.dropLast()))) != nil else {
            fatalError("the reply encoder gave no single line that reads back: \(String(decoding: line, as: UTF8.self))")
        }
    }
}

extension UntrustedInput {
    /// A name the kernel would take (no `/` or NUL, at most NAME_MAX bytes) from the bytes:
    /// each of its variants must fit in a directory entry with every suffix the spool adds,
    /// and attempts whose tags are as long (`-1` … `-9`, `-10` … `-99`, …) must give distinct
    /// names, so that placing a file always ends. Across tag lengths a cut stem may give a
    /// name again (`…a-1.x` cut to `…a` + `-1.x`): the spool never overwrites, and moves on.
    static func exerciseNameVariants(_ bytes: [UInt8]) {
        var name = String(decoding: bytes.filter { $0 != 0 && $0 != UInt8(ascii: "/") }, as: UTF8.self)
        while name.utf8.count > Int(NAME_MAX) { name.removeLast() }
        guard !name.isEmpty else { return }
        var seen: Set<String> = []
        for attempt in [0, 1, 2, 9, 10, 99, 100, 12345, Int.max] {
            for suffix in ["", ".csv", ".error"] {
                let variant = variant(of: name, attempt, reserving: suffix.utf8.count)
                let tagLength = attempt == 0 ? 0 : String(attempt).utf8.count
                guard !variant.isEmpty, variant.utf8.count + suffix.utf8.count <= Int(NAME_MAX), !variant.contains("/"),
                      suffix != "" || seen.insert("\(tagLength) \(variant)").inserted else {
                    fatalError("variant \(attempt) of \(name.debugDescription) with \(suffix): \(variant.debugDescription)")
                }
            }
        }
    }
}

/// Hands out fuzz bytes as the values of a reply, zeros once they run out.
private struct FuzzReader {
    let bytes: [UInt8]
    var position = 0

    mutating func take(_ count: Int) -> ArraySlice<UInt8> {
        let end = min(bytes.count, position + count)
        defer { position = end }
        return bytes[min(position, end)..<end]
    }

    mutating func number() -> Double {
        Double(bitPattern: take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }

    mutating func integer() -> Int { Int(truncatingIfNeeded: number().bitPattern) }

    /// A length byte, then that many bytes as text (invalid UTF-8 repaired, as Swift reads it).
    mutating func text() -> String {
        let length = Int(take(1).first ?? 0)
        return String(decoding: take(length), as: UTF8.self)
    }
}
