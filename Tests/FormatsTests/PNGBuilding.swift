import CZlib
@testable import Formats
import XCTest

func bigEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }

/// A PNG chunk: length, type, data and the CRC of type and data.
func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let typed = Array(type.utf8) + data
    return bigEndian(UInt32(data.count)) + typed + bigEndian(UInt32(crc32(0, typed, UInt32(typed.count))))
}

/// A PNG's chunks in order, read without checks (the PNGs are the tests' own or PngSuite's).
func pngChunks(_ png: [UInt8]) -> [(type: String, data: [UInt8])] {
    var chunks: [(type: String, data: [UInt8])] = []
    var offset = 8
    while offset + 12 <= png.count {
        let length = png[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        chunks.append((String(decoding: png[offset + 4..<offset + 8], as: UTF8.self), Array(png[offset + 8..<offset + 8 + length])))
        offset += 12 + length
    }
    return chunks
}

/// The PNG with its image data made again as one IDAT chunk whose zlib stream holds the filtered
/// image and then `extraZeros` zero bytes more, every other chunk as it was.
func withImageData(_ png: [UInt8], extraZeros: Int) throws -> [UInt8] {
    let chunks = pngChunks(png)
    let compressed = chunks.filter { $0.type == "IDAT" }.flatMap(\.data)
    var filtered = [UInt8](repeating: 0, count: 1 << 20)
    var size = UInt(filtered.count)
    XCTAssertEqual(uncompress(&filtered, &size, compressed, UInt(compressed.count)), Z_OK)
    let firstIDAT = try XCTUnwrap(chunks.firstIndex { $0.type == "IDAT" })
    return Array(png.prefix(8)) + chunks.indices.flatMap { index -> [UInt8] in
        if index == firstIDAT { return pngChunk("IDAT", zlibStream(Array(filtered.prefix(Int(size))), thenZeros: extraZeros)) }
        return chunks[index].type == "IDAT" ? [] : pngChunk(chunks[index].type, chunks[index].data)
    }
}

/// A zlib stream of `data` then `zeros` zero bytes, of raw deflate blocks each ending on a byte
/// boundary (a sync flush), so that blocks deflated apart join into one stream. The zeros are one
/// run deflated once and written again and again: a gigabyte of output costs a megabyte of stream
/// and milliseconds to make.
func zlibStream(_ data: [UInt8], thenZeros zeros: Int) -> [UInt8] {
    func blocks(_ bytes: [UInt8]) -> [UInt8] { deflated(bytes, windowBits: -MAX_WBITS, flush: Z_SYNC_FLUSH) }
    var stream: [UInt8] = [0x78, 0xDA] + blocks(data)
    let run = min(zeros, 1 << 24)
    if run > 0 {
        let zeroRun = blocks([UInt8](repeating: 0, count: run))
        for _ in 0..<zeros / run { stream += zeroRun }
        stream += blocks([UInt8](repeating: 0, count: zeros % run))
    }
    // Zeros leave Adler-32's first sum as it is and add it to the second once a byte.
    let check = UInt32(adler32(1, data, UInt32(data.count)))
    let first = UInt64(check & 0xFFFF), second = (UInt64(check >> 16) + UInt64(zeros % 65521) * first) % 65521
    // 03 00 is a last block, empty, with the fixed codes.
    return stream + [0x03, 0x00] + bigEndian(UInt32(second << 16 | first))
}
