#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Classification
import Drawing
import Formats
import NeuralNet
import SystemResources

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on an MNIST-style dataset and write its weights, metrics and learning curve.")

    @OptionGroup var dataset: DataOptions

    @Option(name: .long, help: "Model to train: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: ModelKind = .cnn

    @Option(name: .long, help: "Layers to train instead of the model's own, e.g. \"input 1x28x28, conv 16 5 2, relu, maxpool, flatten, dense 10\" (layers: conv C K P, dense N, maxpool, relu, tanh, batchnorm, flatten).")
    var architecture: String?

    @Option(name: .long, help: "Epochs (default: the model's standard recipe: 10 for mlp-seed, 15 for cnn).")
    var epochs: Int?

    @Option(name: .long, help: "Images per training step (default: the model's standard recipe: 100 for mlp-seed, 128 for cnn).")
    var batchSize: Int?

    @Option(name: .long, help: "Learning rate: the peak of cnn's one-cycle schedule (default 0.003), or mlp-seed's constant rate (default 0.01).")
    var learningRate: Float?

    @Flag(name: .long, help: "Train on the images as they are, without cnn's random rotations, scalings, shifts, shears and real-world distortions (faster to a first 99%, less accurate in the end and on real-world digits).")
    var noAugmentation = false

    @Option(name: .long, help: "Random seed: the same seed gives the same weights.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Training images (the last N) kept out of training to fit the softmax temperature that calibrates the confidences (default: a twelfth for cnn, 5,000 of MNIST's 60,000; none for mlp-seed, which trains on every image as the original did).")
    var holdout: Int?

    @Option(name: .long, help: "Where to write the weights.", completion: .file(extensions: ["weights"]))
    var out: String

    @Option(name: .long, help: "Per-epoch metrics as CSV (default: <out>.metrics.csv).", completion: .file(extensions: ["csv"]))
    var metrics: String?

    @Option(name: .long, help: "Learning curves as PNG (default: <out>.curves.png).", completion: .file(extensions: ["png"]))
    var plot: String?

    func validate() throws {
        if let epochs, !(1...1000).contains(epochs) { throw ValidationError("--epochs must be between 1 and 1000") }
        if let holdout, holdout < 0 { throw ValidationError("--holdout cannot be negative") }
        if let batchSize, !(1...8192).contains(batchSize) { throw ValidationError("--batch-size must be between 1 and 8192") }
        if let learningRate, !(learningRate > 0 && learningRate <= 10) { throw ValidationError("--learning-rate must be above 0 and at most 10") }
    }

    func run() throws {
        let all = try LabeledImages.readMNIST(directory: dataset.data, split: .train)
        let test = try LabeledImages.readMNIST(directory: dataset.data, split: .test)
        var recipe = TrainingRecipe.standard(for: model)
        if let epochs { recipe.epochs = epochs }
        if let batchSize { recipe.batchSize = batchSize }
        if let learningRate { recipe.schedule = recipe.schedule.withPeak(learningRate) }
        if noAugmentation { recipe.augmentation = nil }
        var training = try ModelTraining(kind: model, architecture: architecture, recipe: recipe, seed: seed)
        training.calibrationImages = holdout
        let heldOut = training.heldOutCount(of: all.count)
        guard all.count > heldOut else { throw ValidationError("--holdout leaves no image to train on") }
        try checkFits(all, training.network, source: dataset.data + " (train)")
        try checkFits(test, training.network, source: dataset.data + " (t10k)")
        print("training \(model.rawValue) (\(training.network.parameterCount) parameters) on \(all.count - heldOut) images"
              + (heldOut > 0 ? " (\(heldOut) held out for calibration)" : "")
              + ", testing on \(test.count); \(recipe.epochs) epochs, batch \(recipe.batchSize), learning rate \(recipe.schedule.peak)"
              + (recipe.augmentation == nil ? "" : " with augmentation") + ", seed \(seed)")

        var bar = ProgressBar()
        let trained = training.run(on: all, test: test, evaluatingEachEpoch: true, dataset: dataset.data, created: utcTimestamp(),
                                   progress: { event in
            switch event {
            case let .batch(epoch, batch, batches, meanLoss):
                bar.update(label: "epoch \(epoch)/\(recipe.epochs)", done: batch, total: batches,
                           detail: "loss \(fixed(Double(meanLoss), 4))")
            case let .epochFinished(report):
                bar.finish()
                print(epochLine(report, of: recipe.epochs))
                fflush(nil)
            }
        })!
        if trained.weights.network.activationRanges != nil {
            print("8-bit inference: test \(percent(trained.evaluation.confusion.accuracy)) (float \(percent(trained.reports.last?.testAccuracy ?? 0)))")
        }
        if let calibration = trained.calibration {
            print("temperature \(fixed(Double(calibration.temperature), 3)) fitted on \(calibration.heldOutImages) held-out images: calibration error (ECE) \(percent(calibration.errorBefore)) → \(percent(calibration.errorAfter))")
        }
        try writeFileAtomically(out, trained.weights.encoded())
        let metricsPath = metrics ?? out + ".metrics.csv"
        let plotPath = plot ?? out + ".curves.png"
        try writeText(metricsCSV(trained.reports), to: metricsPath)
        try writeFileAtomically(plotPath, learningCurveChart(trained.reports, modelID: trained.weights.modelID).encodedPNG())
        print("wrote \(out) (model \(trained.weights.modelID)), \(metricsPath), \(plotPath)")
    }
}

func epochLine(_ report: EpochReport, of epochs: Int) -> String {
    var line = "epoch \(report.epoch)/\(epochs)  loss \(fixed(Double(report.trainLoss), 4))  train \(percent(report.trainAccuracy))"
    if let accuracy = report.testAccuracy, let loss = report.testLoss {
        line += "  test \(percent(accuracy)) (loss \(fixed(Double(loss), 4)))"
    }
    return line + "  \(fixed(report.elapsedSeconds, 1)) s"
}

func metricsCSV(_ reports: [EpochReport]) -> String {
    var csv = CSVWriter(header: ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "train_seconds"])
    for r in reports {
        csv.appendRow([String(r.epoch), fixed(Double(r.trainLoss), 6), fixed(Double(r.trainAccuracy), 6),
                       r.testLoss.map { fixed(Double($0), 6) } ?? "", r.testAccuracy.map { fixed(Double($0), 6) } ?? "",
                       fixed(r.elapsedSeconds, 3)])
    }
    return csv.text
}
