import Foundation
@testable import NeuralNet
import XCTest

/// The training images' random distortions: the inverse map resamples where it should, paper
/// (zero) comes in from outside the frame, and draws stay in their ranges, reproducibly.
final class AugmentationTests: XCTestCase {
    let side = 5
    /// A 5×5 image whose every pixel differs: value 1 + index.
    lazy var image: [Float] = (0..<side * side).map { Float($0 + 1) }

    func distorted(_ distortion: Distortion) -> [Float] {
        var out = [Float](repeating: -1, count: side * side)
        out.withUnsafeMutableBufferPointer { distortion.apply($0.baseAddress!, image, height: side, width: side) }
        return out
    }

    func pixel(_ x: Int, _ y: Int) -> Float { x >= 0 && x < side && y >= 0 && y < side ? image[y * side + x] : 0 }

    func testTheIdentityLeavesTheImageAsItIs() {
        XCTAssertEqual(distorted(Distortion(cosine: 1, sine: 0, shiftX: 0, shiftY: 0)), image)
    }

    func testAWholePixelShiftMovesTheImageAndBringsInPaper() {
        let out = distorted(Distortion(cosine: 1, sine: 0, shiftX: 2, shiftY: -1))
        for y in 0..<side { for x in 0..<side { XCTAssertEqual(out[y * side + x], pixel(x - 2, y + 1), "(\(x), \(y))") } }
        XCTAssertEqual(out[0], 0, "the left columns come from outside the frame")
        XCTAssertEqual(distorted(Distortion(cosine: 1, sine: 0, shiftX: 9, shiftY: 0)), [Float](repeating: 0, count: side * side))
    }

    func testAQuarterTurnRotatesAboutTheCentre() {
        let out = distorted(Distortion(cosine: 0, sine: 1, shiftX: 0, shiftY: 0))
        for y in 0..<side { for x in 0..<side { XCTAssertEqual(out[y * side + x], pixel(y, side - 1 - x), "(\(x), \(y))") } }
    }

    func testAHalfPixelShiftAveragesNeighbours() {
        let out = distorted(Distortion(cosine: 1, sine: 0, shiftX: 0.5, shiftY: 0))
        XCTAssertEqual(out[2 * side + 2], (pixel(1, 2) + pixel(2, 2)) / 2, accuracy: 1e-5)
    }

    func testDrawsStayInTheirRangesAndRepeatForASeed() {
        let augmentation = Augmentation(maxRotationDegrees: 10, maxScaleChange: 0.1, maxShiftPixels: 2)
        var random = SeededRandom(seed: 9), again = SeededRandom(seed: 9)
        var angles: [Float] = []
        for _ in 0..<2000 {
            let d = augmentation.draw(&random), e = augmentation.draw(&again)
            XCTAssertEqual(d.numbers, e.numbers, "the same seed, the same draws")
            let cosine = d.inverse.xx, sine = d.inverse.xy
            XCTAssertEqual([d.inverse.yx, d.inverse.yy], [-sine, cosine], "no shear unless asked for")
            let angle = atan2(sine, cosine) * 180 / .pi, scale = 1 / (cosine * cosine + sine * sine).squareRoot()
            XCTAssertLessThanOrEqual(abs(angle), 10.0001)
            XCTAssertTrue((0.9 - 1e-5...1.1 + 1e-5).contains(scale), "scale \(scale)")
            XCTAssertLessThanOrEqual(max(abs(d.shiftX), abs(d.shiftY)), 2)
            angles.append(angle)
        }
        XCTAssertGreaterThan(angles.max()!, 9, "the whole range is used")
        XCTAssertLessThan(angles.min()!, -9)
    }

    func testAShearMovesEachRowByItsDistanceFromTheCentre() {
        var shear = Distortion.identity
        shear.shear(x: 1, y: 0)
        let out = distorted(shear)
        for y in 0..<side { for x in 0..<side { XCTAssertEqual(out[y * side + x], pixel(x - (y - 2), y), "(\(x), \(y))") } }
    }

    // MARK: The real-world distortions, on a 28 × 28 image

    let frame = 28

    func apply(_ distortion: Distortion, to image: [Float]) -> [Float] {
        var out = [Float](repeating: -1, count: frame * frame)
        out.withUnsafeMutableBufferPointer { distortion.apply($0.baseAddress!, image, height: frame, width: frame) }
        return out
    }

    /// A vertical stroke one pixel wide (column 14, rows 8…19) of full ink.
    lazy var stroke: [Float] = (0..<frame * frame).map { $0 % frame == 14 && (8...19).contains($0 / frame) ? 1 : 0 }

