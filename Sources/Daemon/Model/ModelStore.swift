#if canImport(Glibc)
import Glibc
import Classification
import Formats
import NeuralNet
import SystemResources
#endif

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
    public func models() -> [StoredModel] {
        let active = activeID
        let names = ((try? directoryEntries(directory)) ?? []).filter { $0.hasSuffix(".weights") }
        let models = names.compactMap { name -> StoredModel? in
            guard let model = try? LoadedModel.load(path: "\(directory)/\(name)") else { return nil }
            return model.stored(active: model.id == active)
        }
        return models.sorted { ($0.created ?? "", $0.id) > ($1.created ?? "", $1.id) }
    }

    /// Ids are `<kind>-<16 hex digits>`: nothing that could name a path elsewhere.
    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count < 64 && id.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-"
        }
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
