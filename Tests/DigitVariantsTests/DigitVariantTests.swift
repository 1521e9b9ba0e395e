@testable import DigitVariants
import Formats
import NeuralNet
import XCTest

final class DigitVariantTests: XCTestCase {
    /// A plus sign of 3 px strokes in the middle of a 28×28 frame, 255 = ink.
    let plus: [UInt8] = (0..<784).map { index in
        let (y, x) = index.quotientAndRemainder(dividingBy: 28)
        return (12...14).contains(y) && (6...21).contains(x) || (12...14).contains(x) && (6...21).contains(y) ? 255 : 0
    }

    func ink(_ image: InkImage) -> Float { image.ink.reduce(0, +) }

    /// The same seed gives the same picture; the random ones change with the seed.
    func testEveryVariantIsDeterministicForItsSeed() {
        for variant in DigitVariant.allCases {
            var first = SeededRandom(seed: 7), again = SeededRandom(seed: 7)
            let picture = variant.picture(of: plus[...], using: &first)
            XCTAssertEqual(picture, variant.picture(of: plus[...], using: &again), "\(variant)")
        }
        let differing = DigitVariant.allCases.filter { variant in
            (1...8).contains { seed in
                var one = SeededRandom(seed: 1), other = SeededRandom(seed: UInt64(seed + 1))
                return variant.picture(of: plus[...], using: &one) != variant.picture(of: plus[...], using: &other)
            }
        }
        XCTAssertEqual(Set(differing), [.rotation, .shear, .elastic, .photographedPage, .touchingFrame, .ruledLine])
    }

    func testStrokesGrowAndShrinkByTheirRadius() {
        let digit = InkImage(mnist: plus[...])
        // The plus has 2 · 16 · 3 − 9 = 87 ink pixels. A diamond of radius 1 grows each bar by a
        // pixel on every side: 13 beside each of its long sides (16 less the 3 the other bar
        // covers), 3 at each end, less the 4 inner corners both bars reach: 60 more...
        XCTAssertEqual(ink(digit), 87)
        XCTAssertEqual(ink(digit.dilated(radius: 1)), 87 + 2 * (2 * 13 + 2 * 3) - 4)
        // ...and erodes them to their 14 px middle lines, crossing once, and the 4 pixels diagonal
        // to the centre, whose straight neighbours all lie in one bar or the other.
        XCTAssertEqual(ink(digit.eroded(radius: 1)), 2 * 14 - 1 + 4)
        let scanned = DigitVariant.scanned(digit)
        XCTAssertEqual(scanned.width, 112)
        XCTAssertGreaterThan(ink(scanned.dilated(radius: 3)), ink(scanned) * 1.5)
        XCTAssertLessThan(ink(scanned.eroded(radius: 2)), ink(scanned) * 0.8)
    }

    func testBlurSpreadsInkWithoutLosingIt() {
        let digit = InkImage(mnist: plus[...]), blurred = digit.blurred(sigma: 1)
        XCTAssertEqual(ink(blurred), ink(digit), accuracy: 0.5, "the plus lies far from the frame")
        XCTAssertLessThan(blurred.ink.max()!, 1)
        XCTAssertGreaterThan(blurred[5, 13], 0, "ink beyond the arm's end")
    }

    /// Rotation and shear map pixels where the matrix says: a quarter turn takes the pixel right
    /// of the centre below it, and a shear of 0 changes nothing.
    func testAffineMapsFollowTheMatrix() {
        var dot = InkImage(width: 9, height: 9, ink: .init(repeating: 0, count: 81))
        dot.ink[4 * 9 + 6] = 1
        let turned = DigitVariant.affine(dot, a: 0, b: -1, c: 1, d: 0)
        XCTAssertEqual(turned[4, 6], 1, accuracy: 1e-5)
        XCTAssertEqual(ink(turned), 1, accuracy: 1e-5)
        XCTAssertEqual(DigitVariant.affine(dot, a: 1, b: 0, c: 0, d: 1), dot)
    }

    /// At quality 100 the block transform gives the picture back within a shade or two; at 20
    /// the blocks show.
    func testBlockCompressionLosesDetailByQuality() {
        let picture = DigitVariant.scanned(InkImage(mnist: plus[...])).picture()
        let kept = DigitVariant.blockCompressed(picture, quality: 100)
        XCTAssertLessThanOrEqual(zip(kept.samples, picture.samples).map { abs(Int($0) - Int($1)) }.max()!, 2)
        let lossy = DigitVariant.blockCompressed(picture, quality: 20)
        XCTAssertGreaterThan(zip(lossy.samples, picture.samples).map { abs(Int($0) - Int($1)) }.max()!, 20)
    }

    func testLowResolutionCaptureLosesDetailAndKeepsTheSize() {
        let digit = InkImage(mnist: plus[...])
        for side in [8, 12, 16] {
            let captured = DigitVariant.capturedSmall(digit, side: side)
            XCTAssertEqual(captured.width, 112)
            XCTAssertEqual(captured.height, 112)
        }
        // Coarser capture, blurrier strokes: less of the picture is full ink.
        let full = { (side: Int) in DigitVariant.capturedSmall(digit, side: side).ink.filter { $0 > 0.9 }.count }
        XCTAssertLessThan(full(8), full(16))
    }

    func testTheDigitTouchesTheFrameAndTheLineCrossesThePage() {
        for seed in 0..<8 {
            var random = SeededRandom(seed: UInt64(seed))
            let touching = DigitVariant.touchingFrame.picture(of: plus[...], using: &random)
            let dark = { (x: Int, y: Int) in touching.samples[y * touching.width + x] < 128 }
            let edges = (0..<112).contains { dark($0, 0) || dark($0, 111) || dark(0, $0) || dark(111, $0) }
            XCTAssertTrue(edges, "seed \(seed): ink reaches the frame")
            let lined = DigitVariant.ruledLine.picture(of: plus[...], using: &random)
            let crossed = (0..<112).contains { y in (0..<112).allSatisfy { lined.samples[y * 112 + $0] < 200 } }
            XCTAssertTrue(crossed, "seed \(seed): a row is drawn across")
        }
    }

    /// Uneven light: the paper's two darkest and lightest borders differ, and the normalisation
    /// still finds the digit.
    func testThePhotographedPageIsUnevenlyLitAndStillADigit() {
        var random = SeededRandom(seed: 3)
        let photo = DigitVariant.photographedPage.picture(of: plus[...], using: &random)
        XCTAssertEqual(photo.width, 160)
        let side = photo.width
        func mean(_ indices: [Int]) -> Double { Double(indices.reduce(0) { $0 + Int(photo.samples[$1]) }) / Double(indices.count) }
        let top = mean(Array(0..<side)), bottom = mean((0..<side).map { (side - 1) * side + $0 })
        let left = mean((0..<side).map { $0 * side }), right = mean((0..<side).map { $0 * side + side - 1 })
        let borders = [top, bottom, left, right]
        XCTAssertGreaterThan(borders.max()! - borders.min()!, 15)
        XCTAssertTrue(DigitNormalization.normalize(photo).hasInk)
    }
}
