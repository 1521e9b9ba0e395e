import Tensor

/// What one epoch of training achieved.
public struct EpochReport: Equatable, Sendable {
    public var epoch: Int
    /// Mean loss and accuracy over the epoch's (augmented) training batches, as they went.
    public var trainLoss: Float
    public var trainAccuracy: Float
    /// On the held-out set after the epoch, when there is one.
    public var testLoss: Float?
    public var testAccuracy: Float?
    /// Training time so far, evaluation excluded.
    public var elapsedSeconds: Double
}

public enum TrainingProgress: Sendable {
    case batch(epoch: Int, batch: Int, batches: Int, meanLoss: Float)
    case epochFinished(EpochReport)
}

/// Mini-batch training of a network on labeled images. Deterministic for a given seed: shuffling,
/// augmentation and initialisation draw from separate seeded streams, and the kernels split
/// work the same way on every run.
public final class Trainer {
    public private(set) var network: Network
    public let recipe: TrainingRecipe
    private var optimizer: Optimizer
    private var shuffleRandom: SeededRandom
    private var augmentRandom: SeededRandom
    private let workspace: Workspace
    private var gradients: [Float]

    public init(network: Network, recipe: TrainingRecipe, seed: UInt64) {
        self.network = network
        self.recipe = recipe
        var random = SeededRandom(seed: seed ^ 0x5EED_0F_7EA1)
        shuffleRandom = random.fork()
        augmentRandom = random.fork()
        optimizer = Optimizer(recipe.optimizer, parameterCount: network.parameterCount)
        workspace = Workspace(network: network, batchCapacity: recipe.batchSize)
        gradients = [Float](repeating: 0, count: network.parameterCount)
    }

