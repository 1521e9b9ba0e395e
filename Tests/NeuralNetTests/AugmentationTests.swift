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
            XCTAssertEqual([d.cosine, d.sine, d.shiftX, d.shiftY], [e.cosine, e.sine, e.shiftX, e.shiftY], "the same seed, the same draws")
            let angle = atan2(d.sine, d.cosine) * 180 / .pi, scale = 1 / (d.cosine * d.cosine + d.sine * d.sine).squareRoot()
            XCTAssertLessThanOrEqual(abs(angle), 10.0001)
            XCTAssertTrue((0.9 - 1e-5...1.1 + 1e-5).contains(scale), "scale \(scale)")
            XCTAssertLessThanOrEqual(max(abs(d.shiftX), abs(d.shiftY)), 2)
            angles.append(angle)
        }
        XCTAssertGreaterThan(angles.max()!, 9, "the whole range is used")
        XCTAssertLessThan(angles.min()!, -9)
    }
}
