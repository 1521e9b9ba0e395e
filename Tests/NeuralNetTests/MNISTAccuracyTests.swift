import Formats
import NeuralNet
import SystemResources
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

    /// The shipped network classifies in 8 bits, and loses next to nothing by it.
    func testShippedWeightsAnswerInEightBitsAsInFloat() throws {
        let test = try loadMNIST(.test)
        let path = try XCTUnwrap(DefaultWeights.locate(), "no default weights in \(DefaultWeights.candidates())")
        let network = try WeightsFile(decoding: readFile(path), source: path).network
        XCTAssertNil(QuantizedNetwork.obstacle(to: network))
        var float = network
        float.activationRanges = nil
        let eightBit = Evaluation(network: network, data: test), reference = Evaluation(network: float, data: test)
        let agreeing = zip(eightBit.predictions, reference.predictions).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(agreeing, 9_990, "8-bit and float predictions agree on \(agreeing) of 10,000")
        XCTAssertGreaterThanOrEqual(reference.confusion.accuracy, 0.995)
        XCTAssertNotEqual(eightBit.logits, reference.logits, "the 8-bit path did not run")
    }
}
