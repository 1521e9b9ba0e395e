import Formats
import XCTest

final class CSVTests: XCTestCase {
    func testQuotesOnlyWhatNeedsIt() {
        var csv = CSVWriter(header: ["source", "label"])
        csv.appendRow(["plain.png", "7"])
        csv.appendRow(["a,b \"q\".png", "1"])
        csv.appendRow(["line\nbreak.png", ""])
        XCTAssertEqual(csv.text, "source,label\r\nplain.png,7\r\n\"a,b \"\"q\"\".png\",1\r\n\"line\nbreak.png\",\r\n")
    }

    func testFieldsAppendedOneByOneMatchAWholeRow() {
        var whole = CSVWriter(header: ["name", "n", "p"])
        whole.appendRow(["a \"b\".png", "-12", "0.500000"])
        whole.appendRow(["", "0", "1.000000"])
        var byField = CSVWriter(header: ["name", "n", "p"])
        byField.appendField("a \"b\".png")
        byField.appendField(-12)
        byField.appendField(0.5, digits: 6)
        byField.endRow()
        byField.appendField("")
        byField.appendField(0)
        byField.appendField(0.9999996, digits: 6)
        byField.endRow()
        XCTAssertEqual(byField.text, whole.text)
        XCTAssertEqual(byField.bytes, Array(whole.text.utf8))
    }

    func testParseInvertsWrite() {
        let rows = [["h1", "h2", "h3"], ["a,b", "say \"hi\"", ""], ["multi\r\nline", "x", "y"]]
        var csv = CSVWriter(header: rows[0])
        for row in rows.dropFirst() { csv.appendRow(row) }
        XCTAssertEqual(parseCSV(csv.text), rows)
    }
}

final class NumberFormattingTests: XCTestCase {
    func testFixedPointRoundsAndPads() {
        XCTAssertEqual(fixed(0.99555, 4), "0.9956")
        XCTAssertEqual(fixed(3, 2), "3.00")
        XCTAssertEqual(fixed(-0.05, 1), "-0.1")
        XCTAssertEqual(fixed(-0.0001, 2), "0.00")
        XCTAssertEqual(fixed(12.7, 0), "13")
        XCTAssertEqual(fixed(.nan, 2), "nan")
        XCTAssertEqual(fixed(0.0000004, 6), "0.000000")
        XCTAssertEqual(fixed(0.0304, 3), "0.030")
        XCTAssertEqual(fixed(1234.5678, 2), "1234.57")
    }

    func testDecimalIntegersAreWrittenAsStringDoes() {
        for value in [0, 7, 10, -42, 1_000_000, Int.max, Int.min] {
            var text: [UInt8] = []
            appendDecimal(value, to: &text)
            XCTAssertEqual(String(decoding: text, as: UTF8.self), String(value))
        }
    }
}
