@testable import Drawing
import Formats
import XCTest

final class BitmapFontTests: XCTestCase {
    func testEveryGlyphIsFiveBySevenOfInkAndPaper() {
        for (character, rows) in BitmapFont.glyphs {
            XCTAssertEqual(rows.count, BitmapFont.glyphHeight, "\(character)")
            for row in rows {
                XCTAssertEqual(row.count, BitmapFont.glyphWidth, "\(character)")
                XCTAssertTrue(row.allSatisfy { $0 == "#" || $0 == "." }, "\(character): \(row)")
            }
        }
        for character in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:%-+/()=<>_? " {
            XCTAssertNotNil(BitmapFont.glyphs[character], "no glyph for \(character)")
        }
    }

    func testGlyphsAreDistinct() {
        let shapes = BitmapFont.glyphs.map { $0.value.joined() }
        XCTAssertEqual(Set(shapes).count, shapes.count, "two characters share a glyph")
    }

    func testLowerCaseIsDrawnAsCapitalsAndUnknownAsQuestionMark() {
        for y in 0..<7 {
            for x in 0..<5 {
                XCTAssertEqual(BitmapFont.ink("a", x: x, y: y), BitmapFont.ink("A", x: x, y: y))
                XCTAssertEqual(BitmapFont.ink("é", x: x, y: y), BitmapFont.ink("?", x: x, y: y))
            }
        }
    }
}

final class CanvasTests: XCTestCase {
    func inkBounds(_ canvas: Canvas, background: Color = .white) -> (x0: Int, y0: Int, x1: Int, y1: Int)? {
        var bounds: (Int, Int, Int, Int)?
        for y in 0..<canvas.height {
            for x in 0..<canvas.width where canvas.color(x, y) != background {
                bounds = bounds.map { (min($0.0, x), min($0.1, y), max($0.2, x), max($0.3, y)) } ?? (x, y, x, y)
            }
        }
        return bounds
    }

    func testTextCoversItsMeasuredBoxAndAnchorsWhereAsked() throws {
        for anchor in [TextAnchor.left, .center, .right] {
            var canvas = Canvas(width: 200, height: 40)
            canvas.text("H1", x: 100, y: 10, scale: 2, anchor: anchor)
            let width = Canvas.textWidth("H1", scale: 2)
            XCTAssertEqual(width, 22)
            let box = try XCTUnwrap(inkBounds(canvas))
            let left = anchor == .left ? 100 : anchor == .center ? 100 - width / 2 : 100 - width
            // "H" fills its first column; "1" ends one column short of its cell ("..#..": last ink at column 3).
            XCTAssertEqual(box.x0, left, "\(anchor)")
            XCTAssertEqual(box.y0, 10)
            XCTAssertEqual(box.y1, 10 + Canvas.textHeight(scale: 2) - 1)
            XCTAssertEqual(box.x1, left + (6 + 3) * 2 + 1, "\(anchor)")
        }
    }

    func testDrawingOutsideIsClipped() {
        var canvas = Canvas(width: 10, height: 10)
        canvas.fill(x: -5, y: -5, width: 100, height: 7, .red)
        canvas.line(from: (-20, 5), to: (30, 5), .blue, thickness: 3)
        canvas.text("WIDE TEXT", x: -30, y: 8, scale: 3)
        XCTAssertEqual(canvas.color(0, 0), .red)
        XCTAssertEqual(canvas.color(9, 1), .red)
        XCTAssertEqual(canvas.color(9, 5), .blue)
    }

    func testMixingGoesFromOneColourToTheOther() {
        XCTAssertEqual(Color.white.mixed(with: .black, 0), .white)
        XCTAssertEqual(Color.white.mixed(with: .black, 1), .black)
        XCTAssertEqual(Color.white.mixed(with: .black, 0.5), Color(128, 128, 128))
        XCTAssertEqual(Color.white.mixed(with: .black, 7), .black)
        XCTAssertEqual(Color.white.mixed(with: .black, .nan), .white)
    }

