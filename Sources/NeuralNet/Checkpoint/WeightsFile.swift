/// The weights file: a trained network with what is known about its training.
///
/// Layout, all integers little-endian:
///
///     "MNISTWTS"                 8-byte magic
///     u32 version                currently 1
///     u32 n, n bytes             metadata, UTF-8 "key=value" lines (kind and architecture first,
///                                then the softmax temperature when it is not 1, the
///                                activation ranges of 8-bit inference and the training
///                                images' input profile when known)
///     u32 count                  number of tensors, then for each:
///       u16 n, n bytes           name, e.g. "layer3.weight"
///       u8 rank, rank × u32      shape
///       f32 × Π shape            values
///     u32 crc32                  of every byte before it
///
/// Loading checks each of these and the tensors against the architecture the file declares.
public struct WeightsFile: Sendable {
    public static let magic = Array("MNISTWTS".utf8)
    public static let version: UInt32 = 1
    /// Metadata keys that describe the network itself, not its history.
    static let reservedKeys: Set = ["kind", "architecture", "temperature", "activation_ranges", "input_profile"]

    public var network: Network
    /// Free-form facts about the model (dataset, epochs, accuracy, …), sorted by key when written.
    public var metadata: [String: String]
    /// What the training images looked like, when known.
    public var inputProfile: InputProfile?

    public init(network: Network, metadata: [String: String] = [:], inputProfile: InputProfile? = nil) {
        self.network = network
        self.metadata = metadata
        self.inputProfile = inputProfile
    }

    /// A stable identifier of the weights (64-bit FNV-1a of parameters, statistics, a
    /// temperature other than 1, and the activation ranges with the name of the 8-bit form they
    /// are used in, hex): identical training gives the identical id whatever the metadata says,
    /// and models whose outputs differ have different ids.
    public var modelID: String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        let temperature = network.temperature == 1 ? [] : [network.temperature]
        let eightBitForm = network.activationRanges == nil ? [] : Array(QuantizationForm.name.utf8)
        for values in [network.parameters, network.statistics, temperature, network.activationRanges ?? []] {
            values.withUnsafeBytes { bytes in
                for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
            }
        }
        for byte in eightBitForm { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let hex = String(hash, radix: 16)
        return "\(network.kind.rawValue)-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    public func encoded() -> [UInt8] {
        var out = ByteWriter()
        out.bytes += Self.magic
        out.u32(Self.version)
        var lines = ["kind=\(network.kind.rawValue)", "architecture=\(network.architecture)"]
        // Swift prints the shortest decimal that reads back as the same Float.
        if network.temperature != 1 { lines.append("temperature=\(network.temperature)") }
        if let ranges = network.activationRanges { lines.append("activation_ranges=" + ranges.map { "\($0)" }.joined(separator: ",")) }
        if let inputProfile { lines.append("input_profile=\(inputProfile.text)") }
        for key in metadata.keys.sorted() where !Self.reservedKeys.contains(key) {
            let value = metadata[key]!.replacingNewlines
            lines.append("\(key.replacingNewlines)=\(value)")
        }
        let text = Array(lines.joined(separator: "\n").utf8)
        out.u32(UInt32(text.count))
        out.bytes += text
        let tensors = network.namedTensors
        out.u32(UInt32(tensors.count))
        for (tensor, buffer, offset) in tensors {
            let name = Array(tensor.name.utf8)
            out.u16(UInt16(name.count))
            out.bytes += name
            out.bytes.append(UInt8(tensor.shape.count))
            for dimension in tensor.shape { out.u32(UInt32(dimension)) }
            let values = buffer == .parameters ? network.parameters : network.statistics
            for value in values[offset..<offset + tensor.count] { out.u32(value.bitPattern) }
        }
        out.u32(CRC32.checksum(out.bytes))
        return out.bytes
    }

    /// Decodes and validates a weights file; `source` names it in errors.
    public init(decoding bytes: [UInt8], source: String) throws {
        let fail = { (reason: String) in WeightsFileError(file: source, reason: reason) }
        var reader = try Self.checkedReader(bytes, fail)
        var metadata = try Self.readMetadata(&reader, fail)
        var network = try Self.unfilledNetwork(metadata, fileSize: bytes.count, fail)
        try Self.readTensors(into: &network, &reader, fail)
        guard reader.position == bytes.count - 4 else { throw fail("unexpected bytes after the last tensor") }
        guard network.parameters.allSatisfy(\.isFinite), network.statistics.allSatisfy(\.isFinite) else {
            throw fail("weights contain NaN or infinity")
        }
        try Self.applyInferenceSettings(metadata, to: &network, fail)
        if let text = metadata["input_profile"] {
            guard let profile = InputProfile(text: text) else { throw fail("input profile \"\(text)\" is malformed") }
            inputProfile = profile
        }
        for key in Self.reservedKeys { metadata[key] = nil }
        self.network = network
        self.metadata = metadata
    }

    private typealias Failure = (String) -> WeightsFileError

