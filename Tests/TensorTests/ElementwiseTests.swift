import Foundation
import Tensor
import XCTest

final class ElementwiseTests: XCTestCase {
    /// The vectorised tanh against the Double one, across the range where it bends and far out
    /// where it saturates, on an odd count so the scalar tail runs too.
    func testTanhWithinOneMillionth() {
        let x = (0..<40_001).map { Float($0 - 20_000) / 1000 } + [-1e30, 1e30, 1e-30, -0.0]
        var y = [Float](repeating: .nan, count: x.count)
        y.withUnsafeMutableBufferPointer { tanhForward($0.baseAddress!, x, count: x.count) }
        let worst = zip(x, y).map { abs(Double($1) - tanh(Double($0))) }.max()!
        XCTAssertLessThan(worst, 1e-6)
        XCTAssertEqual(y[x.count - 4], -1)
        XCTAssertEqual(y[x.count - 3], 1)
    }
}
