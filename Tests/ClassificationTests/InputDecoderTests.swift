import CZlib
@testable import Classification
import Formats
import NeuralNet
import XCTest

final class InputDecoderTests: XCTestCase {
    let decoder = InputDecoder(limits: InputLimits(maxFileBytes: 1 << 20, maxPNGPixels: 1_000_000, maxIDXImages: 50))

    /// Refused, naming the file and saying `expected`, as a refusal of `kind` (what the metrics count it as).
    func assertRejected(_ bytes: [UInt8], name: String, _ expected: String, as kind: FormatError.Kind,
                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decoder.decode(bytes: bytes, name: name), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("\(name): "), "\(text) does not name \(name)", file: file, line: line)
            XCTAssertTrue(text.contains(expected), "\(text) lacks \(expected)", file: file, line: line)
            XCTAssertEqual((error as? FormatError)?.kind, kind, text, file: file, line: line)
        }
    }

    func idx(_ count: Int, _ side: Int = 28) -> [UInt8] {
        IDXArray(dimensions: [count, side, side], bytes: [UInt8](repeating: 7, count: count * side * side)).encoded
    }

    func testRecognisesByContentNotName() throws {
        let png = try encodePNG(RasterImage(width: 28, height: 28, channels: 1, samples: [UInt8](repeating: 0, count: 784)))
        XCTAssertEqual(try decoder.decode(bytes: png, name: "named.idx").kind, .png)
        let batch = try decoder.decode(bytes: idx(3), name: "batch.png")
        XCTAssertEqual(batch.kind, .idx)
        XCTAssertEqual(batch.count, 3)
        XCTAssertEqual(try decoder.decode(bytes: gzip(idx(2)), name: "anything").count, 2)
    }

    func testEveryBadInputIsNamedWithItsReason() {
        assertRejected([], name: "empty.png", "the file is empty", as: .empty)
        assertRejected([], name: "empty", "the file is empty", as: .empty)
        assertRejected([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 1, count: 100), name: "photo.png", "JPEG", as: .unsupported)
        assertRejected(Array("hello world".utf8), name: "notes.txt", "neither a PNG nor an IDX image file", as: .unsupported)
        assertRejected([0, 0, 0x0D, 3] + [UInt8](repeating: 0, count: 12), name: "batch.idx3", "element type is not supported", as: .unsupported)
        assertRejected([1, 2, 8, 3] + [UInt8](repeating: 0, count: 12), name: "batch-idx3-ubyte", "not an IDX file", as: .unsupported)
        assertRejected(Array(idx(5).dropLast(784 * 2)), name: "short.idx3", "IDX header claims more data than the file holds", as: .malformed)
        assertRejected(idx(2, 20), name: "wrong.idx", "expected N×28×28 images, found another shape", as: .unsupported)
        assertRejected([0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 28, 0, 0, 0, 28], name: "absurd.idx3", "over the limit", as: .overLimit)
        assertRejected(idx(51), name: "many.idx3", "raise --max-idx-images", as: .overLimit)
        assertRejected(Array(gzip(idx(2)).prefix(30)), name: "broken.idx3.gz", "broken.idx3.gz", as: .malformed)
        assertRejected([0x89, 0x50, 0x4E, 0x47, 0x0D], name: "cut.png", "truncated inside the signature", as: .malformed)
    }

    /// A file that cannot be read is `unreadable`; one over the byte limit, `overLimit`.
    func testAFileThatCannotBeReadSaysSo() throws {
        let directory = NSTemporaryDirectory() + "decoder-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cases: [(String, FormatError.Kind)] = [("missing.png", .unreadable), ("a-directory.png", .unreadable), ("huge.idx3", .overLimit)]
        try FileManager.default.createDirectory(atPath: directory + "/a-directory.png", withIntermediateDirectories: false)
        try Data(count: (1 << 20) + 1).write(to: URL(fileURLWithPath: directory + "/huge.idx3"))
        for (name, kind) in cases {
            XCTAssertThrowsError(try decoder.decode(path: directory + "/" + name, displayName: name)) { error in
                XCTAssertEqual((error as? FormatError)?.kind, kind, "\(error)")
                XCTAssertTrue("\(error)".hasPrefix(name + ": "), "\(error)")
            }
        }
    }

    /// A gzip batch over the image limit is refused as a plain one is: by the image limit and
    /// the flag that raises it, not by the bytes that limit allows.
    func testIDXOverTheImageLimitNamesItPlainOrGzip() {
        for (name, bytes) in [("many.idx3", idx(51)), ("many.idx3.gz", gzip(idx(51)))] {
            assertRejected(bytes, name: name, "holds more than 50 images, over the limit (raise --max-idx-images to accept it)", as: .overLimit)
        }
        for bytes in [idx(50), gzip(idx(50))] { XCTAssertEqual(try decoder.decode(bytes: bytes, name: "full.idx3").count, 50) }
    }

    /// How bytes of a file could show in a message: as text, as hex (the check ignores case),
    /// and as one big-endian number.
    func renderings(_ bytes: [UInt8]) -> [String] {
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
        return [String(decoding: bytes, as: UTF8.self), hex.joined(separator: " "), hex.joined(), String(bytes.reduce(0) { $0 << 8 | Int($1) })]
    }

    /// A PNG chunk: length, type, data and CRC.
    func chunk(_ type: [UInt8], _ data: [UInt8], claiming length: Int? = nil) -> [UInt8] {
        let claimed = UInt32(length ?? data.count)
        return (0..<4).map { UInt8(truncatingIfNeeded: claimed >> (24 - 8 * $0)) } + type + data
            + withUnsafeBytes(of: CRC32.checksum(type + data).bigEndian) { Array($0) }
    }

    /// The daemon classifies any path a socket peer names, and promises predictions, not contents:
    /// a refusal says what the file is not, never what it holds (no bytes, chunk types, lengths or
    /// dimensions read from it).
    func testErrorsNeverQuoteTheFile() throws {
        let shadow = Array("root:x:0:0:root:/root:/bin/bash\n".utf8)
        let png = try encodePNG(RasterImage(width: 28, height: 28, channels: 1, samples: [UInt8](repeating: 9, count: 784)))
        let ihdrEnd = 33
        func withChunk(_ chunk: [UInt8]) -> [UInt8] { Array(png.prefix(ihdrEnd)) + chunk + png.dropFirst(ihdrEnd) }
        var badIHDRCRC = png
        badIHDRCRC[30] ^= 0x5A
        let huge = chunk(Array("IHDR".utf8), [0, 0, 0x30, 0x39, 0, 0, 0x1A, 0x85, 8, 0, 0, 0, 0])  // 12345×6789
        func idxHeader(_ dimensions: [UInt32], type: UInt8 = 8) -> [UInt8] {
            [0, 0, type, UInt8(dimensions.count)] + dimensions.flatMap { d in (0..<4).map { UInt8(truncatingIfNeeded: d >> (24 - 8 * $0)) } }
        }
        let cases: [(name: String, bytes: [UInt8], secrets: [String])] = [
            ("shadow", shadow, renderings(Array("root".utf8))),
            ("shadow.idx", shadow, renderings(Array("root".utf8))),
            ("shadow.png", shadow, renderings(Array("root".utf8))),
            ("shadow-idx3-ubyte.gz", gzip(shadow), renderings(Array("root".utf8))),
            ("critical.png", withChunk(chunk(Array("ZQXW".utf8), Array("hello".utf8))), renderings(Array("ZQXW".utf8))),
            ("unprintable.png", withChunk(chunk([0x5A, 0x01, 0xFE, 0x57], [])), ["[01]", "[FE]"] + renderings([0x01, 0xFE])),
            ("long.png", withChunk(chunk(Array("vpAg".utf8), [1, 2, 3], claiming: 0x0BAD_F00D)), renderings(Array("vpAg".utf8)) + renderings([0x0B, 0xAD, 0xF0, 0x0D])),
            ("crc.png", badIHDRCRC, ["IHDR"]),
            ("cut.png", Array(png.prefix(png.count - 20)), ["IDAT", "IEND"]),
            ("huge.png", Array(png.prefix(8)) + huge + png.dropFirst(ihdrEnd), ["12345", "6789"]),
            ("shape.idx", idxHeader([3, 4, 5]) + [UInt8](repeating: 1, count: 60), ["3×4×5", "4×5", "60"]),
            ("short.idx", idxHeader([37, 28, 28]) + [UInt8](repeating: 1, count: 784), ["37×28", "29008", "784"]),
            ("many.idx", idxHeader([9999, 28, 28]), ["9999", "7839216"]),
            ("floats.idx", idxHeader([1, 28, 28], type: 0x0D) + [UInt8](repeating: 1, count: 784 * 4), ["0xd", "0x0d", "13"]),
            ("rank.idx", [0, 0, 8, 0x47] + [UInt8](repeating: 0, count: 64), ["71", "0x47", "47"]),
            ("header.idx", [0, 0, 8, 4, 0, 0], ["4 dimensions", "20 bytes"]),
        ]
        for (name, bytes, secrets) in cases {
            XCTAssertThrowsError(try decoder.decode(bytes: bytes, name: name), name) { error in
                let reason = (error as? FormatError)?.reason.lowercased() ?? "not a FormatError"
                for secret in secrets {
                    XCTAssertFalse(reason.contains(secret.lowercased()), "\(name): \"\(reason)\" shows \(secret)")
                }
            }
        }
    }

    func testPNGOverThePixelLimitNamesTheFlag() throws {
        let big = try encodePNG(RasterImage(width: 1001, height: 1000, channels: 1, samples: [UInt8](repeating: 0, count: 1_001_000)))
        assertRejected(big, name: "big.png", "raise --max-png-pixels", as: .overLimit)
    }

    /// The limits bound each input's work, not only its size: the largest PNG they allow
    /// (16 million pixels of 16-bit RGBA: 128 MB of image data from a 128 kB file) is decoded
    /// in a bounded time (data that inflates past its image is refused before: PNGTests).
    func testTheLargestPNGTheDefaultLimitsAllowIsDecodedInBoundedTime() throws {
        let side = 4000
        let row = [UInt8](repeating: 0, count: 1 + side * 8)
        var raw: [UInt8] = []
        raw.reserveCapacity(side * row.count)
        for y in 0..<side {
            var line = row
            if (side / 3..<2 * side / 3).contains(y) {
                for x in side / 3..<2 * side / 3 { for i in 0..<8 { line[1 + x * 8 + i] = 255 } }
            }
            raw += line
        }
        var length = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(length))
        XCTAssertEqual(compress2(&compressed, &length, raw, uLong(raw.count), 9), Z_OK)
        let header = [UInt32(side), UInt32(side)].flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }
        let png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk(Array("IHDR".utf8), header + [16, 6, 0, 0, 0])
            + chunk(Array("IDAT".utf8), Array(compressed.prefix(Int(length)))) + chunk(Array("IEND".utf8), [])
        let defaults = InputDecoder(limits: InputLimits())
        let clock = ContinuousClock()
        let started = clock.now
        let decoded = try defaults.decode(bytes: png, name: "largest.png")
        let seconds = (clock.now - started) / .seconds(1)
        XCTAssertEqual(decoded.count, 1)
        // ~1 s in a release build on a loaded 2-core VM; this build is a debug one.
        XCTAssertLessThan(seconds, 20, "the largest PNG the limits allow took \(seconds) s to decode")
    }
}
