import Tensor
import XCTest

final class QuantizedProductTests: XCTestCase {
    /// A product computed the obvious way, in Swift: what every kernel path must equal exactly.
    struct Reference {
        let columns: Int, segments: Int, segmentLength: Int
        let weights: [Int8]  // [column][segment][byte]
        let scale: [Float], offset: [Float]
        /// The largest input byte, and the largest output byte.
        var inputCeiling: UInt8 = 255, outputCeiling: UInt8 = 127

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
            UInt8(min(max(real(sum, column: column), 0), Float(outputCeiling)).rounded(.toNearestOrEven))
        }

        var packed: QuantizedWeights {
            QuantizedWeights(columns: columns, segments: segments, segmentLength: segmentLength, scale: scale, offset: offset,
                             inputCeiling: inputCeiling, outputCeiling: outputCeiling, weight: weight)
        }
    }

    func randomReference(columns: Int, segments: Int, segmentLength: Int, weightLimit: Int8 = 63,
                         using random: inout some RandomNumberGenerator) -> Reference {
        Reference(columns: columns, segments: segments, segmentLength: segmentLength,
                  weights: (0..<columns * segments * segmentLength).map { _ in Int8.random(in: -weightLimit...weightLimit, using: &random) },
                  // Scales that spread the sums over 0…127 and beyond, so clamping and rounding ties are met.
                  scale: (0..<columns).map { _ in Float.random(in: 0.0001...0.02, using: &random) * 63 / Float(weightLimit) },
                  offset: (0..<columns).map { _ in Float.random(in: -60...60, using: &random).rounded() + 0.5 })
    }

    var paths: [QuantizedKernelPath] { QuantizedKernelPath.available }

    /// Every test below compares each path this CPU can run with the reference; the output
    /// says which paths that is, so that a run on a CPU without VNNI does not pass for a test of it.
    override class func setUp() {
        let untested = QuantizedKernelPath.all.filter { !QuantizedKernelPath.available.contains($0) }
        print("QuantizedProductTests: testing \(QuantizedKernelPath.available.map { "\($0)" }.joined(separator: ", ")) against the reference"
              + (untested.isEmpty ? "" : "; NOT tested on this CPU (it lacks the instructions): \(untested.map { "\($0)" }.joined(separator: ", "))"))
    }

    /// Weight limits and input ceilings of the 8-bit form (pixels; activations) and small weights,
    /// for which the AVX2 path sums one, two, or many quads in 16 bits before widening.
    static let ranges: [(weightLimit: Int8, inputCeiling: UInt8)] = [(63, 255), (63, 127), (5, 127)]

    func testMatrixProductsEqualTheReferenceOnEveryPath() {
        var random = TestRandom()
        // Lengths not a multiple of 4, column counts with partial blocks of 16, rows not a multiple of 8.
        for (rows, length, columns) in [(1, 1, 1), (7, 13, 10), (8, 16, 16), (13, 64, 33), (70, 512, 128), (65, 128, 10), (9, 400, 47)] {
          for (weightLimit, inputCeiling) in Self.ranges {
            var reference = randomReference(columns: columns, segments: 1, segmentLength: length, weightLimit: weightLimit, using: &random)
            reference.inputCeiling = inputCeiling
            let stride = length + 5
            let a = (0..<rows * stride + QuantizedRows.readSlack).map { _ in UInt8.random(in: 0...inputCeiling, using: &random) }
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
                    let context = "\(path) \(rows)×\(length)×\(columns), weights ±\(weightLimit), inputs ≤ \(inputCeiling)"
                    XCTAssertEqual(bytes, expectedBytes, context)
                    XCTAssertEqual(floats, expectedFloats, context)
                }
            }
          }
        }
    }

    func testConvolutionRowsReadPatchesInPlace() {
        var random = TestRandom()
        for (height, width, channels, kernel, columns) in [(28, 28, 1, 5, 16), (12, 12, 16, 5, 32), (9, 7, 3, 3, 5), (5, 5, 2, 5, 17)] {
          for (weightLimit, inputCeiling) in Self.ranges {
            let outputHeight = height - kernel + 1, outputWidth = width - kernel + 1
            var reference = randomReference(columns: columns, segments: kernel, segmentLength: kernel * channels,
                                            weightLimit: weightLimit, using: &random)
            reference.inputCeiling = inputCeiling
            let image = (0..<height * width * channels + QuantizedRows.readSlack).map { _ in UInt8.random(in: 0...inputCeiling, using: &random) }
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
                    XCTAssertEqual(out, expected, "\(path) \(height)×\(width)×\(channels) kernel \(kernel), weights ±\(weightLimit), inputs ≤ \(inputCeiling)")
                }
            }
          }
        }
    }

    /// The largest sums the AVX2 path can meet: every input byte at its ceiling, every weight of a
    /// column at the limit with one sign. A chunk one quad too long would saturate or wrap its
    /// 16-bit lanes; the products must still equal the reference, on kernel rows (segments) whose
    /// length is not a multiple of the chunk.
    func testSixteenBitSumsStayExactForTheLargestInputs() {
        for (weightLimit, inputCeiling) in Self.ranges {
            for (segments, segmentLength) in [(1, 400), (5, 80), (5, 5), (3, 36), (5, 20)] {
                let columns = 20
                // Columns alternate all-positive and all-negative weights; the last few mix them.
                let weights = (0..<columns).flatMap { column in
                    (0..<segments * segmentLength).map { k -> Int8 in
                        column < 16 ? (column.isMultiple(of: 2) ? weightLimit : -weightLimit) : (k % 3 == 0 ? -weightLimit : weightLimit)
                    }
                }
                let reference = Reference(columns: columns, segments: segments, segmentLength: segmentLength, weights: weights,
                                          scale: .init(repeating: 1, count: columns), offset: .init(repeating: 0, count: columns),
                                          inputCeiling: inputCeiling, outputCeiling: 127)
                let stride = segments * segmentLength
                let a = [UInt8](repeating: inputCeiling, count: 3 * stride + QuantizedRows.readSlack)
                let packed = reference.packed
                a.withUnsafeBufferPointer { a in
                    // One output pixel of a square kernel over an image of its size: each kernel row a segment.
                    let rows = QuantizedRows(convolutionOver: a.baseAddress!, width: segments, channels: segmentLength / segments,
                                             kernel: segments, outputWidth: 1)
                    let expected = (0..<columns).map { reference.real(reference.sum((0..<segments).map { a.baseAddress! + $0 * segmentLength }, column: $0), column: $0) }
                    for path in paths {
                        var out = [Float](repeating: .nan, count: columns)
                        out.withUnsafeMutableBufferPointer { packed.product(rows, rows: 0..<1, into: $0.baseAddress!, stride: columns, path: path) }
                        XCTAssertEqual(out, expected, "\(path), \(segments) rows of \(segmentLength), weights ±\(weightLimit), inputs \(inputCeiling)")
                    }
                }
            }
        }
    }

    /// The chunk is the longest whose sums fit 16 bits: a quad holds two pairs per lane, so with all
    /// weights at 63, one quad's lane reaches 126 · ceiling: 32,130 for bytes up to 255 (one quad),
    /// 16,002 for 127 (two quads: 32,004); with weights of 5, bytes up to 127 allow 25 quads,
    /// capped at 16 and at the kernel row's length.
    func testTheChunkIsTheLongestThatFitsSixteenBits() {
        func chunk(_ weight: Int8, _ inputCeiling: UInt8, segmentLength: Int) -> Int {
            QuantizedWeights(columns: 3, segments: 2, segmentLength: segmentLength, scale: [1, 1, 1], offset: [0, 0, 0],
                             inputCeiling: inputCeiling, outputCeiling: 127) { column, _, _ in column == 1 ? -weight : weight }.chunkQuads
        }
        XCTAssertEqual(chunk(63, 255, segmentLength: 400), 1)
        XCTAssertEqual(chunk(63, 127, segmentLength: 400), 2)
        XCTAssertEqual(chunk(32, 127, segmentLength: 400), 4)
        XCTAssertEqual(chunk(5, 127, segmentLength: 400), 16)
        XCTAssertEqual(chunk(5, 127, segmentLength: 20), 5)
    }

    func testThisMachineRunsTheFastestPathItHas() {
        let best = QuantizedKernelPath.available.last!
        let names: [QuantizedKernelPath: String] = [.vnni: "AVX-512 VNNI", .avxVNNI: "AVX-VNNI", .avx2: "AVX2", .portable: "portable C"]
        XCTAssertEqual(QuantizedKernelPath.automaticName, names[best])
    }

    /// The peak loop counts what its instructions do: 12 accumulators a round, 128 multiply-adds
    /// each with AVX2 (four vpmaddubsw of 16 lanes of pairs), 32 with AVX-VNNI (8 lanes of quads),
    /// 64 with AVX-512 VNNI (16 lanes of quads); none on the portable path.
    func testThePeakLoopCountsItsPathsMultiplyAdds() {
        let perRound: [QuantizedKernelPath: Int] = [.portable: 0, .avx2: 12 * 128, .avxVNNI: 12 * 32, .vnni: 12 * 64]
        for path in QuantizedKernelPath.available {
            XCTAssertEqual(path.registerOnlyMultiplyAdds(rounds: 1000), 1000 * perRound[path]!, "\(path)")
        }
    }
}
