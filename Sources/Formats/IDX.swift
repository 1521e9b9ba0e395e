import SystemResources

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

/// The largest IDX header: magic, then four dimensions.
private let maxIDXHeaderBytes = 4 + 4 * 4

/// Parses IDX bytes (plain or gzip). The header is checked against the real payload size
/// before anything is allocated for it. `source` names the input in errors, which say what is
/// wrong and never quote the file (neither its bytes nor its dimensions).
/// The payload is moved out of `raw` in place, not copied: pass it consumed to keep one copy.
public func parseIDX(_ raw: consuming [UInt8], source: String, limits: IDXLimits = IDXLimits()) throws -> IDXArray {
    // A gzip file is inflated no further than the largest header, the payload the limit allows
    // and a byte more; that is then checked as a plain file is, so one over the limit is refused
    // for what its header claims (as a plain one is), and one that holds more than its header
    // claims, as such.
    var bytes = isGzip(raw) ? try gunzipPrefix(raw, source: source, maxBytes: maxIDXHeaderBytes + limits.maxDataBytes + 1) : raw
    func fail(_ reason: String, _ kind: FormatError.Kind = .malformed) -> FormatError { FormatError(file: source, reason: reason, kind: kind) }
    guard bytes.count >= 4 else { throw fail("too short for an IDX header") }
    guard bytes[0] == 0, bytes[1] == 0 else { throw fail("not an IDX file (it does not start with the IDX magic number 00 00 08 0N)", .unsupported) }
    guard bytes[2] == 0x08 else { throw fail("IDX element type is not supported (only unsigned bytes, 0x08)", .unsupported) }
    let rank = Int(bytes[3])
    guard (1...4).contains(rank) else { throw fail("IDX rank is not supported (1 to 4 dimensions)", .unsupported) }
    let headerSize = 4 + 4 * rank
    guard bytes.count >= headerSize else { throw fail("truncated IDX header") }
    var dimensions: [Int] = []
    // A zero dimension must not hide the others: neither 2³¹×2³¹×2³¹×0 nor 0×2³²×2³² is
    // "0 bytes", as an item of that size cannot even be counted (both found by `make fuzz`).
    var overflow = false
    var nonZeroProduct = 1
    for axis in 0..<rank {
        let dimension = bigEndian32(bytes, at: 4 + 4 * axis)
        dimensions.append(dimension)
        if dimension != 0 {
            let product = nonZeroProduct.multipliedReportingOverflow(by: dimension)
            overflow = overflow || product.overflow
            nonZeroProduct = product.partialValue
        }
    }
    let expected = dimensions.contains(0) ? 0 : nonZeroProduct
    guard !overflow, expected <= limits.maxDataBytes else {
        throw fail("IDX header claims more data than allowed, over the limit of \(limits.maxDataBytes) bytes", .overLimit)
    }
    let payload = bytes.count - headerSize
    guard payload == expected else {
        throw fail(payload < expected
            ? "IDX header claims more data than the file holds (truncated)"
            : "the file holds more data than its IDX header claims (trailing garbage)")
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
