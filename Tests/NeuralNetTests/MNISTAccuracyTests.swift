import Formats
import NeuralNet
import XCTest

/// The promises on real MNIST: the seed's model as specified, and the shipped default weights.
final class MNISTAccuracyTests: XCTestCase {
    func testSeedModelTrainsAboveNinetyPercent() throws {
        let train = try loadMNIST(.train), test = try loadMNIST(.test)
        let trainer = Trainer(network: Network(kind: .mlpSeed, seed: 1), recipe: .standard(for: .mlpSeed), seed: 1)
        let reports = trainer.train(on: train, validation: test)
        XCTAssertEqual(reports.count, 10)
        XCTAssertGreaterThan(reports.last!.testAccuracy!, 0.90)
    }

    func testShippedDefaultWeightsReachNinetyNineAndAHalfPercent() throws {
        let test = try loadMNIST(.test)
        let path = try XCTUnwrap(DefaultWeights.locate(), "no default weights in \(DefaultWeights.candidates())")
        let weights = try WeightsFile(decoding: readFile(path), source: path)
        XCTAssertEqual(weights.network.kind, .cnn)
        let accuracy = Evaluation(network: weights.network, data: test).confusion.accuracy
        XCTAssertGreaterThanOrEqual(accuracy, 0.995, "\(path): \(accuracy)")
    }
}
