import NeuralNet
import XCTest

final class TrainingTests: XCTestCase {
    /// A tiny, learnable problem: the label is the quadrant holding the brightest pixel.
    func quadrants(count: Int, seed: UInt64) -> LabeledImages {
        var random = SeededRandom(seed: seed)
        var pixels: [Float] = [], labels: [Int32] = []
        for _ in 0..<count {
            var image = (0..<784).map { _ in random.nextUniform() * 0.2 }
            let label = Int(random.next() % 4)
            let row = (label / 2) * 14 + 3 + Int(random.next() % 8), column = (label % 2) * 14 + 3 + Int(random.next() % 8)
            for dy in 0..<3 { for dx in 0..<3 { image[(row + dy) * 28 + column + dx] = 1 } }
            pixels += image
            labels.append(Int32(label))
        }
        return LabeledImages(shape: FeatureShape(channels: 1, height: 28, width: 28), pixels: pixels, labels: labels)
    }

    func tinyRecipe(_ kind: ModelKind) -> TrainingRecipe {
        var recipe = TrainingRecipe.standard(for: kind)
        recipe.epochs = 2
        recipe.batchSize = 32
        return recipe
    }

    func testSameSeedSameWeightsOtherSeedOtherWeights() {
        let data = quadrants(count: 200, seed: 1)
        func train(_ seed: UInt64) -> [Float] {
            let trainer = Trainer(network: Network(kind: .cnn, seed: seed), recipe: tinyRecipe(.cnn), seed: seed)
            trainer.train(on: data, validation: nil)
            return trainer.network.parameters
        }
        let first = train(7)
        XCTAssertEqual(first, train(7))
        XCTAssertNotEqual(first, train(8))
    }

    func testBothModelsLearnATinyProblem() {
        let data = quadrants(count: 600, seed: 2), check = quadrants(count: 200, seed: 3)
        for kind in ModelKind.allCases {
            var recipe = tinyRecipe(kind)
            recipe.epochs = kind == .mlpSeed ? 30 : 4
            if kind == .mlpSeed { recipe.schedule = .constant(0.5) }
            var epochs: [Int] = []
            let trainer = Trainer(network: Network(kind: kind, seed: 1), recipe: recipe, seed: 1)
            let reports = trainer.train(on: data, validation: check, progress: { event in
                if case let .epochFinished(report) = event { epochs.append(report.epoch) }
            })
            XCTAssertEqual(epochs, Array(1...recipe.epochs))
            XCTAssertGreaterThan(reports.last!.testAccuracy!, 0.9, "\(kind): \(reports.last!)")
            XCTAssertLessThan(reports.last!.trainLoss, reports.first!.trainLoss, "\(kind)")
        }
    }

    func testStopRequestEndsTrainingBetweenBatches() {
        var batches = 0
        let trainer = Trainer(network: Network(kind: .mlpSeed, seed: 1), recipe: tinyRecipe(.mlpSeed), seed: 1)
        let reports = trainer.train(on: quadrants(count: 320, seed: 4), validation: nil,
                                    progress: { if case .batch = $0 { batches += 1 } },
                                    shouldStop: { batches >= 3 })
        XCTAssertEqual(batches, 3)
        XCTAssertTrue(reports.isEmpty)
    }

    func testOneCycleScheduleRisesThenFalls() {
        let schedule = LearningRateSchedule.oneCycle(peak: 1, warmupFraction: 0.25)
        XCTAssertEqual(schedule.rate(step: 0, of: 101), 0.04, accuracy: 1e-6)
        XCTAssertEqual(schedule.rate(step: 25, of: 101), 1, accuracy: 1e-6)
        XCTAssertEqual(schedule.rate(step: 100, of: 101), 1e-4, accuracy: 1e-6)
        XCTAssertGreaterThan(schedule.rate(step: 50, of: 101), schedule.rate(step: 75, of: 101))
    }

    func testConfusionMatrixSummaries() {
        var confusion = ConfusionMatrix(classes: 3)
        for (truth, predicted) in [(0, 0), (0, 0), (0, 1), (1, 1), (2, 1)] { confusion.add(truth: truth, predicted: predicted) }
        XCTAssertEqual(confusion.accuracy, 0.6)
        XCTAssertEqual(confusion.precision(1)!, 1.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(confusion.recall(0)!, 2.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(confusion.recall(2), 0)
        XCTAssertNil(confusion.precision(2))
    }
}
