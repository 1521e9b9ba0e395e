import Formats
import NeuralNet
import XCTest

final class QuantizationTests: XCTestCase {
    let architecture = "input 1x12x12, conv 4 3 0, relu, maxpool, conv 8 3 0, relu, flatten, dense 16, relu, dense 3"

    func randomImages(_ count: Int, shape: FeatureShape) -> LabeledImages {
        var random = SeededRandom(seed: 5)
        // Strokes on paper, as digits are: mostly zeros, some ink.
        let bytes = (0..<count * shape.count).map { _ in random.nextUniform() < 0.7 ? UInt8(0) : UInt8(random.nextUniform() * 255) }
        return LabeledImages(shape: shape, bytes: bytes, labels: [Int32](repeating: 0, count: count))
    }

    func measuredNetwork() throws -> (Network, LabeledImages) {
        var network = try Network(kind: .cnn, architecture: architecture, seed: 3)
        let images = randomImages(150, shape: network.inputShape)
        network.measureActivationRanges(on: images)
        return (network, images)
    }

    func floatLogits(_ network: Network, _ images: LabeledImages) -> [Float] {
        images.pixels(0..<images.count).withUnsafeBufferPointer { network.logits(for: $0.baseAddress!, count: images.count) }
    }

    func quantizedLogits(_ quantized: QuantizedNetwork, _ images: LabeledImages, batch: Int) -> [Float] {
        images.bytes.withUnsafeBufferPointer {
            quantized.logits(forPixels: $0.baseAddress!, count: images.count,
                             workspace: QuantizedWorkspace(network: quantized, batchCapacity: batch))
        }
    }

    func testEightBitLogitsFollowTheFloatOnes() throws {
        let (network, images) = try measuredNetwork()
        let ranges = try XCTUnwrap(network.activationRanges)
        XCTAssertEqual(ranges.count, 3)
        XCTAssertTrue(ranges.allSatisfy { $0 > 0 })
        let quantized = try XCTUnwrap(QuantizedNetwork(network))
        let exact = floatLogits(network, images), approximate = quantizedLogits(quantized, images, batch: 64)
        let spread = exact.map(abs).max()!
        let worst = zip(exact, approximate).map { abs($0 - $1) }.max()!
        // Three requantised layers of 8 bits: a few hundredths of the logits' spread.
        XCTAssertLessThan(worst, 0.05 * spread, "worst \(worst) of \(spread)")
        XCTAssertGreaterThan(worst, 0, "8-bit arithmetic cannot be exact here: is the float path running?")
    }

    /// What a benchmark divides by the time: conv 4×3×3 over 10×10 outputs, conv 8×(4·3·3)
    /// over 3×3, dense 72→16, dense 16→3.
    func testMultiplyAddsCountEachLayersProducts() throws {
        let (network, _) = try measuredNetwork()
        let quantized = try XCTUnwrap(QuantizedNetwork(network))
        XCTAssertEqual(quantized.multiplyAddsPerImage, 10 * 10 * 4 * 9 + 3 * 3 * 8 * 36 + 72 * 16 + 16 * 3)
    }

    /// Integer sums make an image's result independent of its batch: one at a time, in a
    /// batch, split over threads, the logits are the same to the bit.
    func testAnImagesLogitsDoNotDependOnItsBatch() throws {
        let (network, images) = try measuredNetwork()
        let quantized = try XCTUnwrap(QuantizedNetwork(network))
        let together = quantizedLogits(quantized, images, batch: 64)
        XCTAssertEqual(quantizedLogits(quantized, images, batch: 1), together)
        XCTAssertEqual(quantizedLogits(quantized, images, batch: 7), together)
    }

    func testNetworksWithoutAnEightBitFormStayInFloat() throws {
        let images = randomImages(20, shape: FeatureShape(channels: 1, height: 12, width: 12))
        for (architecture, reason) in [
            ("input 1x12x12, flatten, dense 16, tanh, dense 3", "layer 1 (dense 16) has no 8-bit form"),
            ("input 1x12x12, conv 4 3 1, relu, flatten, dense 3", "layer 0 (conv 4 3 1) has no 8-bit form"),
            ("input 1x12x12, conv 4 3 0, batchnorm, relu, flatten, dense 3", "layer 0 (conv 4 3 0) has no 8-bit form"),
        ] {
            var network = try Network(kind: .cnn, architecture: architecture, seed: 1)
            network.measureActivationRanges(on: images)
            XCTAssertNil(network.activationRanges, architecture)
            network.activationRanges = [Float](repeating: 1, count: architecture.components(separatedBy: "relu").count - 1)
            XCTAssertTrue(QuantizedNetwork.obstacle(to: network)?.contains(reason) == true,
                          "\(architecture): \(QuantizedNetwork.obstacle(to: network) ?? "none")")
        }
    }

    func testWeightsFileKeepsTheRangesAndRefusesBadOnes() throws {
        let (network, _) = try measuredNetwork()
        let file = WeightsFile(network: network)
        let decoded = try WeightsFile(decoding: file.encoded(), source: "q.weights")
        XCTAssertEqual(decoded.network.activationRanges, network.activationRanges)
        XCTAssertEqual(decoded.modelID, file.modelID)
        var floatOnly = network
        floatOnly.activationRanges = nil
        XCTAssertNotEqual(WeightsFile(network: floatOnly).modelID, file.modelID, "8-bit and float outputs differ: so must the ids")

        let text = "activation_ranges=" + network.activationRanges!.map { "\($0)" }.joined(separator: ",")
        for (replacement, reason) in [
            ("activation_ranges=1,2", "the weights hold 2 activation ranges for 3 ReLU layers"),
            ("activation_ranges=1,-2,3", "are not one positive number per ReLU layer"),
            ("activation_ranges=1,x,3", "are not one positive number per ReLU layer"),
        ] {
            var bytes = file.encoded()
            let start = try XCTUnwrap(bytes.firstRange(of: Array(text.utf8))).lowerBound
            bytes.replaceSubrange(start..<start + text.utf8.count, with: Array(replacement.utf8))
            // The metadata length in front of it changes too.
            let lengthAt = 12
            let length = UInt32(bytes[lengthAt]) | UInt32(bytes[lengthAt + 1]) << 8 | UInt32(bytes[lengthAt + 2]) << 16
            let fixed = Int(length) + replacement.utf8.count - text.utf8.count
            bytes.replaceSubrange(lengthAt..<lengthAt + 4, with: [UInt8(fixed & 0xFF), UInt8(fixed >> 8 & 0xFF), UInt8(fixed >> 16 & 0xFF), 0])
            XCTAssertThrowsError(try WeightsFile(decoding: resealed(bytes), source: "r.weights")) { error in
                XCTAssertTrue("\(error)".hasPrefix("r.weights: ") && "\(error)".contains(reason), "\(error)")
            }
        }
    }
}
