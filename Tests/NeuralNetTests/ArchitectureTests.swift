import NeuralNet
import XCTest

final class ArchitectureTests: XCTestCase {
    func testBuiltInModelsParseAndTakeMNIST() throws {
        for kind in ModelKind.allCases {
            let network = Network(kind: kind, seed: 1)
            XCTAssertEqual(network.inputShape, FeatureShape(channels: 1, height: 28, width: 28), "\(kind)")
            XCTAssertEqual(network.classCount, 10, "\(kind)")
            XCTAssertEqual(network.layers.map(\.specification).joined(separator: ", "),
                           kind.architecture.split(separator: ",").dropFirst().map { $0.trimmingPrefix(" ") }.joined(separator: ", "))
        }
        XCTAssertEqual(Network(kind: .mlpSeed, seed: 1).parameterCount, 784 * 128 + 128 + 128 * 10 + 10)
    }

    func testSeedInitialisationIsNormalOverRootFanIn() {
        let network = Network(kind: .mlpSeed, seed: 5)
        let weights = network.parameters[0..<784 * 128]
        let mean = weights.reduce(0, +) / Float(weights.count)
        let variance = weights.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(weights.count)
        XCTAssertEqual(mean, 0, accuracy: 0.001)
        XCTAssertEqual(variance.squareRoot(), 1 / Float(784).squareRoot(), accuracy: 0.001)
        XCTAssertEqual(network.parameters[784 * 128..<784 * 128 + 128].max(), 0, "biases start at zero")
    }

    func testMalformedDescriptionsAreRefused() {
        let cases: [(String, String)] = [
            ("conv 3 3 1", "it must start with \"input CxHxW\""),
            ("input 1x28, dense 10", "bad input shape 1x28"),
            ("input 1x28x28, dense 10", "dense needs a flat input, got 1x28x28"),
            ("input 1x4x4, conv 2 9 0", "conv [2, 9, 0] does not fit input 1x4x4"),
            ("input 1x28x28, flatten, softmax", "unknown layer \"softmax\""),
            ("input 1x28x28, flatten, dense -3", "bad layer \"dense -3\""),
            ("input 1x28x28", "no layers"),
            // Numbers that would overflow or exhaust memory are refused, not trapped on.
            ("input 1x28x28, conv 1 9223372036854775807 9223372036854775806", "conv [1, 9223372036854775807, 9223372036854775806] does not fit input 1x28x28"),
            ("input 1x28x28, conv 4096 3 1, relu, relu", "the layers need more than 4194304 values of memory per image"),
            ("input 4096x4096x4096, flatten, dense 10", "the layers need more than 4194304 values of memory per image"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try parseArchitecture(text), text) { error in
                XCTAssertEqual(error as? ArchitectureError, .malformed(text, reason: reason))
            }
        }
    }
}
