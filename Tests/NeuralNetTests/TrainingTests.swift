import NeuralNet
import XCTest

final class TrainingTests: XCTestCase {
    /// A tiny, learnable problem: the label is the quadrant holding the brightest pixel.
    func quadrants(count: Int, seed: UInt64) -> LabeledImages {
        var random = SeededRandom(seed: seed)
        var pixels: [UInt8] = [], labels: [Int32] = []
        for _ in 0..<count {
            var image = (0..<784).map { _ in UInt8(random.nextUniform() * 51) }
            let label = Int(random.next() % 4)
            let row = (label / 2) * 14 + 3 + Int(random.next() % 8), column = (label % 2) * 14 + 3 + Int(random.next() % 8)
            for dy in 0..<3 { for dx in 0..<3 { image[(row + dy) * 28 + column + dx] = 255 } }
            pixels += image
            labels.append(Int32(label))
        }
        return LabeledImages(shape: FeatureShape(channels: 1, height: 28, width: 28), bytes: pixels, labels: labels)
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

    /// Every optimizer moves each parameter by its own formula, whatever part of the split
    /// (over the cores) it falls in, and leaves the gradients zero for the next step.
    func testOptimizersStepEveryParameterAndConsumeTheGradients() {
        let count = 100_003
        let initial = (0..<count).map { Float($0 % 17) - 8 }
        let gradient = (0..<count).map { Float($0 % 5) - 2 }
        for settings in [OptimizerSettings.sgd(momentum: 0), .sgd(momentum: 0.9),
                         .adamW(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01)] {
            var optimizer = Optimizer(settings, parameterCount: count)
            var parameters = initial, gradients = gradient
            parameters.withUnsafeMutableBufferPointer { p in
                gradients.withUnsafeMutableBufferPointer { optimizer.update(p.baseAddress!, $0.baseAddress!, count: count, learningRate: 0.1) }
            }
            let expected: (Float, Float) -> Float
            switch settings {
            case .sgd: expected = { p, g in p - 0.1 * g }  // first step: the velocity is the gradient
            case .adamW: expected = { p, g in p * (1 - 0.1 * 0.01) - (g == 0 ? 0 : 0.1 * (g > 0 ? 1 : -1)) }
            }
            let worst = (0..<count).map { abs(parameters[$0] - expected(initial[$0], gradient[$0])) }.max()!
            XCTAssertLessThan(worst, 1e-5, "\(settings)")
            XCTAssertTrue(gradients.allSatisfy { $0 == 0 }, "\(settings) leaves gradients to be zeroed")
        }
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

final class BatchNormTests: XCTestCase {
    /// Training normalises with the batch's statistics and moves the running averages toward
    /// them; inference then uses the running averages.
    func testTrainingUpdatesRunningAveragesThatInferenceUses() {
        let layer = BatchNorm(input: FeatureShape(channels: 2))
        let x: [Float] = [1, 10, 3, 30]          // two rows: channel 0 = {1, 3}, channel 1 = {10, 30}
        let parameters: [Float] = [2, 2, 0.5, 0.5]  // γ = 2, β = 0.5
        var statistics: [Float] = [0, 0, 1, 1]
        var y = [Float](repeating: 0, count: 4)
        var cache = [Float](repeating: 0, count: layer.cacheCount(batch: 2))
        y.withUnsafeMutableBufferPointer { yp in
            cache.withUnsafeMutableBufferPointer { cp in
                statistics.withUnsafeMutableBufferPointer {
                    layer.forward(yp.baseAddress!, cp.baseAddress!, x, parameters, $0.baseAddress!, mode: .training, batch: 2)
                }
            }
        }
        for (value, expected) in zip(y, [-1.5, -1.5, 2.5, 2.5] as [Float]) { XCTAssertEqual(value, expected, accuracy: 1e-3) }
        // Running mean: 0.9·0 + 0.1·batch mean; running variance: 0.9·1 + 0.1·unbiased variance.
        for (value, expected) in zip(statistics, [0.2, 2, 0.9 + 0.1 * 2, 0.9 + 0.1 * 200] as [Float]) {
            XCTAssertEqual(value, expected, accuracy: 1e-3)
        }
        y.withUnsafeMutableBufferPointer { yp in
            cache.withUnsafeMutableBufferPointer { cp in
                statistics.withUnsafeMutableBufferPointer {
                    layer.forward(yp.baseAddress!, cp.baseAddress!, x, parameters, $0.baseAddress!, mode: .inference, batch: 2)
                }
            }
        }
        let expected0 = 2 * (1 - 0.2) / (1.1 + 1e-5).squareRoot() + 0.5
        XCTAssertEqual(Double(y[0]), Double(expected0), accuracy: 1e-3)
        XCTAssertEqual(statistics[0], 0.2, accuracy: 1e-6, "inference leaves the averages alone")
    }

    func testStatisticsSurviveTheWeightsFile() throws {
        let network = try Network(kind: .cnn, architecture: "input 1x4x4, conv 2 3 1, batchnorm, relu, flatten, dense 3", parameters: nil)
        var random = SeededRandom(seed: 2)
        let data = LabeledImages(shape: FeatureShape(channels: 1, height: 4, width: 4),
                                 bytes: (0..<16 * 8).map { _ in UInt8(random.nextUniform() * 255) }, labels: (0..<8).map { Int32($0 % 3) })
        var recipe = TrainingRecipe.standard(for: .cnn)
        recipe.epochs = 1
        let trained = Trainer(network: network, recipe: recipe, seed: 1)
        trained.train(on: data, validation: nil)
        XCTAssertNotEqual(trained.network.statistics, [0, 0, 1, 1])
        let decoded = try WeightsFile(decoding: WeightsFile(network: trained.network).encoded(), source: "bn")
        XCTAssertEqual(decoded.network.statistics, trained.network.statistics)
        XCTAssertEqual(decoded.network.parameters, trained.network.parameters)
    }
}
