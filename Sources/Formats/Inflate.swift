import CZlib

/// The two wrappings of deflate data the formats use.
enum CompressedFormat {
    /// RFC 1950, as in PNG's image data.
    case zlib
    /// RFC 1952, one member or several joined.
    case gzip
}

/// How `inflate(_:as:maxOutput:into:)` ended.
enum InflateEnd: Equatable {
    /// The stream ended (a gzip stream: its last member).
    case complete
    /// `maxOutput` bytes came out; nothing after them was inflated.
    case outputLimit
    /// The input ended inside the stream.
    case truncated
    /// zlib's reason.
    case corrupt(String)
}

/// Inflates the concatenation of `pieces`, handing the output to `sink` as it comes, and stops
/// once `maxOutput` bytes have come out: the work is bounded by what the caller can use, however
/// far the stream would go on (a decompression bomb). A gzip stream goes on with the next member
/// while what is left of the input starts with one, as `gzip -d` does, and ignores other bytes
/// after a member, as gzip does; its members are given as one piece.
func inflate(_ pieces: some Sequence<ArraySlice<UInt8>>, as format: CompressedFormat, maxOutput: Int,
             into sink: (UnsafeBufferPointer<UInt8>) -> Void) -> InflateEnd {
    var stream = z_stream()
    let windowBits = format == .gzip ? 16 + MAX_WBITS : MAX_WBITS
    guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        return .corrupt("cannot initialise zlib")
    }
    defer { inflateEnd(&stream) }
    var scratch = [UInt8](repeating: 0, count: 1 << 16)
    var produced = 0
    for piece in pieces {
        let end: InflateEnd? = piece.withUnsafeBufferPointer { input in
            scratch.withUnsafeMutableBufferPointer { output in
                var consumed = 0
                while true {
                    let offered = UInt32(clamping: input.count - consumed)
                    let room = UInt32(min(output.count, maxOutput - produced))
                    stream.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: $0 + consumed) }
                    stream.avail_in = offered
                    stream.next_out = output.baseAddress
                    stream.avail_out = room
                    let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    consumed += Int(offered - stream.avail_in)
                    let made = Int(room - stream.avail_out)
                    sink(UnsafeBufferPointer(rebasing: output[..<made]))
                    produced += made
                    if produced == maxOutput { return .outputLimit }
                    switch status {
                    case Z_STREAM_END:
                        guard format == .gzip, isGzip(Array(input[consumed...].prefix(2))) else { return .complete }
                        inflateReset(&stream)
                    case Z_OK where consumed < input.count || made == room:
                        // Input left, or the output full: zlib may have more to give.
                        continue
                    case Z_OK, Z_BUF_ERROR:
                        // This piece is used up and zlib has given all it can from it.
                        return nil
                    default:
                        return .corrupt(stream.msg.map { String(cString: $0) } ?? "zlib error \(status)")
                    }
                }
            }
        }
        if let end { return end }
    }
    return .truncated
}