    func testAThickerPenWidensAStrokeByOnePixelEachSideAndPartlyByAFraction() {
        var thicker = Distortion.identity
        thicker.strokeChange = 1
        let out = apply(thicker, to: stroke)
        XCTAssertEqual(out[12 * frame + 13], 1, "the left neighbour takes the ink")
        XCTAssertEqual(out[12 * frame + 15], 1)
        XCTAssertEqual(out[7 * frame + 14], 1, "the stroke grows at its ends")
        XCTAssertEqual(out[7 * frame + 13], 0, "four neighbours, not eight")
        XCTAssertEqual(out[12 * frame + 12], 0)
        thicker.strokeChange = 0.25
        XCTAssertEqual(apply(thicker, to: stroke)[12 * frame + 13], 0.25, accuracy: 1e-6)
    }

    func testAThinnerPenRemovesAOnePixelStrokeAndKeepsTheInsideOfAWideOne() {
        var thinner = Distortion.identity
        thinner.strokeChange = -1
        XCTAssertEqual(apply(thinner, to: stroke).max(), 0, "a one-pixel line is gone")
        let wide = (0..<frame * frame).map { (12...16).contains($0 % frame) && (8...19).contains($0 / frame) ? Float(1) : 0 }
        let out = apply(thinner, to: wide)
        XCTAssertEqual(out[12 * frame + 12], 0, "the edge goes")
        XCTAssertEqual(out[12 * frame + 13], 1, "the inside stays")
        thinner.strokeChange = -0.5
        XCTAssertEqual(apply(thinner, to: wide)[12 * frame + 12], 0.5, accuracy: 1e-6)
    }

    func testACoarseSensorAveragesItsCellsAndLeavesAnEvenPageEven() {
        var coarse = Distortion.identity
        coarse.lowResolutionSide = 14
        // A checkerboard of single pixels is a uniform grey to 2 × 2 cells.
        let checkerboard = (0..<frame * frame).map { ($0 % frame + $0 / frame) % 2 == 0 ? Float(1) : 0 }
        for value in apply(coarse, to: checkerboard) { XCTAssertEqual(value, 0.5, accuracy: 1e-6) }
        coarse.lowResolutionSide = 8
        for value in apply(coarse, to: [Float](repeating: 0.75, count: frame * frame)) { XCTAssertEqual(value, 0.75, accuracy: 1e-6) }
        // The stroke is spread over its cells: less ink at its centre, some beside it.
        let out = apply(coarse, to: stroke)
        XCTAssertLessThan(out[12 * frame + 14], 0.6)
        XCTAssertGreaterThan(out[12 * frame + 13], 0.05)
        coarse.lowResolutionSide = frame
        XCTAssertEqual(apply(coarse, to: stroke), stroke, "one cell a pixel changes nothing")
    }

    func testBlurSpreadsInkKeepingItsAmountAndAnEvenPageEven() {
        var blur = Distortion.identity
        blur.blurSigma = 1
        let out = apply(blur, to: stroke)
        XCTAssertEqual(out.reduce(0, +), stroke.reduce(0, +), accuracy: 1e-3, "ink is neither made nor lost away from the edges")
        XCTAssertEqual(out[12 * frame + 13], out[12 * frame + 15], accuracy: 1e-6, "symmetric")
        XCTAssertEqual(out[12 * frame + 14], expf(0) / (1 + 2 * expf(-0.5) + 2 * expf(-2) + 2 * expf(-4.5)), accuracy: 1e-5,
                       "along the stroke nothing changes; across it the weights of a σ 1 Gaussian")
        for value in apply(blur, to: [Float](repeating: 0.75, count: frame * frame)) { XCTAssertEqual(value, 0.75, accuracy: 1e-5) }
    }

    func testAnElasticFieldMovesPixelsSmoothlyByAboutItsStrengthTheSameForItsSeed() {
        func field(seed: UInt64, alpha: Float) -> (dx: [Float], dy: [Float]) {
            var dx = [Float](repeating: 0, count: frame * frame), dy = dx, scratch = dx
            ImageFilters.elasticField(dx: &dx, dy: &dy, height: frame, width: frame, .init(seed: seed, alpha: alpha, sigma: 4), scratch: &scratch)
            return (dx, dy)
        }
        let (dx, dy) = field(seed: 5, alpha: 34)
        XCTAssertEqual(field(seed: 5, alpha: 34).dx, dx)
        XCTAssertNotEqual(field(seed: 6, alpha: 34).dx, dx)
        XCTAssertEqual(field(seed: 5, alpha: 17).dy.map { $0 * 2 }, dy.map { $0 }, "alpha scales the field")
        let rms = (dx.map { $0 * $0 }.reduce(0, +) / Float(dx.count)).squareRoot()
        XCTAssertTrue((0.5...3).contains(rms), "a σ 4 field at α 34 moves pixels by about a pixel and a half, not \(rms)")
        let step = (0..<frame * frame).filter { $0 % frame < frame - 1 }.map { abs(dx[$0 + 1] - dx[$0]) }.max()!
        XCTAssertLessThan(step, rms / 2, "neighbours move together")
        var elastic = Distortion.identity
        elastic.elastic = .init(seed: 5, alpha: 34, sigma: 4)
        let out = apply(elastic, to: stroke)
        XCTAssertNotEqual(out, stroke)
        XCTAssertEqual(out.reduce(0, +), stroke.reduce(0, +), accuracy: 3, "the stroke is moved, not erased")
    }

