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

    func testParseInvertsWrite() {
        let rows = [["h1", "h2", "h3"], ["a,b", "say \"hi\"", ""], ["multi\r\nline", "x", "y"]]
        var csv = CSVWriter(header: rows[0])
        for row in rows.dropFirst() { csv.appendRow(row) }
        XCTAssertEqual(parseCSV(csv.text), rows)
    }

    func testLineChartIsAStandaloneSVGWithLabels() {
        let chart = LineChartSVG(title: "curve <1>", xLabel: "epoch", leftLabel: "accuracy", rightLabel: "loss", series: [
            .init(name: "test accuracy", values: [0.9, 0.95, 0.99], color: "red"),
            .init(name: "loss", values: [0.5, 0.2, .nan], color: "blue", onRightAxis: true),
        ]).render()
        XCTAssertTrue(chart.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(chart.hasSuffix("</svg>\n"))
        for text in ["curve &lt;1&gt;", ">epoch<", ">accuracy<", ">loss<", "test accuracy", "(right axis)"] {
            XCTAssertTrue(chart.contains(text), text)
        }
        XCTAssertEqual(chart.components(separatedBy: "<polyline").count - 1, 2)
        XCTAssertFalse(chart.contains("nan"))
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
    }
}
