import NeuralNet
import XCTest

/// `ModelTraining`, the one way a deployable model is made (by `mnistctl train` and the
/// daemon's retrainer alike).
extension TrainingTests {
    func testTheCalibrationTailIsTheRecipesShareOrWhatIsAsked() throws {
        var training = try ModelTraining(kind: .cnn, recipe: .standard(for: .cnn), seed: 1)
        XCTAssertEqual(training.heldOutCount(of: 60_000), 5000)
        XCTAssertEqual(training.heldOutCount(of: 11), 0)
        training.calibrationImages = 7
        XCTAssertEqual(training.heldOutCount(of: 100), 7)
        XCTAssertEqual(training.heldOutCount(of: 5), 5, "never more than there are")
        XCTAssertEqual(try ModelTraining(kind: .mlpSeed, recipe: .standard(for: .mlpSeed), seed: 1).heldOutCount(of: 60_000), 0,
                       "the seed model trains on every image, as the original did")
    }

    func testAModelIsTrainedCalibratedJudgedAndDescribedInOneCall() throws {
        let images = quadrants(count: 360, seed: 5), test = quadrants(count: 100, seed: 6)
        var recipe = tinyRecipe(.cnn)
        recipe.calibrationShare = 12
        let training = try ModelTraining(kind: .cnn, recipe: recipe, seed: 3)
        var epochsSeen = 0
        let trained = try XCTUnwrap(training.run(on: images, test: test, evaluatingEachEpoch: false, dataset: "quadrants",
                                                 created: "2026-12-04T00:00:00Z",
                                                 progress: { if case .epochFinished = $0 { epochsSeen += 1 } }))
        XCTAssertEqual(epochsSeen, 2)
        XCTAssertEqual(trained.trainedOn, 330)
        let calibration = try XCTUnwrap(trained.calibration)
        XCTAssertEqual(calibration.heldOutImages, 30, "the last twelfth")
        let network = trained.weights.network
        XCTAssertEqual(network.temperature, calibration.temperature)
        XCTAssertNotNil(network.activationRanges, "the 8-bit form is measured")
        XCTAssertNil(trained.reports.last?.testAccuracy, "no evaluation each epoch unless asked")
        let accuracy = Evaluation(network: network, data: test).confusion.accuracy
        XCTAssertEqual(trained.evaluation.confusion.accuracy, accuracy, "judged as deployed")
        XCTAssertEqual(trained.weights.metadata["test_accuracy"], String((Double(accuracy) * 10_000).rounded() / 10_000))
        for (key, value) in ["dataset": "quadrants", "epochs": "2", "seed": "3", "created": "2026-12-04T00:00:00Z",
                             "calibration_images": "30"] {
            XCTAssertEqual(trained.weights.metadata[key], value, key)
        }
        XCTAssertEqual(EpochReport.parseHistory(trained.weights.metadata["history"] ?? "")?.count, 2)
        XCTAssertNotNil(trained.weights.inputProfile)

        let again = training.run(on: images, test: test, evaluatingEachEpoch: true, dataset: "quadrants", created: "later")
        XCTAssertEqual(again?.weights.modelID, trained.weights.modelID, "the same seed and data make the same model")
        XCTAssertNotNil(again?.reports.last?.testAccuracy)
        XCTAssertNil(training.run(on: images, test: test, evaluatingEachEpoch: false, dataset: "quadrants", created: "",
                                  shouldStop: { true }), "a stopped training makes no model")
    }
}
