import Formats
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

    func testResampleKeepsTheMeanAndCopiesAtTheSameSize() {
        let pixels: [Float] = (0..<35).map { Float($0 % 9) }
        XCTAssertEqual(DigitNormalization.resample(pixels, width: 7, height: 5, toWidth: 7, toHeight: 5), pixels)
        let halved = DigitNormalization.resample(pixels, width: 7, height: 5, toWidth: 3, toHeight: 2)
        XCTAssertEqual(halved.reduce(0, +) / 6, pixels.reduce(0, +) / 35, accuracy: 1e-4)
    }
}
