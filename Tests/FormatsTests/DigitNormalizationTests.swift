@testable import Formats
import XCTest

final class DigitNormalizationTests: XCTestCase {
    /// A 28×28 MNIST-like digit: a thick bar, off-centre.
    let bar: [UInt8] = (0..<784).map { i in (8..<22).contains(i / 28) && (9..<13).contains(i % 28) ? 255 : 0 }

    func testMNISTFormatPassesThroughUnchanged() {
        let digit = DigitNormalization.normalize(RasterImage(width: 28, height: 28, channels: 1, samples: bar))
        XCTAssertEqual(digit.pixels, bar)
        XCTAssertTrue(digit.hasInk)
    }

    func testDarkInkOnLightPaperIsInverted() {
        let paper = bar.map { 255 - $0 }
        XCTAssertEqual(DigitNormalization.normalize(RasterImage(width: 28, height: 28, channels: 1, samples: paper)).pixels, bar)
    }

    func testTransparencyIsCompositedOnPaperOfTheOppositeShade() {
        // Black ink whose shape is in the alpha channel: drawn on white, then inverted.
        let blackInk = bar.flatMap { [0, $0] as [UInt8] }
        XCTAssertEqual(DigitNormalization.normalize(RasterImage(width: 28, height: 28, channels: 2, samples: blackInk)).pixels, bar)
        let whiteInk = bar.flatMap { [255, 255, 255, $0] as [UInt8] }
        XCTAssertEqual(DigitNormalization.normalize(RasterImage(width: 28, height: 28, channels: 4, samples: whiteInk)).pixels, bar)
    }

    func testBlankAndUniformPicturesHaveNoInk() {
        for shade: UInt8 in [0, 128, 255] {
            let digit = DigitNormalization.normalize(RasterImage(width: 100, height: 60, channels: 1, samples: [UInt8](repeating: shade, count: 6000)))
            XCTAssertFalse(digit.hasInk)
            XCTAssertEqual(digit.pixels, [UInt8](repeating: 0, count: 784))
        }
    }

    /// Any picture ends with its ink's longer side at 20 px and its centre of mass centred.
    func testLargePictureIsCroppedScaledAndCentred() {
        let style = DigitStyle(ink: (20, 20, 90), paper: (250, 245, 230), width: 300, height: 180, channels: 3)
        let digit = DigitNormalization.normalize(style.render(bar))
        XCTAssertTrue(digit.hasInk)
        var rows = Set<Int>(), columns = Set<Int>()
        var mass = 0.0, sumX = 0.0, sumY = 0.0
        for (i, value) in digit.pixels.enumerated() where value > 0 {
            rows.insert(i / 28); columns.insert(i % 28)
            mass += Double(value); sumX += Double(value) * Double(i % 28); sumY += Double(value) * Double(i / 28)
        }
        XCTAssertEqual(max(rows.count, columns.count), 20, "the longer side spans 20 px")
        XCTAssertEqual(sumX / mass, 13.5, accuracy: 0.6)
        XCTAssertEqual(sumY / mass, 13.5, accuracy: 0.6)
        XCTAssertEqual(digit.pixels.max(), 255, "contrast is stretched to full ink")
    }

    /// A sheet lit from one side: the paper's shade runs from 110 to 250 across it. The dark
    /// side is paper, not ink: the digit comes out as it does on evenly lit paper.
    func testUnevenlyLitPaperIsNotTakenForInk() {
        let even = DigitNormalization.normalize(DigitStyle(ink: (30, 30, 30), paper: (230, 230, 230), width: 200, height: 200, channels: 1).render(bar))
        let drawn = DigitStyle(ink: (30, 30, 30), paper: (255, 255, 255), width: 200, height: 200, channels: 1).render(bar)
        var samples = drawn.samples
        for y in 0..<200 {
            for x in 0..<200 {
                // Ink keeps its shade; the paper darkens towards the left.
                let coverage = Float(255 - Int(drawn.samples[y * 200 + x])) / 225
                let paper = 110 + 140 * Float(x) / 199
                samples[y * 200 + x] = UInt8((paper + (30 - paper) * min(1, coverage)).rounded())
            }
        }
        let digit = DigitNormalization.normalize(RasterImage(width: 200, height: 200, channels: 1, samples: samples))
        XCTAssertTrue(digit.hasInk)
        let inkPixels = { (pixels: [UInt8]) in Set(pixels.indices.filter { pixels[$0] >= 64 }) }
        let shared = inkPixels(digit.pixels).intersection(inkPixels(even.pixels)).count
        XCTAssertGreaterThanOrEqual(Double(shared), 0.9 * Double(inkPixels(even.pixels).count), "the bar where it is on even paper")
        XCTAssertLessThanOrEqual(inkPixels(digit.pixels).count, inkPixels(even.pixels).count + 10, "no paper taken for ink")
    }

    /// The bar drawn dark on white at 200 px, then `change` applied to its samples.
    func drawnBar(_ change: (inout [UInt8]) -> Void = { _ in }) -> DigitNormalization.Digit {
        var samples = DigitStyle(ink: (30, 30, 30), paper: (230, 230, 230), width: 200, height: 200, channels: 1).render(bar).samples
        change(&samples)
        return DigitNormalization.normalize(RasterImage(width: 200, height: 200, channels: 1, samples: samples))
    }

