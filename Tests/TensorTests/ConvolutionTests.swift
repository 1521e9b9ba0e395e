@testable import Tensor
import XCTest

final class ConvolutionTests: XCTestCase {
    let shapes = [
        ConvolutionShape(inputChannels: 1, outputChannels: 3, height: 7, width: 5, kernel: 3, padding: 1),
        ConvolutionShape(inputChannels: 3, outputChannels: 5, height: 9, width: 11, kernel: 5, padding: 2),
        ConvolutionShape(inputChannels: 2, outputChannels: 7, height: 6, width: 6, kernel: 5, padding: 0),
        ConvolutionShape(inputChannels: 4, outputChannels: 1, height: 3, width: 4, kernel: 1, padding: 0),
        // One channel, 5-wide kernel rows: the short runs im2col moves as one vector.
        ConvolutionShape(inputChannels: 1, outputChannels: 16, height: 13, width: 11, kernel: 5, padding: 2),
        ConvolutionShape(inputChannels: 1, outputChannels: 8, height: 12, width: 12, kernel: 5, padding: 0),
        ConvolutionShape(inputChannels: 16, outputChannels: 9, height: 8, width: 7, kernel: 5, padding: 0),
    ]

    func testForwardMatchesDirectConvolution() {
        var random = TestRandom()
        for s in shapes {
            for batch in [1, 3] {
                let x = (0..<s.inputChannels * batch * s.height * s.width).map { _ in Float.random(in: -1...1, using: &random) }
                let w = (0..<s.weightCount).map { _ in Float.random(in: -1...1, using: &random) }
                let bias = (0..<s.outputChannels).map { _ in Float.random(in: -1...1, using: &random) }
                let outputs = s.outputChannels * batch * s.outputHeight * s.outputWidth
                var fast = [Float](repeating: 0, count: outputs), slow = fast
                fast.withUnsafeMutableBufferPointer { convolutionForward($0.baseAddress!, x, w, bias, s, batch: batch) }
                slow.withUnsafeMutableBufferPointer { convolutionNaive($0.baseAddress!, x, w, bias, s, batch: batch) }
                let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, 1e-4, "\(s) batch \(batch)")
            }
        }
    }

    /// Unpadded convolutions read their patches in place instead of unfolding them: the sums
    /// must be the very ones im2col + GEMM computes (trained weights, and so model ids, depend
    /// on it) — including a patch longer than GEMM's 256-deep blocks (the default cnn's conv2).
    func testPatchesReadInPlaceGiveTheUnfoldedResultToTheBit() {
        var random = TestRandom()
        let unpadded = shapes.filter { $0.padding == 0 } + [
            ConvolutionShape(inputChannels: 1, outputChannels: 16, height: 28, width: 28, kernel: 5, padding: 0),
            ConvolutionShape(inputChannels: 16, outputChannels: 32, height: 12, width: 12, kernel: 5, padding: 0),
        ]
        // Batches split over four parts, unevenly (5: the last part is empty).
        for s in unpadded {
            for batch in [1, 5, 7] {
                let x = (0..<s.inputChannels * batch * s.height * s.width).map { _ in Float.random(in: -1...1, using: &random) }
                let w = (0..<s.weightCount).map { _ in Float.random(in: -1...1, using: &random) }
                let bias = (0..<s.outputChannels).map { _ in Float.random(in: -1...1, using: &random) }
                let rows = batch * s.outputPlane
                var inPlace = [Float](repeating: 0, count: rows * s.outputChannels), unfolded = inPlace
                inPlace.withUnsafeMutableBufferPointer { convolutionForward($0.baseAddress!, x, w, bias, s, batch: batch) }
                var cols = [Float](repeating: 0, count: rows * s.patchSize)
                cols.withUnsafeMutableBufferPointer { im2col($0.baseAddress!, x, s, images: 0..<batch) }
                unfolded.withUnsafeMutableBufferPointer { y in
                    gemm(y.baseAddress!, ldc: s.outputChannels, MatrixRef(cols, rows: rows, columns: s.patchSize),
                         MatrixRef(w, rows: s.outputChannels, columns: s.patchSize).transposed, accumulate: false, parallel: false)
                    addRowBias(y.baseAddress!, bias, rows: rows, columns: s.outputChannels)
                }
                XCTAssertTrue(inPlace == unfolded, "\(s) batch \(batch): \(zip(inPlace, unfolded).filter { $0 != $1 }.count) outputs differ")
            }
        }
    }

    /// The backward pass against the chain rule written out loop by loop, on shapes whose
    /// batches split into several chunks in each of the four parts (so chunk boundaries,
    /// per-part partial sums and their summation are all exercised), padded and not.
    func testBackwardMatchesDirectGradientsAcrossChunks() {
        var random = TestRandom()
        for s in [ConvolutionShape(inputChannels: 8, outputChannels: 3, height: 16, width: 16, kernel: 5, padding: 0),
                  ConvolutionShape(inputChannels: 8, outputChannels: 2, height: 14, width: 14, kernel: 5, padding: 2)] {
            let batch = 4 * 3 * s.imagesPerChunk - 5
            XCTAssertGreaterThan(batch / 4, 2 * s.imagesPerChunk, "\(s): several chunks per part")
            let x = (0..<batch * s.height * s.width * s.inputChannels).map { _ in Float.random(in: -1...1, using: &random) }
            let w = (0..<s.weightCount).map { _ in Float.random(in: -1...1, using: &random) }
            let dy = (0..<batch * s.outputPlane * s.outputChannels).map { _ in Float.random(in: -1...1, using: &random) }
            var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count)
            var dbias = [Float](repeating: 0, count: s.outputChannels)
            dx.withUnsafeMutableBufferPointer { dx in
                dw.withUnsafeMutableBufferPointer { dw in
                    dbias.withUnsafeMutableBufferPointer { convolutionBackward(dx.baseAddress!, dw.baseAddress!, $0.baseAddress!, dy, x, w, s, batch: batch) }
                }
            }
            var expectedDx = [Double](repeating: 0, count: x.count), expectedDw = [Double](repeating: 0, count: w.count)
            var expectedDbias = [Double](repeating: 0, count: s.outputChannels)
            for b in 0..<batch {
                for i in 0..<s.outputHeight {
                    for j in 0..<s.outputWidth {
                        for o in 0..<s.outputChannels {
                            let g = Double(dy[((b * s.outputHeight + i) * s.outputWidth + j) * s.outputChannels + o])
                            expectedDbias[o] += g
                            for kh in 0..<s.kernel {
                                for kw in 0..<s.kernel {
                                    let iy = i + kh - s.padding, ix = j + kw - s.padding
                                    guard iy >= 0, iy < s.height, ix >= 0, ix < s.width else { continue }
                                    for c in 0..<s.inputChannels {
                                        let wi = ((o * s.kernel + kh) * s.kernel + kw) * s.inputChannels + c
                                        let xi = ((b * s.height + iy) * s.width + ix) * s.inputChannels + c
                                        expectedDw[wi] += g * Double(x[xi])
                                        expectedDx[xi] += g * Double(w[wi])
                                    }
                                }
                            }
                        }
                    }
                }
            }
            func worst(_ got: [Float], _ expected: [Double]) -> Double { zip(got, expected).map { abs(Double($0) - $1) }.max()! }
            XCTAssertLessThan(worst(dx, expectedDx), 1e-3, "\(s) dx")
            XCTAssertLessThan(worst(dw, expectedDw), 1e-2, "\(s) dw (sums over \(batch * s.outputPlane) positions)")
            XCTAssertLessThan(worst(dbias, expectedDbias), 1e-2, "\(s) dbias")
        }
    }

    /// col2im must be the exact adjoint of im2col: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩.
    func testCol2imIsAdjointOfIm2col() {
        var random = TestRandom()
        for s in shapes {
            let batch = 2
            let x = (0..<s.inputChannels * batch * s.height * s.width).map { _ in Float.random(in: -1...1, using: &random) }
            let columnCount = s.patchSize * batch * s.outputHeight * s.outputWidth
            let c = (0..<columnCount).map { _ in Float.random(in: -1...1, using: &random) }
            var cols = [Float](repeating: 0, count: columnCount)
            var folded = [Float](repeating: 0, count: x.count)
            cols.withUnsafeMutableBufferPointer { im2col($0.baseAddress!, x, s, images: 0..<batch) }
            folded.withUnsafeMutableBufferPointer { col2im($0.baseAddress!, c, s, images: 0..<batch) }
            let left = zip(cols, c).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            let right = zip(x, folded).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            XCTAssertEqual(left, right, accuracy: 1e-3, "\(s)")
        }
    }

    func testMaxPoolPicksWinnersAndRoutesGradients() {
        // One 3×4 image with two channels, interleaved (channels last); the odd last row is dropped.
        let first: [Float] = [1, 5, 2, 0,
                              3, 4, 8, 1,
                              9, 9, 9, 9]
        let second = first.map { -$0 }
        let x = zip(first, second).flatMap { [$0, $1] }
        var y = [Float](repeating: 0, count: 4)
        var winners = [Int32](repeating: 0, count: 4)
        y.withUnsafeMutableBufferPointer { yp in
            winners.withUnsafeMutableBufferPointer {
                maxPoolForward(yp.baseAddress!, $0.baseAddress!, x, images: 1, height: 3, width: 4, channels: 2)
            }
        }
        XCTAssertEqual(y, [5, -1, 8, 0])
        XCTAssertEqual(winners, [2, 1, 12, 7])
        var dx = [Float](repeating: 0, count: 24)
        dx.withUnsafeMutableBufferPointer { maxPoolBackward($0.baseAddress!, [10, 20, 30, 40], winners, outputCount: 4) }
        var expected = [Float](repeating: 0, count: 24)
        expected[2] = 10; expected[1] = 20; expected[12] = 30; expected[7] = 40
        XCTAssertEqual(dx, expected)
    }

    /// Eleven channels: eight pooled as one vector, three one by one; small integer values make
    /// ties, which must go to the earliest candidate (top left, right, below, below right) in both.
    func testMaxPoolMatchesScalarRuleOnManyChannels() {
        var random = TestRandom()
        let images = 3, height = 7, width = 6, channels = 11
        let x = (0..<images * height * width * channels).map { _ in Float(Int.random(in: -3...3, using: &random)) }
        let outputs = images * (height / 2) * (width / 2) * channels
        var y = [Float](repeating: 0, count: outputs)
        var winners = [Int32](repeating: 0, count: outputs)
        y.withUnsafeMutableBufferPointer { yp in
            winners.withUnsafeMutableBufferPointer {
                maxPoolForward(yp.baseAddress!, $0.baseAddress!, x, images: images, height: height, width: width, channels: channels)
            }
        }
        var mismatches = 0
        for b in 0..<images {
            for i in 0..<height / 2 {
                for j in 0..<width / 2 {
                    for c in 0..<channels {
                        let topLeft = ((b * height + 2 * i) * width + 2 * j) * channels + c
                        var best = topLeft
                        for candidate in [topLeft + channels, topLeft + width * channels, topLeft + (width + 1) * channels]
                        where x[candidate] > x[best] {
                            best = candidate
                        }
                        let out = ((b * (height / 2) + i) * (width / 2) + j) * channels + c
                        if winners[out] != Int32(best) || y[out] != x[best] { mismatches += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "pooled outputs differing from the scalar rule, of \(outputs)")
        // Inference keeps no winners and must pool the same values.
        var inferred = [Float](repeating: .nan, count: outputs)
        inferred.withUnsafeMutableBufferPointer {
            maxPoolForward($0.baseAddress!, nil, x, images: images, height: height, width: width, channels: channels)
        }
        XCTAssertEqual(inferred, y)
    }

    /// Bytes pooled sixteen channels at a time and the rest one by one, on odd sizes: each output
    /// the largest of its four inputs.
    func testBytePoolingTakesTheLargestOfEachWindow() {
        var random = TestRandom()
        for (height, width, channels) in [(24, 24, 16), (8, 8, 32), (7, 5, 35), (5, 9, 3)] {
            let x = (0..<height * width * channels).map { _ in UInt8.random(in: 0...255, using: &random) }
            var y = [UInt8](repeating: 0, count: (height / 2) * (width / 2) * channels)
            y.withUnsafeMutableBufferPointer { maxPoolBytes($0.baseAddress!, x, height: height, width: width, channels: channels) }
            var expected: [UInt8] = []
            for i in 0..<height / 2 {
                for j in 0..<width / 2 {
                    for c in 0..<channels {
                        expected.append([(0, 0), (0, 1), (1, 0), (1, 1)].map { x[((2 * i + $0.0) * width + 2 * j + $0.1) * channels + c] }.max()!)
                    }
                }
            }
            XCTAssertEqual(y, expected, "\(height)×\(width)×\(channels)")
        }
    }

    func testSoftmaxRowsSumToOneAndSurviveLargeLogits() {
        let logits: [Float] = [1000, 1001, 1002, -5, 0, 5]
        var p = [Float](repeating: 0, count: 6)
        p.withUnsafeMutableBufferPointer { softmaxRows($0.baseAddress!, logits, rows: 2, classes: 3) }
        XCTAssertEqual(p[0] + p[1] + p[2], 1, accuracy: 1e-6)
        XCTAssertEqual(p[3] + p[4] + p[5], 1, accuracy: 1e-6)
        XCTAssertEqual(p[2], 0.66524, accuracy: 1e-4)
        XCTAssertEqual(argmax(p, count: 3), 2)
    }
}
