@testable import InputSpool
import SystemResources
import XCTest

final class InboxNamesTests: XCTestCase {
    func testHiddenAndTemporaryNamesWaitForTheirRename() {
        for name in [".digit.png", ".digit.png.Xy12Ab", "digit.png.tmp", "batch.idx3.part", "x.PARTIAL", ".claimed"] {
            XCTAssertFalse(InboxNames.isInput(name), name)
        }
        for name in ["digit.png", "t10k-images-idx3-ubyte.gz", "a b, \"c\".png", "tmp.png", "part"] {
            XCTAssertTrue(InboxNames.isInput(name), name)
        }
    }
}

final class EscapedNameTests: XCTestCase {
    func testANameThatIsNotUTF8IsWrittenWithItsStrayBytesEscaped() {
        XCTAssertNil(escapedName(Array("digit-é.png".utf8)), "UTF-8 stays as it is")
        let cases: [([UInt8], String)] = [
            ([0xFF, 0xFE] + Array(".png".utf8), "\\xff\\xfe.png"),
            (Array("bad".utf8) + [0xC3, 0x28] + Array("utf8.png".utf8), "bad\\xc3(utf8.png"),
            ([0xED, 0xA0, 0x80] + Array(".png".utf8), "\\xed\\xa0\\x80.png"),       // a lone surrogate
            ([0xC0, 0xAF] + Array(".png".utf8), "\\xc0\\xaf.png"),                // an overlong "/"
            (Array("é".utf8) + [0x80] + Array("é".utf8), "é\\x80é"),
            ([0xF4, 0x90, 0x80, 0x80], "\\xf4\\x90\\x80\\x80"),              // past U+10FFFF
            ([0x01, 0xE2, 0x82], "\u{01}\\xe2\\x82"),                       // a sequence cut short
        ]
        for (bytes, escaped) in cases {
            XCTAssertEqual(escapedName(bytes), escaped, "\(bytes)")
            XCTAssertFalse(escapedName(bytes)?.contains("/") ?? true)
        }
    }
}

final class NameVariantTests: XCTestCase {
    func testVariantsKeepTheExtension() {
        XCTAssertEqual(variant(of: "digit.png", 0), "digit.png")
        XCTAssertEqual(variant(of: "digit.png", 2), "digit-2.png")
        XCTAssertEqual(variant(of: "batch.idx3.gz", 1), "batch-1.idx3.gz")
        XCTAssertEqual(variant(of: "t10k-images-idx3-ubyte", 3), "t10k-images-idx3-ubyte-3")
        XCTAssertEqual(variant(of: ".hidden", 1), ".hidden-1")
    }

    func testVariantsFitInADirectoryEntry() {
        let long = String(repeating: "é", count: 125) + ".png"
        XCTAssertEqual(long.utf8.count, 254)
        for attempt in [0, 1, 12345] {
            let name = variant(of: long, attempt, reserving: ".error".utf8.count)
            XCTAssertLessThanOrEqual(name.utf8.count + 6, 255)
            XCTAssertTrue(name.hasSuffix(attempt == 0 ? ".png" : "-\(attempt).png"))
        }
    }

    /// Every name the kernel takes, however its bytes fall into stem and extension, has
    /// variants that fit with any suffix the spool adds.
    func testEveryVariantFitsWhateverTheExtensionsLength() {
        let names = ["a." + String(repeating: "x", count: 250), "." + String(repeating: "x", count: 254),
                     String(repeating: "x", count: 255), "a.b." + String(repeating: "x", count: 248) + ".gz",
                     String(repeating: "x", count: 120) + "." + String(repeating: "é", count: 67),
                     "x." + String(repeating: "é", count: 126) + "x"]
        for name in names {
            XCTAssertLessThanOrEqual(name.utf8.count, 255, name)
            var seen: Set<String> = []
            for attempt in [0, 1, 9, 10, 12345, Int.max] {
                for suffix in ["", ".csv", ".error"] {
                    let variant = variant(of: name, attempt, reserving: suffix.utf8.count)
                    XCTAssertLessThanOrEqual(variant.utf8.count + suffix.utf8.count, 255, "\(name) \(attempt)")
                    XCTAssertFalse(variant.isEmpty)
                    if suffix.isEmpty { XCTAssertTrue(seen.insert(variant).inserted, "\(name): attempt \(attempt) repeats a name") }
                }
            }
            XCTAssertTrue(variant(of: name, 0).hasPrefix(String(name.prefix(1))))
        }
    }
}