    /// Ink pixels (at least a quarter of full ink) two normalised digits share, over those of `expected`.
    func overlap(_ digit: DigitNormalization.Digit, _ expected: DigitNormalization.Digit) -> Double {
        let ink = { (pixels: [UInt8]) in Set(pixels.indices.filter { pixels[$0] >= 64 }) }
        return Double(ink(digit.pixels).intersection(ink(expected.pixels)).count) / Double(ink(expected.pixels).count)
    }

    /// A faint smudge (paper a little darker in a corner) and a speck of full ink far from the
    /// digit are not ink: the digit is cropped, scaled and centred as without them.
    func testSmudgesAndSpecksDoNotMoveTheDigit() {
        let clean = drawnBar()
        let smudged = drawnBar { samples in
            for y in 150..<175 { for x in 150..<175 { samples[y * 200 + x] -= 70 } }
        }
        let specked = drawnBar { samples in
            for y in 10..<12 { for x in 185..<187 { samples[y * 200 + x] = 0 } }
        }
        XCTAssertGreaterThanOrEqual(overlap(smudged, clean), 0.95)
        XCTAssertGreaterThanOrEqual(overlap(specked, clean), 0.95)
    }

    /// Paper photographed with its texture: blotches up to 44 shades darker a dozen pixels
    /// across, and grain. What is left of them once the paper's shade is taken away touches the
    /// digit's ink; it must not join it and widen its crop.
    func testPaperTextureDoesNotWidenTheDigit() {
        let clean = drawnBar()
        var grain: UInt32 = 12345
        let textured = drawnBar { samples in
            for y in 0..<200 {
                for x in 0..<200 {
                    grain = grain &* 1_103_515_245 &+ 12345
                    let blotch = 22 * (1 + sinf(Float(x) / 7) * cosf(Float(y) / 9)) + Float((grain >> 16) % 17) - 8
                    samples[y * 200 + x] = UInt8(min(255, max(0, Float(samples[y * 200 + x]) - blotch)))
                }
            }
        }
        XCTAssertGreaterThanOrEqual(overlap(textured, clean), 0.9)
        XCTAssertGreaterThanOrEqual(overlap(clean, textured), 0.9, "the crop is the bar's, not the bar's and the texture's")
    }

    /// A blurred stroke on clean paper (a coarse capture, enlarged) keeps its whole fringe: the
    /// residue level is measured away from the ink, where such paper is 0.
    func testABlurredStrokeOnCleanPaperKeepsItsFringe() {
        // A 20-pixel bar across a 120 × 120 page, fading over 15 pixels each side.
        let fringe = (0..<120 * 120).map { i -> Float in
            let distance = max(0, abs(Float(i % 120) - 60) - 10)
            return 255 * max(0, 1 - distance / 15)
        }
        var gray = fringe
        DigitNormalization.removePaperResidue(&gray, width: 120, height: 120)
        XCTAssertEqual(gray, fringe)
    }

    /// A ruled line across the page goes, except where the stroke crosses it; a thick bar
    /// across most of the page is a stroke and stays.
    func testRuledLinesGoAndWideStrokesStay() {
        let clean = drawnBar()
        let ruled = drawnBar { samples in
            for y in 120..<122 { for x in 0..<200 { samples[y * 200 + x] = min(samples[y * 200 + x], 90) } }
        }
        XCTAssertGreaterThanOrEqual(overlap(ruled, clean), 0.95)
        XCTAssertGreaterThanOrEqual(overlap(clean, ruled), 0.95)
        // A "7": a bar 20 px thick across 90% of the page, the stroke down from its end.
        var seven = [UInt8](repeating: 230, count: 200 * 200)
        for y in 20..<40 { for x in 10..<190 { seven[y * 200 + x] = 30 } }
        for y in 40..<180 { for x in 160..<180 { seven[y * 200 + x] = 30 } }
        let digit = DigitNormalization.normalize(RasterImage(width: 200, height: 200, channels: 1, samples: seven))
        let widestRow = (0..<28).map { row in (0..<28).filter { digit.pixels[row * 28 + $0] >= 128 }.count }.max()!
        XCTAssertGreaterThanOrEqual(widestRow, 15, "the bar of the 7 is still there")
        // A ruled page with nothing written on it is blank.
        var lined = [UInt8](repeating: 230, count: 200 * 200)
        for y in stride(from: 30, to: 200, by: 40) { for x in 0..<200 { lined[y * 200 + x] = 90 } }
        XCTAssertFalse(DigitNormalization.normalize(RasterImage(width: 200, height: 200, channels: 1, samples: lined)).hasInk)
    }

    func testResampleKeepsTheMeanAndCopiesAtTheSameSize() {
        let pixels: [Float] = (0..<35).map { Float($0 % 9) }
        XCTAssertEqual(DigitNormalization.resample(pixels, width: 7, height: 5, toWidth: 7, toHeight: 5), pixels)
        let halved = DigitNormalization.resample(pixels, width: 7, height: 5, toWidth: 3, toHeight: 2)
        XCTAssertEqual(halved.reduce(0, +) / 6, pixels.reduce(0, +) / 35, accuracy: 1e-4)
    }
}