    func testPNGHoldsExactlyTheCanvas() throws {
        var canvas = Canvas(width: 31, height: 17)
        canvas.line(from: (0, 0), to: (30, 16), .orange, thickness: 2)
        canvas.image([0, 0.5, 1, 0.25], width: 2, height: 2, x: 20, y: 2, scale: 3)
        let png = try canvas.encodedPNG()
        // IHDR right after the signature: width, height, bit depth 8, colour type 2 (RGB).
        XCTAssertEqual(Array(png[12..<16]), Array("IHDR".utf8))
        XCTAssertEqual(Array(png[16..<26]), [0, 0, 0, 31, 0, 0, 0, 17, 8, 2])
        // Our decoder reads it back (as gray + alpha): paper white, the image's ink black.
        let decoded = try decodePNG(png, source: "canvas")
        XCTAssertEqual(decoded.width, 31)
        XCTAssertEqual(decoded.height, 17)
        XCTAssertEqual(decoded.samples[(16 * 31 + 0) * 2], 255)
        XCTAssertEqual(decoded.samples[(6 * 31 + 21) * 2], 0, "the image's pixel of value 1 is ink")
    }
}

final class ChartTests: XCTestCase {
    func testConfusionMatrixShadesHitsBlueAndMistakesRed() {
        let counts = [[90, 10, 0], [0, 100, 0], [1, 0, 99]]
        let canvas = Charts.confusionMatrix(counts, title: "t")
        // Cells are 52 px from (90, 100); sample a corner, away from the number.
        func cell(_ truth: Int, _ predicted: Int) -> Color { canvas.color(90 + predicted * 52 + 3, 100 + truth * 52 + 3) }
        XCTAssertEqual(cell(1, 1), .blue, "a row wholly right is full blue")
        XCTAssertEqual(cell(0, 2), .white, "no mistakes, no colour")
        XCTAssertEqual(cell(0, 1), .red, "the largest mistake is full red")
        let small = cell(2, 0)
        XCTAssertTrue(small != .white && small != .red, "a smaller mistake is lighter: \(small)")
    }

    func testReliabilityBarsReachEachBinsAccuracy() {
        let bins = (0..<10).map { k in (count: k == 9 ? 100 : 0, meanConfidence: 0.97, accuracy: 0.5) }
        let canvas = Charts.reliabilityDiagram([.init(title: "p", bins: bins)], title: "t")
        // Frame: left 80, top 110, 360 px square; bin 9 spans x 404...440; accuracy 0.5 is y = 290.
        XCTAssertEqual(canvas.color(420, 295), .blue)
        XCTAssertNotEqual(canvas.color(420, 270), .blue, "the bar stops at its accuracy")
        XCTAssertEqual(canvas.color(420, Int((110 + 360 - 0.97 * 360).rounded())), .red, "the mean confidence is marked")
        XCTAssertNotEqual(canvas.color(100, 440), .blue, "an empty bin has no bar")
    }

    func testFilterGridColoursSignsAndLineChartsSkipMissingValues() {
        let grid = Charts.filterGrid([[1, -1, 0, 0.5]], side: 2, columns: 1, title: "f")
        let scale = 48
        XCTAssertEqual(grid.color(20 + 1, 80 + 1), .red)
        XCTAssertEqual(grid.color(20 + scale + 1, 80 + 1), .blue)
        XCTAssertEqual(grid.color(20 + 1, 80 + scale + 1), .white)
        // Values 1, missing, 3 and 4: markers at steps 1, 3 and 4, a line only from 3 to 4.
        let values = [1, .nan, 3, 4.0]
        let chart = Charts.lineCharts([("a", [.init(name: "s", values: values, color: .green)])], xLabel: "x", title: "t")
        let ticks = roundTicks(1, 4)
        let frame = PlotFrame(left: 90, top: 90, width: 440, height: 300, x: 1...4, y: ticks.first!...ticks.last!)
        func ink(atStep step: Double, _ value: Double) -> Color { chart.color(Int(frame.x(step)), Int(frame.y(value))) }
        XCTAssertEqual(ink(atStep: 1, 1), .green, "the first value is marked")
        XCTAssertEqual(ink(atStep: 3, 3), .green)
        XCTAssertEqual(ink(atStep: 3.5, 3.5), .green, "present neighbours are joined")
        XCTAssertNotEqual(ink(atStep: 2, 2), .green, "no line runs across the missing value")
        XCTAssertNotEqual(ink(atStep: 1.5, 1.5), .green)
    }

    func testRoundTicksCoverTheRangeInSteps125() {
        XCTAssertEqual(roundTicks(0.87, 0.997), [0.85, 0.9, 0.95, 1.0], accuracy: 1e-9)
        XCTAssertEqual(roundTicks(0, 0.44), [0, 0.1, 0.2, 0.3, 0.4, 0.5], accuracy: 1e-9)
        XCTAssertEqual(roundTicks(3, 3), [2.5, 3.5])
    }
}

func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(a) vs \(b)", file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, "\(a) vs \(b)", file: file, line: line) }
}
