@testable import Daemon
import Formats
import XCTest

final class InputDecoderTests: XCTestCase {
    let decoder = InputDecoder(limits: InputLimits(maxFileBytes: 1 << 20, maxPNGPixels: 1_000_000, maxIDXImages: 50))

    func assertRejected(_ bytes: [UInt8], name: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decoder.decode(bytes: bytes, name: name), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("\(name): "), "\(text) does not name \(name)", file: file, line: line)
            XCTAssertTrue(text.contains(expected), "\(text) lacks \(expected)", file: file, line: line)
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
        assertRejected([], name: "empty.png", "the file is empty")
        assertRejected([], name: "empty", "the file is empty")
        assertRejected([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 1, count: 100), name: "photo.png", "JPEG")
        assertRejected(Array("hello world".utf8), name: "notes.txt", "neither a PNG nor an IDX image file (it starts with 68 65 6c 6c)")
        assertRejected([0, 0, 0x0D, 3] + [UInt8](repeating: 0, count: 12), name: "batch.idx3", "element type 0xd")
        assertRejected([1, 2, 8, 3] + [UInt8](repeating: 0, count: 12), name: "batch-idx3-ubyte", "not an IDX file (magic 01 02 08 03")
        assertRejected(Array(idx(5).dropLast(784 * 2)), name: "short.idx3", "claims 5×28×28 = 3920 bytes of data, the file holds only 2352")
        assertRejected(idx(2, 20), name: "wrong.idx", "expected N×28×28 images, found 2×20×20")
        assertRejected([0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 28, 0, 0, 0, 28], name: "absurd.idx3", "over the limit")
        assertRejected(idx(51), name: "many.idx3", "raise --max-idx-images")
        assertRejected(Array(gzip(idx(2)).prefix(30)), name: "broken.idx3.gz", "broken.idx3.gz")
    }

    func testPNGOverThePixelLimitNamesTheFlag() throws {
        let big = try encodePNG(RasterImage(width: 1001, height: 1000, channels: 1, samples: [UInt8](repeating: 0, count: 1_001_000)))
        assertRejected(big, name: "big.png", "raise --max-png-pixels")
    }
}