    /// Networks are trained on images of any size (the tests' are 4 × 4): every distortion at
    /// once on images down to one pixel stays within the image and within [0, 1].
    func testEveryDistortionWorksOnImagesSmallerThanItsOwnScale() {
        var all = Distortion.identity
        all.shear(x: 0.1, y: -0.1)
        all.elastic = .init(seed: 1, alpha: 34, sigma: 4)
        all.strokeChange = -0.5
        all.blurSigma = 1.2
        all.lowResolutionSide = 7
        for side in 1...8 {
            let image = (0..<side * side).map { Float($0 % 3) / 2 }
            var out = [Float](repeating: -1, count: side * side)
            out.withUnsafeMutableBufferPointer { all.apply($0.baseAddress!, image, height: side, width: side) }
            XCTAssertTrue(out.allSatisfy { (0...1).contains($0) }, "\(side) × \(side): \(out)")
        }
    }

    func testEachRealWorldDistortionIsDrawnForItsShareWithoutMovingTheOthersDraws() {
        let none = RealWorldDistortions(elasticShare: 0, maxElasticAlpha: 34, elasticSigma: 4, strokeWidthShare: 0,
                                        blurShare: 0, maxBlurSigma: 1, lowResolutionShare: 0, lowResolutionSides: 7...14)
        var some = none
        some.elasticShare = 0.5
        some.strokeWidthShare = 0.25
        some.blurShare = 0.2
        some.lowResolutionShare = 0.1
        let plain = Augmentation(maxRotationDegrees: 10, maxScaleChange: 0.1, maxShiftPixels: 2, maxShear: 0.2, realWorld: none)
        var realistic = plain
        realistic.realWorld = some
        var a = SeededRandom(seed: 3), b = SeededRandom(seed: 3)
        var counts = [0, 0, 0, 0], sides = Set<Int>(), strokes: [Float] = []
        let draws = 4000
        for _ in 0..<draws {
            let p = plain.draw(&a), r = realistic.draw(&b)
            XCTAssertEqual(Array(p.numbers[0..<6]), Array(r.numbers[0..<6]), "the affine part is the same draw")
            XCTAssertNil(p.elastic)
            XCTAssertEqual([p.strokeChange, p.blurSigma, Float(p.lowResolutionSide)], [0, 0, 0])
            if let elastic = r.elastic {
                counts[0] += 1
                XCTAssertTrue((0...34).contains(elastic.alpha))
            }
            if r.strokeChange != 0 { counts[1] += 1; strokes.append(r.strokeChange) }
            if r.blurSigma != 0 { counts[2] += 1; XCTAssertLessThanOrEqual(r.blurSigma, 1) }
            if r.lowResolutionSide != 0 { counts[3] += 1; sides.insert(r.lowResolutionSide) }
        }
        for (count, share) in zip(counts, [some.elasticShare, some.strokeWidthShare, some.blurShare, some.lowResolutionShare]) {
            XCTAssertEqual(Float(count) / Float(draws), share, accuracy: 0.03)
        }
        XCTAssertEqual(sides, Set(7...14))
        XCTAssertTrue(strokes.contains { $0 < -0.9 } && strokes.contains { $0 > 0.9 }, "thinner and thicker, up to a pixel")
        XCTAssertTrue(strokes.allSatisfy { (0.5...1).contains(abs($0)) }, "at least half a pixel: \(strokes.map(abs).min()!)")
    }
}

extension Distortion {
    /// Everything drawn, for comparing two draws.
    var numbers: [Float] {
        [inverse.xx, inverse.xy, inverse.yx, inverse.yy, shiftX, shiftY, strokeChange, blurSigma, Float(lowResolutionSide),
         elastic?.alpha ?? 0, Float(elastic?.seed ?? 0)]
    }
}