    /// Trains for `recipe.epochs` epochs, reporting progress; `shouldStop` is asked between
    /// batches and ends training early when it returns true.
    @discardableResult
    public func train(
        on data: LabeledImages, validation: LabeledImages?,
        progress: (TrainingProgress) -> Void = { _ in },
        shouldStop: () -> Bool = { false }
    ) -> [EpochReport] {
        precondition(data.shape == network.inputShape, "training images are \(data.shape), the network takes \(network.inputShape)")
        precondition(data.labels.allSatisfy { $0 >= 0 && Int($0) < network.classCount }, "training labels outside 0..<\(network.classCount)")
        let batchSize = recipe.batchSize
        let batchesPerEpoch = (data.count + batchSize - 1) / batchSize
        let totalSteps = recipe.epochs * batchesPerEpoch
        let classes = network.classCount
        var order = Array(0..<data.count)
        var labels = [Int32](repeating: 0, count: batchSize)
        var distortions = [Distortion](repeating: .identity, count: batchSize)
        var probabilities = [Float](repeating: 0, count: batchSize * classes)
        var logitGradients = [Float](repeating: 0, count: batchSize * classes)
        var reports: [EpochReport] = []
        var elapsed = Duration.zero
        let clock = ContinuousClock()
        var step = 0

        guard recipe.epochs > 0, data.count > 0 else { return [] }
        for epoch in 1...recipe.epochs {
            let started = clock.now
            order.shuffle(using: &shuffleRandom)
            var lossSum: Double = 0, correct = 0, seen = 0
            for batchIndex in 0..<batchesPerEpoch {
                if shouldStop() { return reports }
                let first = batchIndex * batchSize
                let batch = min(batchSize, data.count - first)
                for b in 0..<batch {
                    labels[b] = data.labels[order[first + b]]
                    if let augmentation = recipe.augmentation { distortions[b] = augmentation.draw(&augmentRandom) }
                }
                assembleBatch(from: data, order[first..<first + batch], distortions: recipe.augmentation == nil ? nil : distortions)
                let rate = recipe.schedule.rate(step: step, of: totalSteps)
                let loss = trainStep(batch: batch, labels: &labels, probabilities: &probabilities,
                                     logitGradients: &logitGradients, learningRate: rate)
                step += 1
                lossSum += Double(loss) * Double(batch)
                seen += batch
                probabilities.withUnsafeBufferPointer { p in
                    for b in 0..<batch where argmax(p.baseAddress! + b * classes, count: classes) == Int(labels[b]) {
                        correct += 1
                    }
                }
                progress(.batch(epoch: epoch, batch: batchIndex + 1, batches: batchesPerEpoch, meanLoss: Float(lossSum / Double(seen))))
            }
            elapsed += clock.now - started
            var report = EpochReport(
                epoch: epoch, trainLoss: Float(lossSum / Double(seen)), trainAccuracy: Float(correct) / Float(seen),
                testLoss: nil, testAccuracy: nil,
                elapsedSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            if let validation {
                let evaluation = Evaluation(network: network, data: validation, loss: recipe.loss)
                report.testLoss = evaluation.meanLoss
                report.testAccuracy = evaluation.confusion.accuracy
            }
            reports.append(report)
            progress(.epochFinished(report))
        }
        return reports
    }

    /// Writes (or distorts) the batch's images into the workspace input, both cores at once:
    /// the images lie scattered over the whole training set, so this is mostly memory traffic.
    private func assembleBatch(from data: LabeledImages, _ indices: ArraySlice<Int>, distortions: [Distortion]?) {
        let imageSize = data.shape.count, height = data.shape.height, width = data.shape.width
        let input = UncheckedSendable(workspace.input)
        parallelRanges(indices.count, minimumPerThread: 8) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: distortions == nil ? 0 : imageSize) { original in
                for b in range {
                    let image = indices[indices.startIndex + b], target = input.value + b * imageSize
                    if let distortions {
                        data.writePixels(of: image, to: original.baseAddress!)
                        distortions[b].apply(target, original.baseAddress!, height: height, width: width)
                    } else {
                        data.writePixels(of: image, to: target)
                    }
                }
            }
        }
    }

    private func trainStep(
        batch: Int, labels: inout [Int32], probabilities: inout [Float], logitGradients: inout [Float], learningRate: Float
    ) -> Float {
        let classes = network.classCount
        let count = network.parameterCount
        return network.withWritableState { layout, p, statistics in
            gradients.withUnsafeMutableBufferPointer { gradients in
                let g = gradients.baseAddress!
                let logits = workspace.forward(layout, p, statistics, mode: .training, batch: batch)
                let loss = labels.withUnsafeBufferPointer { l in
                    probabilities.withUnsafeMutableBufferPointer { probs in
                        logitGradients.withUnsafeMutableBufferPointer { dlogits in
                            recipe.loss.evaluate(dlogits.baseAddress!, probs.baseAddress!, logits, l.baseAddress!,
                                                 batch: batch, classes: classes)
                        }
                    }
                }
                // The gradients are zero here: the previous update consumed them.
                logitGradients.withUnsafeBufferPointer { dlogits in
                    workspace.backward(g, dlogits.baseAddress!, layout, p, batch: batch)
                }
                optimizer.update(p, g, count: count, learningRate: learningRate)
                return loss
            }
        }
    }
}

extension EpochReport {
    /// Reports as one metadata value (`epoch:train_loss:train_accuracy:test_loss:test_accuracy:seconds`
    /// per epoch, space-separated; an unknown test figure is empty), so a weights file carries
    /// its own learning curve.
    public static func historyText(_ reports: [EpochReport]) -> String {
        reports.map { r in
            [String(r.epoch), String(r.trainLoss), String(r.trainAccuracy), r.testLoss.map { String($0) } ?? "",
             r.testAccuracy.map { String($0) } ?? "", String(r.elapsedSeconds)].joined(separator: ":")
        }.joined(separator: " ")
    }

    /// The reports `historyText` wrote; nil if the text is not such a history.
    public static func parseHistory(_ text: String) -> [EpochReport]? {
        var reports: [EpochReport] = []
        for entry in text.split(separator: " ") {
            let fields = entry.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 6, let epoch = Int(fields[0]), let trainLoss = Float(fields[1]),
                  let trainAccuracy = Float(fields[2]), let seconds = Double(fields[5]) else { return nil }
            reports.append(EpochReport(epoch: epoch, trainLoss: trainLoss, trainAccuracy: trainAccuracy,
                                       testLoss: Float(fields[3]), testAccuracy: Float(fields[4]), elapsedSeconds: seconds))
        }
        return reports.isEmpty ? nil : reports
    }
}
