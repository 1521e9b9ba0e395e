import CZlib
import Formats
import SystemResources
import XCTest

/// `../shared/testdata/png/<name>` next to the repository, or a skip saying where it looked.
func sharedPNGDirectory(_ name: String) throws -> String {
    var root = #filePath
    for _ in 0..<3 { root = String(root[..<root.lastIndex(of: "/")!]) }
    let directory = "\(root)/../shared/testdata/png/\(name)"
    guard FileManager.default.fileExists(atPath: directory) else { throw XCTSkip("PNG test data not found at \(directory)") }
    return directory
}

final class PNGTests: XCTestCase {
    func gradient(channels: Int, width: Int = 7, height: Int = 5) -> RasterImage {
        RasterImage(width: width, height: height, channels: channels,
                    samples: (0..<width * height * channels).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) })
    }

    func testRoundTripEveryColourType() throws {
        for channels in 1...4 {
            let image = gradient(channels: channels)
            let decoded = try decodePNG(try encodePNG(image), source: "round-trip")
            XCTAssertEqual(decoded.width, image.width)
            XCTAssertEqual(decoded.height, image.height)
            XCTAssertEqual(decoded.channels, 2, "decoding always gives gray + alpha")
            for pixel in 0..<image.width * image.height {
                let alpha = channels == 2 || channels == 4 ? image.samples[pixel * channels + channels - 1] : 255
                XCTAssertEqual(decoded.samples[pixel * 2 + 1], alpha, "alpha of pixel \(pixel), \(channels) channels")
                if channels == 1 || channels == 2 {
                    XCTAssertEqual(decoded.samples[pixel * 2], image.samples[pixel * channels], "gray of pixel \(pixel)")
                }
            }
        }
    }

    func testPngSuiteDecodesEveryFileAndInterlacedTwinsAgree() throws {
        let directory = try sharedPNGDirectory("pngsuite")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".png") }.sorted()
        XCTAssertGreaterThan(names.count, 50)
        var decoded: [String: RasterImage] = [:]
        for name in names {
            decoded[name] = try decodePNG(readFile("\(directory)/\(name)"), source: name)
        }
        var twins = 0
        // The 16-bit "i" files of this copy hold another pattern than their namesakes (their
        // first rows differ in the raw samples), so only the 8-bit and palette pairs are twins.
        for name in names where name.hasPrefix("i") && !name.contains("16") {
            guard let plain = decoded[String(name.dropFirst())] else { continue }
            XCTAssertTrue(decoded[name] == plain, "\(name) and its non-interlaced twin decode differently")
            XCTAssertTrue(DigitNormalization.normalize(decoded[name]!) == DigitNormalization.normalize(plain),
                          "\(name) and its non-interlaced twin normalise differently")
            twins += 1
        }
        XCTAssertEqual(twins, 14)
    }

    func testLibpngCrashersEndInAnImageOrAnError() throws {
        let directory = try sharedPNGDirectory("crashers")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        XCTAssertFalse(names.isEmpty)
        for name in names {
            do {
                let image = try decodePNG(readFile("\(directory)/\(name)"), source: name)
                XCTAssertEqual(image.samples.count, image.width * image.height * 2)
            } catch let error as FormatError {
                XCTAssertEqual(error.file, name)
                XCTAssertFalse(error.reason.isEmpty)
            }
        }
    }

    func assertRefused(_ bytes: [UInt8], _ expected: String, limits: PNGLimits = PNGLimits(), file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decodePNG(bytes, source: "input.png", limits: limits), file: file, line: line) { error in
            let error = error as? FormatError
            XCTAssertEqual(error?.file, "input.png", file: file, line: line)
            XCTAssertTrue(error?.reason.contains(expected) == true, "\(error?.reason ?? "no reason") lacks \(expected)", file: file, line: line)
        }
    }

    func testMalformedInputsGetTheirReason() throws {
        let valid = try encodePNG(gradient(channels: 1, width: 40, height: 40))
        assertRefused([], "empty")
        assertRefused([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 0x4A, 0x46], "JPEG")
        assertRefused(Array(valid.prefix(5)), "truncated inside the signature")
        assertRefused(Array(valid.prefix(valid.count / 2)), "truncated PNG: a chunk runs past the end of the file")
        assertRefused(Array(valid.prefix(20)), "truncated PNG: a chunk runs past the end of the file")
        assertRefused(Array(valid.prefix(33)) + valid.suffix(12), "not a valid PNG")
        var flipped = valid
        flipped[valid.count / 2] ^= 0xFF
        assertRefused(flipped, "PNG")
        var random = SystemRandomNumberGenerator()
        assertRefused((0..<500).map { _ in UInt8.random(in: 0...255, using: &random) }, "no PNG signature")
    }

    /// A small file whose image data inflates on past the image (a gigabyte of zeros from a
    /// megabyte) is refused at the first byte past it, without inflating the rest.
    func testImageDataGoingOnPastTheImageIsRefusedWithoutInflatingIt() throws {
        let digit = try encodePNG(gradient(channels: 1, width: 28, height: 28))
        let bomb = try withImageData(digit, extraZeros: 1 << 30)
        XCTAssertLessThan(bomb.count, 2 << 20)
        let clock = ContinuousClock()
        let elapsed = clock.measure { assertRefused(bomb, "corrupt PNG: its image data goes on past the end of the image") }
        XCTAssertLessThan(elapsed, .seconds(1))
    }

    /// The image data may hold exactly the filtered image (a filter byte and the row, for each
    /// row of each Adam7 pass): every colour type, bit depth and interlacing of PngSuite decodes
    /// as it did with its image data made again, and is refused with one byte more.
    func testImageDataEndsWhereEachPngSuiteLayoutEnds() throws {
        let directory = try sharedPNGDirectory("pngsuite")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".png") }.sorted()
        for name in names {
            let original = try readFile("\(directory)/\(name)")
            XCTAssertEqual(try decodePNG(withImageData(original, extraZeros: 0), source: name), try decodePNG(original, source: name), name)
            assertRefused(try withImageData(original, extraZeros: 1), "goes on past the end of the image")
        }
    }

    /// libpng reads nothing after IEND, and neither does the decoder: not a garbage tail, nor a
    /// second PNG.
    func testBytesAfterIENDAreIgnored() throws {
        let png = try encodePNG(gradient(channels: 1, width: 28, height: 28))
        let expected = try decodePNG(png, source: "input.png")
        // The tail read as a chunk header would claim 1195463234 bytes ("GARB") of type "AGEG".
        XCTAssertEqual(try decodePNG(png + Array("GARBAGEGARBAGEGARBAGE".utf8), source: "input.png"), expected)
        XCTAssertEqual(try decodePNG(png + encodePNG(gradient(channels: 3, width: 9, height: 4)), source: "input.png"), expected)
    }

    /// What follows the image data is not read, as libpng does not read it: two million small
    /// chunks after it (24 MB of text or metadata) cost nothing.
    func testChunksAfterTheImageDataAreNotRead() throws {
        let png = try encodePNG(gradient(channels: 1, width: 28, height: 28))
        var chunks = pngChunk("tEXt", [])
        while chunks.count < 24 << 20 { chunks += chunks }
        let file = Array(png.dropLast(12)) + chunks + png.suffix(12)
        let expected = try decodePNG(png, source: "input.png")
        let elapsed = try ContinuousClock().measure { XCTAssertEqual(try decodePNG(file, source: "input.png"), expected) }
        XCTAssertLessThan(elapsed, .milliseconds(500))
    }

    /// A 30000×30000 header over a few bytes of data is refused before any pixel is inflated.
    func testDecompressionBombIsRefusedFromItsHeader() throws {
        var bomb = try encodePNG(gradient(channels: 1, width: 8, height: 8))
        // IHDR data starts at byte 16: width and height, big-endian, then its CRC at 29.
        for (offset, value) in [(16, UInt32(30000)), (20, UInt32(30000))] {
            for i in 0..<4 { bomb[offset + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * i)) }
        }
        let crc = bomb[12..<29].withContiguousStorageIfAvailable { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }!
        for i in 0..<4 { bomb[29 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
        assertRefused(bomb, "PNG is over the limit of 16000000 pixels (raise --max-png-pixels to accept it)")
        assertRefused(try encodePNG(gradient(channels: 1, width: 20, height: 20)), "over the limit of 399 pixels", limits: PNGLimits(maxPixels: 399))
    }
}
