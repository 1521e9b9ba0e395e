import CZlib

/// True when the bytes start with the gzip magic number.
public func isGzip(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
}

/// Inflates a gzip stream, refusing to produce more than `maxBytes` (a decompression bomb
/// stops there instead of eating memory). `source` names the input in errors.
public func gunzip(_ compressed: [UInt8], source: String, maxBytes: Int) throws -> [UInt8] {
    var stream = z_stream()
    // 16 + MAX_WBITS: expect a gzip header and trailer, not a raw zlib stream.
    guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw FormatError(file: source, reason: "cannot initialise zlib")
    }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    let status: Int32 = compressed.withUnsafeBufferPointer { input in
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        stream.avail_in = UInt32(input.count)
        while true {
            let result: Int32 = chunk.withUnsafeMutableBufferPointer { buffer in
                stream.next_out = buffer.baseAddress
                stream.avail_out = UInt32(buffer.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.avail_out)
            if output.count + produced > maxBytes { return Z_MEM_ERROR }
            output.append(contentsOf: chunk[0..<produced])
            if result == Z_STREAM_END { return Z_STREAM_END }
            if result != Z_OK { return result }
            if stream.avail_in == 0 && produced == 0 { return Z_BUF_ERROR }
        }
    }
    switch status {
    case Z_STREAM_END:
        return output
    case Z_MEM_ERROR:
        throw FormatError(file: source, reason: "gzip data expands beyond the limit of \(maxBytes) bytes")
    case Z_BUF_ERROR:
        throw FormatError(file: source, reason: "gzip data is truncated")
    default:
        let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
        throw FormatError(file: source, reason: "gzip data is corrupt (\(message))")
    }
}

/// Compresses bytes as a gzip stream (level 6).
public func gzip(_ bytes: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    deflateInit2_(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 32)
    bytes.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            stream.next_out = out.baseAddress
            stream.avail_out = UInt32(out.count)
            deflate(&stream, Z_FINISH)
        }
    }
    output.removeLast(Int(stream.avail_out))
    return output
}
