#if canImport(Glibc)
import Glibc
#endif
import Formats
import Logging
import NeuralNet

/// The model versions kept in `DIR/models/`: `<id>.weights` each (the id is the kind and a
/// hash of the parameters, so the same model is stored once), and `active`, the id in use,
/// replaced atomically. The active model survives a restart; nothing is ever overwritten.
public final class ModelStore: @unchecked Sendable {
    public let directory: String
    private let lock = ConditionLock()

    public init(directory: String) throws {
        self.directory = directory
        try makeDirectories(directory)
        // A model being written when the daemon died left only a hidden temporary.
        for name in try directoryEntries(directory) where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            unlink("\(directory)/\(name)")
        }
    }

    var activePath: String { "\(directory)/active" }

    public func path(of id: String) -> String { "\(directory)/\(id).weights" }

    /// The id recorded as active, if any.
    public var activeID: String? {
        guard let bytes = try? readFile(activePath, maxBytes: 256) else { return nil }
        let id = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
        return id.isEmpty ? nil : id
    }

    /// Keeps a model (once per id) and returns it as loaded from the store.
    public func add(_ weights: WeightsFile) throws -> LoadedModel {
        let id = weights.modelID
        // Refused before it is stored when it cannot classify.
        _ = try LoadedModel(weights: weights, path: path(of: id))
        try lock.withLock {
            if access(path(of: id), F_OK) != 0 { try writeFileAtomically(path(of: id), weights.encoded()) }
        }
        return try LoadedModel.load(path: path(of: id))
    }

    /// Makes `id` the model loaded at the next start.
    public func activate(_ id: String) throws {
        try lock.withLock { try writeFileAtomically(activePath, Array("\(id)\n".utf8)) }
    }

    /// Loads a stored model; a clear error when there is no such id.
    public func load(_ id: String) throws -> LoadedModel {
        guard Self.isValidID(id), access(path(of: id), F_OK) == 0 else {
            throw FormatError(file: path(of: id), reason: "no model \(id) is stored (see `mnistctl models`)")
        }
        return try LoadedModel.load(path: path(of: id))
    }

    /// Every stored model, newest first.
    public func versions() -> [ModelVersion] {
        let active = activeID
        let names = ((try? directoryEntries(directory)) ?? []).filter { $0.hasSuffix(".weights") }
        let versions = names.compactMap { name -> ModelVersion? in
            guard let model = try? LoadedModel.load(path: "\(directory)/\(name)") else { return nil }
            return model.version(active: model.id == active)
        }
        return versions.sorted { ($0.created ?? "", $0.id) > ($1.created ?? "", $1.id) }
    }

    /// Ids are `<kind>-<16 hex digits>`: nothing that could name a path elsewhere.
    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count < 64 && id.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-"
        }
    }
}

extension LoadedModel {
    /// How `models` and `status` describe this model. Numbers come from the metadata only
    /// when they are finite and in range (see `metadataWarnings`).
    public func version(active: Bool) -> ModelVersion {
        ModelVersion(id: id, kind: network.kind.rawValue, active: active,
                     accuracy: reportedNumber("test_accuracy") ?? reportedNumber(Self.legacyAccuracyKey),
                     dataset: metadata["dataset"], epochs: reportedNumber("epochs").map { Int($0) },
                     trainSeconds: reportedNumber("train_seconds"), created: metadata["created"])
    }

    /// Where mnistd 0.2.0's retrainer wrote its accuracy; models it stored still say it there.
    static let legacyAccuracyKey = "validation_accuracy"

    /// The metadata numbers reported, and the values each may take; epochs are whole.
    static let reportedNumbers: [String: ClosedRange<Double>] = [
        legacyAccuracyKey: 0...1, "test_accuracy": 0...1, "epochs": 1...1_000_000, "train_seconds": 0...1e9,
    ]

    private func reportedNumber(_ key: String) -> Double? {
        guard let text = metadata[key], let range = Self.reportedNumbers[key], let value = Double(text),
              range.contains(value), key != "epochs" || value.rounded() == value else { return nil }
        return value
    }

    /// Metadata numbers that are not what they claim to be, in words: each is left out of
    /// what the model reports, and the daemon says so when it loads the model.
    public var metadataWarnings: [String] {
        Self.reportedNumbers.sorted { $0.key < $1.key }.compactMap { key, range in
            guard let text = metadata[key], reportedNumber(key) == nil else { return nil }
            return "\(path): metadata \(key)=\"\(text)\" is not a number in \(range); ignored"
        }
    }
}

extension LoadedModel {
    /// Says what is wrong with the metadata, once, when the model is put to use.
    func loggingWarnings(to logger: Logger) -> LoadedModel {
        for warning in metadataWarnings { logger.warning("\(warning)", metadata: ["model": "\(id)", "file": "\(path)"]) }
        return self
    }
}

extension String {
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
