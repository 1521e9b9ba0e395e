import CZlib

/// True when the bytes start with the gzip magic number.
public func isGzip(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
}

/// Inflates a gzip stream, refusing to produce more than `maxBytes` (a decompression bomb
/// stops there instead of eating memory). `source` names the input in errors.
public func gunzip(_ compressed: [UInt8], source: String, maxBytes: Int) throws -> [UInt8] {
    let output = try gunzipPrefix(compressed, source: source, maxBytes: maxBytes + 1)
    guard output.count <= maxBytes else {
        throw FormatError(file: source, reason: "gzip data expands beyond the limit of \(maxBytes) bytes", kind: .overLimit)
    }
    return output
}

/// The first `maxBytes` bytes a gzip stream inflates to, or all of them when there are fewer;
/// nothing past them is inflated.
func gunzipPrefix(_ compressed: [UInt8], source: String, maxBytes: Int) throws -> [UInt8] {
    var output: [UInt8] = []
    switch inflate(CollectionOfOne(compressed[...]), as: .gzip, maxOutput: maxBytes, into: { output.append(contentsOf: $0) }) {
    case .complete, .outputLimit:
        return output
    case .truncated:
        throw FormatError(file: source, reason: "gzip data is truncated")
    case .corrupt(let message):
        throw FormatError(file: source, reason: "gzip data is corrupt (\(message))")
    }
}

/// Compresses bytes as a gzip stream (level 6).
public func gzip(_ bytes: [UInt8]) -> [UInt8] { deflated(bytes, windowBits: 16 + MAX_WBITS, flush: Z_FINISH) }

/// Deflates bytes at level 6 in one call: `windowBits` as deflateInit2 takes them (16 + MAX_WBITS
/// for gzip, -MAX_WBITS for raw blocks), `flush` as deflate does (Z_FINISH ends the stream,
/// Z_SYNC_FLUSH leaves it open on a byte boundary).
func deflated(_ bytes: [UInt8], windowBits: Int32, flush: Int32) -> [UInt8] {
    var stream = z_stream()
    deflateInit2_(&stream, 6, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 32)
    bytes.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            stream.next_out = out.baseAddress
            stream.avail_out = UInt32(out.count)
            deflate(&stream, flush)
        }
    }
    output.removeLast(Int(stream.avail_out))
    return output
}
