import Formats
import SystemResources
import XCTest

final class IDXTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = "/tmp/mnistd-formats-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(mkdir(directory, 0o755), 0)
    }

    override func tearDown() {
        _ = try? FileManager.default.removeItem(atPath: directory)
    }

    let images = IDXArray(dimensions: [3, 2, 4], bytes: Array(0..<24))

    func testRoundTripPlainAndGzip() throws {
        for compressed in [false, true] {
            let path = "\(directory)/images-\(compressed)"
            try writeIDX(images, to: path, compressed: compressed)
            let raw = try readFile(path)
            XCTAssertEqual(isGzip(raw), compressed)
            XCTAssertEqual(try readIDX(path), images)
        }
    }

    func testHeaderLayout() {
        XCTAssertEqual(Array(images.encoded.prefix(16)), [0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 4])
    }

    func expectError(_ bytes: [UInt8], _ reason: String, limits: IDXLimits = IDXLimits(), line: UInt = #line) {
        XCTAssertThrowsError(try parseIDX(bytes, source: "in.idx", limits: limits), line: line) { error in
            XCTAssertEqual("\(error)", "in.idx: \(reason)", line: line)
        }
    }

    func testMalformedFilesGetTheirReason() {
        let good = images.encoded
        expectError([], "too short for an IDX header")
        expectError([0x89, 0x50, 0x4E, 0x47, 1, 2], "not an IDX file (it does not start with the IDX magic number 00 00 08 0N)")
        expectError([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], "IDX element type is not supported (only unsigned bytes, 0x08)")
        expectError([0, 0, 8, 9], "IDX rank is not supported (1 to 4 dimensions)")
        expectError([0, 0, 8, 3, 0, 0], "truncated IDX header")
        expectError(Array(good.dropLast(5)), "IDX header claims more data than the file holds (truncated)")
        expectError(good + [1, 2], "the file holds more data than its IDX header claims (trailing garbage)")
        // A header claiming 4 × 2³² bytes is refused from the header alone.
        expectError([0, 0, 8, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 4],
                    "IDX header claims more data than allowed, over the limit of 536870912 bytes")
        // Dimensions whose product overflows stay refused even when a later one is zero.
        expectError([0, 0, 8, 4, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0],
                    "IDX header claims more data than allowed, over the limit of 536870912 bytes")
        // And when the zero comes first: no images of a size that cannot be counted (found by
        // `make fuzz` once NeuralNet kept its overflow checks: the image size trapped).
        expectError([0, 0, 8, 3, 0, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xE9, 0xFF, 0xFF, 0xFF, 0xE3],
                    "IDX header claims more data than allowed, over the limit of 536870912 bytes")
    }

    func testBrokenGzipIsReported() {
        let compressed = gzip(images.encoded)
        expectError(Array(compressed.prefix(compressed.count / 2)), "gzip data is truncated")
        var corrupt = compressed
        corrupt[12] ^= 0xFF
        corrupt[13] ^= 0xFF
        XCTAssertThrowsError(try parseIDX(corrupt, source: "in.idx")) { error in
            XCTAssertTrue("\(error)".hasPrefix("in.idx: gzip data is corrupt"), "\(error)")
        }
    }

    /// A gzip file is inflated no further than the limit allows (and a header and a byte more),
    /// then checked as a plain file: refused for what its header claims, or for holding more.
    func testGzipBombStopsAtTheLimit() {
        let limits = IDXLimits(maxDataBytes: 1000)
        expectError(gzip([0, 0, 8, 1, 0, 1, 0, 0] + [UInt8](repeating: 0, count: 65_536)),
                    "IDX header claims more data than allowed, over the limit of 1000 bytes", limits: limits)
        expectError(gzip([0, 0, 8, 1, 0, 0, 3, 0xE8] + [UInt8](repeating: 0, count: 65_536)),
                    "the file holds more data than its IDX header claims (trailing garbage)", limits: limits)
        XCTAssertThrowsError(try gunzip(gzip([UInt8](repeating: 0, count: 65_536)), source: "in.gz", maxBytes: 1000)) { error in
            XCTAssertEqual("\(error)", "in.gz: gzip data expands beyond the limit of 1000 bytes")
        }
    }

    /// Members joined (`cat a.gz b.gz`) are one gzip file, as `gzip -d` reads it; the limit
    /// holds for all of them together, and bytes after the last member are ignored, as gzip does.
    func testGzipMembersAreReadOneAfterAnother() throws {
        let encoded = images.encoded
        let members = gzip(Array(encoded.prefix(10))) + gzip([]) + gzip(Array(encoded.dropFirst(10)))
        XCTAssertEqual(try parseIDX(members, source: "in.idx"), images)
        XCTAssertEqual(try gunzip(members, source: "in.idx", maxBytes: encoded.count), encoded)
        XCTAssertThrowsError(try gunzip(members, source: "in.idx", maxBytes: encoded.count - 1)) { error in
            XCTAssertEqual("\(error)", "in.idx: gzip data expands beyond the limit of \(encoded.count - 1) bytes")
        }
        XCTAssertEqual(try gunzip(gzip(encoded) + [0, 0, 7, 1], source: "in.idx", maxBytes: encoded.count), encoded)
        expectError(Array(members.dropLast(3)), "gzip data is truncated")
    }

    func testReadsTheMNISTPairAndChecksCounts() throws {
        let labels = IDXArray(dimensions: [3], bytes: [7, 2, 1])
        try writeIDX(images, to: "\(directory)/t10k-images-idx3-ubyte.gz", compressed: true)
        try writeIDX(labels, to: "\(directory)/t10k-labels-idx1-ubyte", compressed: false)
        let pair = try readMNIST(directory: directory, split: .test)
        XCTAssertEqual(pair.count, 3)
        XCTAssertEqual(pair.height, 2)
        XCTAssertEqual(pair.width, 4)
        XCTAssertEqual(pair.labels, [7, 2, 1])

        try writeIDX(IDXArray(dimensions: [2], bytes: [1, 2]), to: "\(directory)/t10k-labels-idx1-ubyte", compressed: false)
        XCTAssertThrowsError(try readMNIST(directory: directory, split: .test)) { error in
            XCTAssertEqual("\(error)", "\(directory)/t10k-labels-idx1-ubyte: the number of labels is not the number of images in \(directory)/t10k-images-idx3-ubyte.gz")
        }
        XCTAssertThrowsError(try readMNIST(directory: directory, split: .train)) { error in
            XCTAssertEqual("\(error)", "\(directory)/train-images-idx3-ubyte: not found (looked for train-images-idx3-ubyte and train-images-idx3-ubyte.gz)")
        }
    }

    func testReadFileRefusesDirectoriesAndOversizedFiles() throws {
        XCTAssertThrowsError(try readFile(directory)) { XCTAssertEqual("\($0)", "\(directory): not a regular file (directory)") }
        try writeFileAtomically("\(directory)/big", [UInt8](repeating: 1, count: 100))
        XCTAssertThrowsError(try readFile("\(directory)/big", maxBytes: 99)) {
            XCTAssertEqual("\($0)", "\(directory)/big: file is 100 bytes, over the limit of 99")
        }
        XCTAssertThrowsError(try readFile("\(directory)/missing")) {
            XCTAssertEqual("\($0)", "\(directory)/missing: cannot open: No such file or directory")
        }
    }

    func testAtomicWriteLeavesNoTemporaryFiles() throws {
        try writeFileAtomically("\(directory)/a.csv", Array("one".utf8))
        try writeFileAtomically("\(directory)/a.csv", Array("two".utf8))
        XCTAssertEqual(try readFile("\(directory)/a.csv"), Array("two".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["a.csv"])
    }
}
