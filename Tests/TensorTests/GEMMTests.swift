import Dispatch
import Synchronization
import Tensor
import XCTest

final class GEMMTests: XCTestCase {
    /// Odd shapes cross every tile and block edge: 1, primes, just over a tile, over a block.
    let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (7, 5, 3), (6, 16, 8), (13, 33, 17), (97, 31, 300), (5, 2100, 7), (130, 70, 513),
        // Half-width last tiles (24 and 40 columns: 16 + 8), as the shipped cnn's first layer has.
        (25, 24, 25), (12, 40, 9),
        // Few rows of A against whole slivers of a row-major B, which is read in place: deeper
        // than a block (a layer's weight gradient, 32×400×588) and wider than a block.
        (32, 400, 588), (20, 2064, 40), (96, 48, 260),
    ]

    func testMatchesNaiveForEveryTransposeCombination() {
        var random = TestRandom()
        for (m, n, k) in shapes {
            for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
                for accumulate in [false, true] {
                    let a = (0..<m * k).map { _ in Float.random(in: -1...1, using: &random) }
                    let b = (0..<k * n).map { _ in Float.random(in: -1...1, using: &random) }
                    let initial = (0..<m * n).map { _ in Float.random(in: -1...1, using: &random) }
                    var fast = initial, slow = initial
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            // Stored as given, viewed through `.transposed` when asked to.
                            let aRef = transposeA ? MatrixRef(ap.baseAddress!, rows: k, columns: m).transposed
                                                  : MatrixRef(ap.baseAddress!, rows: m, columns: k)
                            let bRef = transposeB ? MatrixRef(bp.baseAddress!, rows: n, columns: k).transposed
                                                  : MatrixRef(bp.baseAddress!, rows: k, columns: n)
                            fast.withUnsafeMutableBufferPointer { gemm($0.baseAddress!, ldc: n, aRef, bRef, accumulate: accumulate) }
                            slow.withUnsafeMutableBufferPointer { gemmNaive($0.baseAddress!, ldc: n, aRef, bRef, accumulate: accumulate) }
                        }
                    }
                    let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot() + 1e-5,
                                      "m=\(m) n=\(n) k=\(k) transposeA=\(transposeA) transposeB=\(transposeB) accumulate=\(accumulate)")
                }
            }
        }
    }

    func testWritesOnlyInsideLeadingDimension() {
        // C is a 3×4 window of a 3×6 buffer: the two extra columns per row must stay untouched.
        let a = [Float](repeating: 1, count: 3 * 2), b = [Float](repeating: 2, count: 2 * 4)
        var c = [Float](repeating: -7, count: 3 * 6)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer {
                    gemm($0.baseAddress!, ldc: 6, MatrixRef(ap.baseAddress!, rows: 3, columns: 2),
                         MatrixRef(bp.baseAddress!, rows: 2, columns: 4), accumulate: false)
                }
            }
        }
        for row in 0..<3 {
            XCTAssertEqual(Array(c[row * 6..<row * 6 + 4]), [4, 4, 4, 4])
            XCTAssertEqual(Array(c[row * 6 + 4..<row * 6 + 6]), [-7, -7])
        }
    }

    func testEmptyInnerDimensionClearsOrKeepsC() {
        var c: [Float] = [5, 5]
        let none: [Float] = [0]
        none.withUnsafeBufferPointer { p in
            c.withUnsafeMutableBufferPointer {
                gemm($0.baseAddress!, ldc: 2, MatrixRef(p.baseAddress!, rows: 1, columns: 0),
                     MatrixRef(p.baseAddress!, rows: 0, columns: 2), accumulate: true)
            }
        }
        XCTAssertEqual(c, [5, 5])
        none.withUnsafeBufferPointer { p in
            c.withUnsafeMutableBufferPointer {
                gemm($0.baseAddress!, ldc: 2, MatrixRef(p.baseAddress!, rows: 1, columns: 0),
                     MatrixRef(p.baseAddress!, rows: 0, columns: 2), accumulate: false)
            }
        }
        XCTAssertEqual(c, [0, 0])
    }

    /// Kernels called from several threads at once (the daemon classifies while it retrains)
    /// share the kernel thread pool: whoever finds it busy runs its parts itself.
    func testConcurrentCallersGetCorrectResults() {
        let a = Tensor(shape: [97, 300], scalars: (0..<97 * 300).map { Float($0 % 17) - 8 })
        let b = Tensor(shape: [300, 70], scalars: (0..<300 * 70).map { Float($0 % 13) - 6 })
        let expected = Tensor.matmul(a, b)
        let mismatches = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<20 where Tensor.matmul(a, b) != expected { mismatches.add(1, ordering: .relaxed) }
        }
        XCTAssertEqual(mismatches.load(ordering: .relaxed), 0)
    }

    func testTensorMatmul() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        XCTAssertEqual(Tensor.matmul(a, b), Tensor(shape: [2, 2], scalars: [58, 64, 139, 154]))
    }
}
