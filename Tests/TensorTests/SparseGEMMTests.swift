import Tensor
import XCTest

final class SparseGEMMTests: XCTestCase {
    /// Column counts cross the 64-wide register blocks, the 8-wide vectors and the scalar tail.
    let shapes: [(m: Int, n: Int, k: Int)] = [(1, 1, 1), (3, 5, 7), (100, 128, 784), (17, 64, 30), (9, 70, 41), (33, 130, 200)]

    /// ~80% zeros, like MNIST pixels; one row and one column wholly zero.
    func sparseMatrix(rows: Int, columns: Int, _ random: inout TestRandom) -> [Float] {
        var a = (0..<rows * columns).map { _ in Float.random(in: 0..<1, using: &random) < 0.8 ? 0 : Float.random(in: -1...1, using: &random) }
        for p in 0..<columns { a[p] = 0 }
        for i in 0..<rows { a[i * columns] = 0 }
        return a
    }

    func testSparseLeftMatchesNaive() {
        var random = TestRandom()
        for (m, n, k) in shapes {
            for accumulate in [false, true] {
                let a = sparseMatrix(rows: m, columns: k, &random)
                let b = (0..<k * n).map { _ in Float.random(in: -1...1, using: &random) }
                // A leading dimension wider than n: the gap must stay untouched.
                let ldc = n + 3
                let initial = (0..<m * ldc).map { _ in Float.random(in: -1...1, using: &random) }
                var fast = initial, slow = initial
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        fast.withUnsafeMutableBufferPointer {
                            gemmSparseLeft($0.baseAddress!, ldc: ldc, ap.baseAddress!, rows: m, inner: k, bp.baseAddress!, columns: n, accumulate: accumulate)
                        }
                        slow.withUnsafeMutableBufferPointer {
                            gemmNaive($0.baseAddress!, ldc: ldc, MatrixRef(ap.baseAddress!, rows: m, columns: k),
                                      MatrixRef(bp.baseAddress!, rows: k, columns: n), accumulate: accumulate)
                        }
                    }
                }
                let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot() + 1e-5, "m=\(m) n=\(n) k=\(k) accumulate=\(accumulate)")
                for i in 0..<m { XCTAssertEqual(Array(fast[i * ldc + n..<(i + 1) * ldc]), Array(initial[i * ldc + n..<(i + 1) * ldc])) }
            }
        }
    }

    func testSparseLeftTransposedAccumulatesLikeNaive() {
        var random = TestRandom()
        for (m, n, k) in shapes {
            let a = sparseMatrix(rows: m, columns: k, &random)
            let d = (0..<m * n).map { _ in Float.random(in: -1...1, using: &random) }
            let initial = (0..<k * n).map { _ in Float.random(in: -1...1, using: &random) }
            var fast = initial, slow = initial
            a.withUnsafeBufferPointer { ap in
                d.withUnsafeBufferPointer { dp in
                    fast.withUnsafeMutableBufferPointer {
                        gemmSparseLeftTransposed($0.baseAddress!, ap.baseAddress!, rows: m, inner: k, dp.baseAddress!, columns: n)
                    }
                    slow.withUnsafeMutableBufferPointer {
                        gemmNaive($0.baseAddress!, ldc: n, MatrixRef(ap.baseAddress!, rows: m, columns: k).transposed,
                                  MatrixRef(dp.baseAddress!, rows: m, columns: n), accumulate: true)
                    }
                }
            }
            let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-4 * Float(m).squareRoot() + 1e-5, "m=\(m) n=\(n) k=\(k)")
        }
    }

    func testZeroFraction() {
        let values: [Float] = [0, 1, 0, -0.0, 2, 0, 0, 3]
        XCTAssertEqual(zeroFraction(values, count: values.count), 5.0 / 8)
        XCTAssertEqual(zeroFraction(values, count: 0), 0)
    }
}

final class PartRangeTests: XCTestCase {
    /// Many parts over few items (a many-core machine on a small batch): every range is valid,
    /// and together they cover each index once, in order.
    func testPartsCoverEveryIndexOnceAndNeverInvert() {
        for count in 0..<70 {
            for parts in 1...64 {
                let ranges = (0..<parts).map { partRange($0, of: parts, count: count) }
                XCTAssertEqual(ranges.flatMap { Array($0) }, Array(0..<count), "count \(count), parts \(parts)")
                XCTAssertTrue(ranges.allSatisfy { $0.count <= (count + parts - 1) / parts }, "count \(count), parts \(parts)")
            }
        }
    }
}

final class SmallBatchNormTests: XCTestCase {
    /// Fewer rows per part than parts (5 rows over 4 fixed parts once broke the split).
    func testFiveRowsNormaliseToZeroMeanUnitVariance() {
        let x: [Float] = [1, 10, 2, 20, 3, 30, 4, 40, 5, 50]
        var y = [Float](repeating: 0, count: 10), normalized = y
        var inverse = [Float](repeating: 0, count: 2), mean = inverse, variance: [Float] = [1, 1]
        let gamma: [Float] = [1, 1], beta: [Float] = [0, 0]
        batchNormTrainingForward(&y, &normalized, &inverse, &mean, &variance, x, gamma, beta,
                                 rows: 5, channels: 2, epsilon: 0, momentum: 1)
        XCTAssertEqual(mean, [3, 30])
        for c in 0..<2 {
            let column = (0..<5).map { y[$0 * 2 + c] }
            XCTAssertEqual(column.reduce(0, +), 0, accuracy: 1e-5)
            XCTAssertEqual(column.map { $0 * $0 }.reduce(0, +) / 5, 1, accuracy: 1e-5)
        }
    }
}
