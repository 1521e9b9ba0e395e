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
        XCTAssertEqual(fixed(0.000159, 6), "0.000159")
        XCTAssertEqual(fixed(1, 6), "1.000000")
    }

    /// Every value is written as its definition says: |value| × 10^digits rounded half away
    /// from zero, its decimal digits with a point `digits` from the end, a minus if nonzero.
    func testFixedPointMatchesItsDefinitionOnRandomValues() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let digits = Int.random(in: 0...18, using: &random)
            // Magnitudes whose scaled units stay below 2^63, for the reference's Int.
            let value = Double.random(in: -1...1, using: &random) * (digits > 8 ? 1 : [1, 10, 1e4, 1e7, 1e10].randomElement(using: &random)!)
            var scale = 1.0
            for _ in 0..<digits { scale *= 10 }
            let units = String(Int((abs(value) * scale).rounded()))
            let padded = String(repeating: "0", count: max(0, digits + 1 - units.count)) + units
            let expected = (value < 0 && units != "0" ? "-" : "") + String(padded.dropLast(digits))
                + (digits > 0 ? "." + String(padded.suffix(digits)) : "")
            XCTAssertEqual(fixed(value, digits), expected, "\(value) with \(digits) digits")
        }
    }

    /// Every digit of large numbers and of long fractions, as the digit loop before wrote them;
    /// a number too large for any integer is written as Swift writes it (it trapped converting
    /// to Int).
    func testFixedPointOfLargeNumbersAndLongFractions() {
        XCTAssertEqual(fixed(1e16, 0), "10000000000000000")
        XCTAssertEqual(fixed(1e10, 6), "10000000000.000000")
        XCTAssertEqual(fixed(9e15, 1), "9000000000000000.0")
        XCTAssertEqual(fixed(0.5, 17), "0.50000000000000000")
        XCTAssertEqual(fixed(1e300, 2), "1e+300")
        XCTAssertEqual(fixed(-3e38, 6), "-3e+38")
        XCTAssertEqual(fixed(2e19, 0), "2e+19")
    }

    func testDecimalIntegersAreWrittenAsStringDoes() {
        for value in [0, 7, 10, -42, 1_000_000, Int.max, Int.min] {
            var text: [UInt8] = []
            appendDecimal(value, to: &text)
            XCTAssertEqual(String(decoding: text, as: UTF8.self), String(value))
        }
    }
}