    /// A reader past the magic number and version, once the checksum is known to match.
    private static func checkedReader(_ bytes: [UInt8], _ fail: Failure) throws -> ByteReader {
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw fail("not an mnistd weights file (bad magic number)")
        }
        var reader = ByteReader(bytes: bytes, position: magic.count)
        guard let found = reader.u32() else { throw fail("truncated: no format version") }
        guard found == version else {
            throw fail("format version \(found) is not supported (this build reads version \(version))")
        }
        guard bytes.count >= magic.count + 8 else { throw fail("truncated") }
        let stored = bytes[bytes.count - 4..<bytes.count].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard CRC32.checksum(Array(bytes[0..<bytes.count - 4])) == stored else {
            throw fail("checksum mismatch: the file is truncated or corrupted")
        }
        return reader
    }

    private static func readMetadata(_ reader: inout ByteReader, _ fail: Failure) throws -> [String: String] {
        guard let metadataLength = reader.u32(), let metadataBytes = reader.take(Int(metadataLength)),
              let text = String(validating: metadataBytes, as: UTF8.self) else {
            throw fail("metadata is truncated or not UTF-8")
        }
        var metadata: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { throw fail("metadata line without '=': \(line)") }
            metadata[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return metadata
    }

    /// The network the metadata describes, its values not read yet.
    private static func unfilledNetwork(_ metadata: [String: String], fileSize: Int, _ fail: Failure) throws -> Network {
        guard let kindName = metadata["kind"], let architecture = metadata["architecture"] else {
            throw fail("metadata lacks the model kind or architecture")
        }
        guard let kind = ModelKind(rawValue: kindName) else {
            throw fail("unknown model kind \"\(kindName)\" (known: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        do {
            // Before a buffer for every parameter is allocated: the file must be able to hold them.
            var values = 0
            for layer in try parseArchitecture(architecture).layers {
                var (sum, overflow) = values.addingReportingOverflow(layer.parameterCount)
                for (tensor, _) in layer.statisticTensors where !overflow { (sum, overflow) = sum.addingReportingOverflow(tensor.count) }
                guard !overflow, sum <= fileSize / 4 else {
                    throw fail("\"\(architecture)\" needs more values than the file's \(fileSize) bytes can hold")
                }
                values = sum
            }
            return try Network(kind: kind, architecture: architecture, parameters: nil)
        } catch let error as WeightsFileError {
            throw error
        } catch {
            throw fail("\(error)")
        }
    }

    /// Every tensor the network needs, in its order, with the names and shapes it expects.
    private static func readTensors(into network: inout Network, _ reader: inout ByteReader, _ fail: Failure) throws {
        let expected = network.namedTensors
        guard let tensorCount = reader.u32(), Int(tensorCount) == expected.count else {
            throw fail("wrong architecture: the file holds a different number of tensors than \"\(network.architecture)\" needs (\(expected.count))")
        }
        for (tensor, buffer, offset) in expected {
            guard let nameLength = reader.u16(), let nameBytes = reader.take(Int(nameLength)),
                  let rank = reader.take(1)?.first else { throw fail("truncated tensor header") }
            let name = String(decoding: nameBytes, as: UTF8.self)
            var shape: [Int] = []
            for _ in 0..<rank {
                guard let dimension = reader.u32() else { throw fail("truncated shape of \(name)") }
                shape.append(Int(dimension))
            }
            guard name == tensor.name, shape == tensor.shape else {
                throw fail("wrong architecture: found tensor \(name) \(shape), expected \(tensor.name) \(tensor.shape)")
            }
            guard let values = reader.take(tensor.count * 4) else { throw fail("truncated values of \(name)") }
            let floats = (0..<tensor.count).map { i in
                let at = values.startIndex + i * 4
                return Float(bitPattern: UInt32(values[at]) | UInt32(values[at + 1]) << 8 | UInt32(values[at + 2]) << 16 | UInt32(values[at + 3]) << 24)
            }
            switch buffer {
            case .parameters: network.parameters.replaceSubrange(offset..<offset + tensor.count, with: floats)
            case .statistics: network.statistics.replaceSubrange(offset..<offset + tensor.count, with: floats)
            }
        }
    }

    /// The softmax temperature and the 8-bit form's activation ranges, when the file has them.
    private static func applyInferenceSettings(_ metadata: [String: String], to network: inout Network, _ fail: Failure) throws {
        if let text = metadata["temperature"] {
            guard let temperature = Float(text), TemperatureScaling.range.contains(temperature) else {
                throw fail("temperature \"\(text)\" is not a number in \(TemperatureScaling.range)")
            }
            network.temperature = temperature
        }
        if let text = metadata["activation_ranges"] {
            let fields = text.split(separator: ",", omittingEmptySubsequences: false)
            let ranges = fields.compactMap { Float($0) }
            guard ranges.count == fields.count, ranges.count <= network.layers.count,
                  ranges.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw fail("activation ranges \"\(text)\" are not one positive number per ReLU layer")
            }
            network.activationRanges = ranges
            if let obstacle = QuantizedNetwork.obstacle(to: network) { throw fail("activation ranges given, but \(obstacle)") }
        }
    }
}

/// A weights file that cannot be used, naming the file and the reason.
public struct WeightsFileError: Error, Equatable, CustomStringConvertible {
    public let file: String
    public let reason: String
    public var description: String { "\(file): \(reason)" }
}

private struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    mutating func u32(_ v: UInt32) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
}

private struct ByteReader {
    let bytes: [UInt8]
    var position: Int

    mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, count <= bytes.count - 4 - position else { return nil }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func u16() -> UInt16? {
        take(2).map { UInt16($0[$0.startIndex]) | UInt16($0[$0.startIndex + 1]) << 8 }
    }

    mutating func u32() -> UInt32? {
        take(4).map { $0.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
    }
}

extension String {
    fileprivate var replacingNewlines: String { split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " ") }
}
