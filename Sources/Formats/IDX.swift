/// An IDX array of unsigned bytes (type code 0x08), the format MNIST ships in:
/// magic 00 00 08 <rank>, then <rank> big-endian UInt32 dimensions, then the data row-major.
public struct IDXArray: Equatable, Sendable {
    public let dimensions: [Int]
    public let bytes: [UInt8]

    public init(dimensions: [Int], bytes: [UInt8]) {
        precondition(dimensions.reduce(1, *) == bytes.count, "IDXArray: dimensions \(dimensions) do not hold \(bytes.count) bytes")
        self.dimensions = dimensions
        self.bytes = bytes
    }

    /// The file's bytes, header first.
    public var encoded: [UInt8] {
        var out: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for dimension in dimensions {
            let d = UInt32(dimension)
            out += [UInt8(d >> 24), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)]
        }
        return out + bytes
    }
}

/// Limits that keep a hostile IDX file from taking the process's memory.
public struct IDXLimits: Sendable {
    /// Largest file accepted, compressed or not.
    public var maxFileBytes: Int
    /// Largest payload accepted after decompression.
    public var maxDataBytes: Int

    public init(maxFileBytes: Int = 256 << 20, maxDataBytes: Int = 512 << 20) {
        self.maxFileBytes = maxFileBytes
        self.maxDataBytes = maxDataBytes
    }
}

/// Parses IDX bytes (plain or gzip). The header is checked against the real payload size
/// before anything is allocated for it. `source` names the input in errors.
/// The payload is moved out of `raw` in place, not copied: pass it consumed to keep one copy.
public func parseIDX(_ raw: consuming [UInt8], source: String, limits: IDXLimits = IDXLimits()) throws -> IDXArray {
    var bytes = isGzip(raw) ? try gunzip(raw, source: source, maxBytes: limits.maxDataBytes) : raw
    func fail(_ reason: String) -> FormatError { FormatError(file: source, reason: reason) }
    guard bytes.count >= 4 else { throw fail("too short for an IDX header (\(bytes.count) bytes)") }
    guard bytes[0] == 0, bytes[1] == 0 else {
        throw fail("not an IDX file (magic \(hex(bytes[0..<4])), expected 00 00 08 0N)")
    }
    guard bytes[2] == 0x08 else {
        throw fail("IDX element type 0x\(String(bytes[2], radix: 16)) is not supported (only unsigned bytes, 0x08)")
    }
    let rank = Int(bytes[3])
    guard (1...4).contains(rank) else { throw fail("IDX rank \(rank) is not supported (1 to 4)") }
    let headerSize = 4 + 4 * rank
    guard bytes.count >= headerSize else { throw fail("truncated IDX header: \(rank) dimensions need \(headerSize) bytes, file has \(bytes.count)") }
    var dimensions: [Int] = []
    var expected = 1
    // An overflow stays an overflow: a later zero must not bring a header like 2³¹×2³¹×0
    // back to "0 bytes" (found by `make fuzz`).
    var overflow = false
    for axis in 0..<rank {
        let at = 4 + 4 * axis
        let dimension = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        dimensions.append(dimension)
        let product = expected.multipliedReportingOverflow(by: dimension)
        overflow = overflow || product.overflow
        expected = product.partialValue
    }
    let payload = bytes.count - headerSize
    guard !overflow, expected <= limits.maxDataBytes else {
        let size = overflow ? "more bytes than can be counted" : "\(expected) bytes"
        throw fail("IDX header claims \(dimensions.map(String.init).joined(separator: "×")) = \(size), over the limit of \(limits.maxDataBytes)")
    }
    guard payload == expected else {
        let claim = dimensions.map(String.init).joined(separator: "×")
        throw fail(payload < expected
            ? "IDX header claims \(claim) = \(expected) bytes of data, the file holds only \(payload)"
            : "IDX header claims \(claim) = \(expected) bytes of data, the file holds \(payload) (trailing garbage)")
    }
    bytes.removeFirst(headerSize)
    return IDXArray(dimensions: dimensions, bytes: bytes)
}

/// Reads an IDX file, plain or gzip.
public func readIDX(_ path: String, limits: IDXLimits = IDXLimits()) throws -> IDXArray {
    try parseIDX(readFile(path, maxBytes: limits.maxFileBytes), source: path, limits: limits)
}

/// Writes an IDX file atomically, gzip-compressed when asked.
public func writeIDX(_ array: IDXArray, to path: String, compressed: Bool) throws {
    try writeFileAtomically(path, compressed ? gzip(array.encoded) : array.encoded)
}

private func hex(_ bytes: ArraySlice<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
}
