import Tensor
import XCTest

final class QuantizedProductTests: XCTestCase {
    /// A product computed the obvious way, in Swift: what every kernel path must equal exactly.
    struct Reference {
        let columns: Int, segments: Int, segmentLength: Int
        let weights: [Int8]  // [column][segment][byte]
        let scale: [Float], offset: [Float]

        func weight(_ column: Int, _ segment: Int, _ byte: Int) -> Int8 {
            weights[(column * segments + segment) * segmentLength + byte]
        }

        func sum(_ runs: [UnsafePointer<UInt8>], column: Int) -> Int32 {
            var total: Int32 = 0
            for (segment, run) in runs.enumerated() {
                for byte in 0..<segmentLength { total += Int32(run[byte]) * Int32(weight(column, segment, byte)) }
            }
            return total
        }

        func real(_ sum: Int32, column: Int) -> Float { Float(sum) * scale[column] + offset[column] }

        func byte(_ sum: Int32, column: Int) -> UInt8 {
            UInt8(min(max(real(sum, column: column), 0), 255).rounded(.toNearestOrEven))
        }

        var packed: QuantizedWeights {
            QuantizedWeights(columns: columns, segments: segments, segmentLength: segmentLength,
                             scale: scale, offset: offset, weight: weight)
        }
    }

    func randomReference(columns: Int, segments: Int, segmentLength: Int, using random: inout some RandomNumberGenerator) -> Reference {
        Reference(columns: columns, segments: segments, segmentLength: segmentLength,
                  weights: (0..<columns * segments * segmentLength).map { _ in Int8.random(in: -127...127, using: &random) },
                  // Scales that spread the sums over 0…255 and beyond, so clamping and rounding ties are met.
                  scale: (0..<columns).map { _ in Float.random(in: 0.0001...0.02, using: &random) },
                  offset: (0..<columns).map { _ in Float.random(in: -60...60, using: &random).rounded() + 0.5 })
    }

    var paths: [QuantizedKernelPath] { QuantizedKernelPath.available }

    /// Every test below compares each path this CPU can run with the reference; the output
    /// says which paths that is, so that a run on a CPU without VNNI does not pass for a test of it.
    override class func setUp() {
        let all: [QuantizedKernelPath] = [.portable, .avx2, .vnni]
        let untested = all.filter { !QuantizedKernelPath.available.contains($0) }
        print("QuantizedProductTests: testing \(QuantizedKernelPath.available.map { "\($0)" }.joined(separator: ", ")) against the reference"
              + (untested.isEmpty ? "" : "; NOT tested on this CPU (it lacks the instructions): \(untested.map { "\($0)" }.joined(separator: ", "))"))
    }

    func testMatrixProductsEqualTheReferenceOnEveryPath() {
        var random = TestRandom()
        // Lengths not a multiple of 4, column counts with partial blocks of 16, rows not a multiple of 8.
        for (rows, length, columns) in [(1, 1, 1), (7, 13, 10), (8, 16, 16), (13, 64, 33), (70, 512, 128), (65, 128, 10), (9, 400, 47)] {
            let reference = randomReference(columns: columns, segments: 1, segmentLength: length, using: &random)
            let stride = length + 5
            let a = (0..<rows * stride + QuantizedRows.readSlack).map { _ in UInt8.random(in: 0...255, using: &random) }
            let packed = reference.packed
            a.withUnsafeBufferPointer { a in
                let rowsView = QuantizedRows(matrix: a.baseAddress!, stride: stride, length: length)
                var expectedBytes: [UInt8] = [], expectedFloats: [Float] = []
                for m in 0..<rows {
                    for n in 0..<columns {
                        let sum = reference.sum([a.baseAddress! + m * stride], column: n)
                        expectedBytes.append(reference.byte(sum, column: n))
                        expectedFloats.append(reference.real(sum, column: n))
                    }
                }
                for path in paths {
                    var bytes = [UInt8](repeating: 7, count: rows * columns)
                    var floats = [Float](repeating: .nan, count: rows * columns)
                    // In two parts, as the threads split them.
                    for part in [0..<rows / 3, rows / 3..<rows] {
                        bytes.withUnsafeMutableBufferPointer { packed.product(rowsView, rows: part, into: $0.baseAddress!, stride: columns, path: path) }
                        floats.withUnsafeMutableBufferPointer { packed.product(rowsView, rows: part, into: $0.baseAddress!, stride: columns, path: path) }
                    }
                    XCTAssertEqual(bytes, expectedBytes, "\(path) \(rows)×\(length)×\(columns)")
                    XCTAssertEqual(floats, expectedFloats, "\(path) \(rows)×\(length)×\(columns)")
                }
            }
        }
    }

    func testConvolutionRowsReadPatchesInPlace() {
        var random = TestRandom()
        for (height, width, channels, kernel, columns) in [(28, 28, 1, 5, 16), (12, 12, 16, 5, 32), (9, 7, 3, 3, 5), (5, 5, 2, 5, 17)] {
            let outputHeight = height - kernel + 1, outputWidth = width - kernel + 1
            let reference = randomReference(columns: columns, segments: kernel, segmentLength: kernel * channels, using: &random)
            let image = (0..<height * width * channels + QuantizedRows.readSlack).map { _ in UInt8.random(in: 0...255, using: &random) }
            let packed = reference.packed
            image.withUnsafeBufferPointer { image in
                let rows = QuantizedRows(convolutionOver: image.baseAddress!, width: width, channels: channels,
                                         kernel: kernel, outputWidth: outputWidth)
                var expected: [UInt8] = []
                for y in 0..<outputHeight {
                    for x in 0..<outputWidth {
                        let runs = (0..<kernel).map { image.baseAddress! + ((y + $0) * width + x) * channels }
                        for n in 0..<columns { expected.append(reference.byte(reference.sum(runs, column: n), column: n)) }
                    }
                }
                for path in paths {
                    var out = [UInt8](repeating: 0, count: outputHeight * outputWidth * columns)
                    out.withUnsafeMutableBufferPointer {
                        packed.product(rows, rows: 0..<outputHeight * outputWidth, into: $0.baseAddress!, stride: columns, path: path)
                    }
                    XCTAssertEqual(out, expected, "\(path) \(height)×\(width)×\(channels) kernel \(kernel)")
                }
            }
        }
    }

    func testThisMachineRunsTheFastestPathItHas() {
        let best = QuantizedKernelPath.available.last!
        XCTAssertEqual(QuantizedKernelPath.automaticName, best == .vnni ? "AVX-512 VNNI" : best == .avx2 ? "AVX2" : "portable C")
    }

    /// The peak loop counts what its instructions do: 12 accumulators a round, 16 multiply-adds
    /// each with AVX2 (8 lanes of pairs), 64 with VNNI (16 lanes of quads); none on the portable path.
    func testThePeakLoopCountsItsPathsMultiplyAdds() {
        let perRound: [QuantizedKernelPath: Int] = [.portable: 0, .avx2: 12 * 16, .vnni: 12 * 64]
        for path in QuantizedKernelPath.available {
            XCTAssertEqual(path.registerOnlyMultiplyAdds(rounds: 1000), 1000 * perRound[path]!, "\(path)")
        }
    }
}
