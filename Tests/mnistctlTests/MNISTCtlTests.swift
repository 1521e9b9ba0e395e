import Formats
import Foundation
import TestSupport
import XCTest

/// Runs the real `mnistctl` binary and checks what it prints and writes.
final class MNISTCtlTests: XCTestCase {
    var directory = ""

    func run(_ arguments: [String]) throws -> CommandResult {
        try runCommand(builtBinary("mnistctl"), arguments)
    }

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "mnistctl-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A small MNIST-style directory cut from the shared MNIST: 2,000 training and 500 test images.
    func smallDataset() throws -> String {
        let mnist = repositoryRoot + "/../shared/datasets/mnist"
        guard FileManager.default.fileExists(atPath: mnist + "/train-labels-idx1-ubyte.gz") else {
            throw XCTSkip("MNIST not found at \(mnist)")
        }
        let data = directory + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for (split, count) in [(DatasetSplit.train, 2000), (.test, 500)] {
            let full = try readMNIST(directory: mnist, split: split)
            try writeIDX(IDXArray(dimensions: [count, 28, 28], bytes: Array(full.pixels.prefix(count * 784))),
                         to: "\(data)/\(split.rawValue)-images-idx3-ubyte.gz", compressed: true)
            try writeIDX(IDXArray(dimensions: [count], bytes: Array(full.labels.prefix(count))),
                         to: "\(data)/\(split.rawValue)-labels-idx1-ubyte", compressed: false)
        }
        return data
    }

    func testTrainWritesWeightsMetricsAndCurveThenEvalAndPredictUseThem() throws {
        let data = try smallDataset()
        let weights = directory + "/seed.weights"
        let train = try run(["train", "--data", data, "--model", "mlp-seed", "--epochs", "2", "--seed", "3", "--out", weights])
        XCTAssertEqual(train.status, 0, train.stderr)
        let lines = train.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("training mlp-seed (101770 parameters) on 2000 images, testing on 500; 2 epochs, batch 100, learning rate 0.01, seed 3"), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("epoch 1/2  loss "), lines[1])
        XCTAssertTrue(lines[2].hasPrefix("epoch 2/2  loss "), lines[2])
        XCTAssertTrue(lines[2].contains(" test "), lines[2])

        let metrics = parseCSV(try String(contentsOfFile: weights + ".metrics.csv", encoding: .utf8))
        XCTAssertEqual(metrics.first, ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "train_seconds"])
        XCTAssertEqual(metrics.dropFirst().map { $0[0] }, ["1", "2"])
        let curves = try decodePNG(Array(try Data(contentsOf: URL(fileURLWithPath: weights + ".curves.png"))), source: "curves")
        XCTAssertGreaterThan(curves.width, 900, "two panels side by side")

        let eval = try run(["eval", "--weights", weights, "--data", data])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let accuracyLine = try XCTUnwrap(eval.stdout.split(separator: "\n").first { $0.hasPrefix("accuracy: ") })
        let accuracy = try XCTUnwrap(Double(accuracyLine.dropFirst("accuracy: ".count)))
        XCTAssertEqual(accuracyLine.count, "accuracy: 0.0000".count)
        let testAccuracy = try XCTUnwrap(Double(metrics[2][4]))
        XCTAssertEqual(accuracy, testAccuracy, accuracy: 0.00006, "eval agrees with the last epoch's test accuracy")
        XCTAssertTrue(eval.stdout.contains("confusion matrix (rows: true label, columns: predicted)"))
        XCTAssertTrue(eval.stdout.contains("class  precision  recall"))

        let predict = try run(["predict", "--weights", weights, data + "/t10k-images-idx3-ubyte.gz"])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        let rows = parseCSV(predict.stdout)
        XCTAssertEqual(rows.first, ["source", "index", "label", "status", "confidence", "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "model"])
        XCTAssertEqual(rows.count, 501)
        XCTAssertEqual(rows[1][0], "t10k-images-idx3-ubyte.gz")
        XCTAssertEqual(rows[500][1], "499")
        let probabilities = rows[1][5..<15].compactMap(Double.init)
        XCTAssertEqual(probabilities.count, 10)
        XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-4)
        XCTAssertEqual(rows[1][3], "ok", "no minimum confidence: every inked image gets its label")
        XCTAssertEqual(Double(rows[1][4]), probabilities.max())
    }

    func testHeldOutCalibrationThenEvalReportAndRejectOption() throws {
        let data = try smallDataset()
        let weights = directory + "/calibrated.weights"
        let train = try run(["train", "--data", data, "--model", "mlp-seed", "--epochs", "1", "--holdout", "500", "--out", weights])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("on 1500 images (500 held out for calibration), testing on 500"), train.stdout)
        let fitted = try XCTUnwrap(train.stdout.split(separator: "\n").first { $0.hasPrefix("temperature ") }, train.stdout)
        XCTAssertTrue(fitted.contains(" fitted on 500 held-out images: calibration error (ECE) "), String(fitted))

        let report = directory + "/report"
        let eval = try run(["eval", "--weights", weights, "--data", data, "--report", report, "--reliability", directory + "/r.png"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let calibration = try XCTUnwrap(eval.stdout.split(separator: "\n").first { $0.hasPrefix("calibration error (ECE, 15 bins): ") })
        XCTAssertTrue(calibration.contains("% at temperature 1, ") && calibration.contains("% at its fitted temperature "), String(calibration))
        for name in ["reliability", "confusion-matrix", "confidently-wrong", "learning-curves", "first-layer-filters"] {
            let path = "\(report)/\(name).png"
            XCTAssertTrue(eval.stdout.contains("wrote \(path)"), name)
            let picture = try decodePNG(Array(try Data(contentsOf: URL(fileURLWithPath: path))), source: path)
            XCTAssertGreaterThan(picture.width, 300, name)
            XCTAssertGreaterThan(picture.height, 200, name)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/r.png"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: report + "/learning-curves.png")),
                       try Data(contentsOf: URL(fileURLWithPath: weights + ".curves.png")),
                       "the report draws the training's curves again from the history in the weights")

        let batch = data + "/t10k-images-idx3-ubyte.gz"
        let strict = parseCSV(try run(["predict", "--weights", weights, "--min-confidence", "0.999", batch]).stdout).dropFirst()
        let lenient = parseCSV(try run(["predict", "--weights", weights, "--min-confidence", "0", batch]).stdout).dropFirst()
        XCTAssertEqual(strict.count, 500)
        // Without a confidence floor only digits unlike every training digit are declined: few.
        XCTAssertTrue(lenient.allSatisfy { $0[3] == "ok" && !$0[2].isEmpty || $0[3] == "uncertain" && $0[2].isEmpty })
        XCTAssertGreaterThan(lenient.filter { $0[3] == "ok" }.count, 475, "a minimum of 0 answers nearly every digit")
        let uncertain = strict.filter { $0[3] == "uncertain" }
        XCTAssertGreaterThan(uncertain.count, 100, "a one-epoch seed model is rarely 99.9% sure")
        XCTAssertTrue(uncertain.allSatisfy { $0[2].isEmpty })
        XCTAssertTrue(strict.filter { $0[3] == "ok" }.allSatisfy { Double($0[4])! >= 0.999 })
        XCTAssertEqual(zip(strict, lenient).filter { $0.0[3] == "ok" }.filter { $0.0[2] != $0.1[2] }.count, 0,
                       "what is answered is the same answer")

        let nothingLeft = try run(["train", "--data", data, "--holdout", "2000", "--out", directory + "/z.weights"])
        XCTAssertEqual(nothingLeft.status, 64)
        XCTAssertTrue(nothingLeft.stderr.contains("--holdout leaves no image to train on"), nothingLeft.stderr)
    }

    /// Kernels split work into the same parts whatever the thread count: one thread or all
    /// of them train the same model and evaluate it the same.
    func testOneKernelThreadOrAllGiveTheSameModel() throws {
        let data = try smallDataset()
        var outputs: [String] = []
        for threads in ["1", "64"] {
            let weights = "\(directory)/threads-\(threads).weights"
            let train = try runCommand(builtBinary("mnistctl"), ["train", "--data", data, "--model", "cnn", "--epochs", "1", "--out", weights],
                                       environment: ["MNISTD_KERNEL_THREADS": threads])
            XCTAssertEqual(train.status, 0, train.stderr)
            let eval = try runCommand(builtBinary("mnistctl"), ["eval", "--weights", weights, "--data", data],
                                      environment: ["MNISTD_KERNEL_THREADS": threads])
            XCTAssertEqual(eval.status, 0, eval.stderr)
            outputs.append(eval.stdout)
        }
        XCTAssertTrue(outputs[0].hasPrefix("model: cnn-"), outputs[0])
        XCTAssertEqual(outputs[0], outputs[1])
    }

    func testSameSeedGivesTheSameModel() throws {
        let data = try smallDataset()
        var ids: [String] = []
        for name in ["a", "b"] {
            let result = try run(["train", "--data", data, "--model", "cnn", "--epochs", "1", "--seed", "5", "--out", "\(directory)/\(name).weights"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let last = try XCTUnwrap(result.stdout.split(separator: "\n").last)
            ids.append(String(try XCTUnwrap(last.split(separator: "(model ").last?.split(separator: ")").first)))
        }
        XCTAssertTrue(ids[0].hasPrefix("cnn-"), ids[0])
        XCTAssertEqual(ids[0], ids[1])
    }

    func testErrorsNameTheFileAndTheReason() throws {
        let missing = try run(["eval", "--weights", "/nonexistent.weights", "--data", directory])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("/nonexistent.weights: cannot open: No such file or directory"), missing.stderr)

        let bogus = directory + "/bogus.weights"
        try Data("definitely not weights".utf8).write(to: URL(fileURLWithPath: bogus))
        let corrupt = try run(["predict", "--weights", bogus, bogus])
        XCTAssertEqual(corrupt.status, 1)
        XCTAssertTrue(corrupt.stderr.contains("\(bogus): not an mnistd weights file (bad magic number)"), corrupt.stderr)

        let noData = try run(["train", "--data", directory, "--out", directory + "/x.weights"])
        XCTAssertEqual(noData.status, 1)
        XCTAssertTrue(noData.stderr.contains("\(directory)/train-images-idx3-ubyte: not found"), noData.stderr)

        // Labels out of range are refused before training starts.
        let data = directory + "/badlabels"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for split in ["train", "t10k"] {
            try writeIDX(IDXArray(dimensions: [4, 28, 28], bytes: [UInt8](repeating: 9, count: 4 * 784)),
                         to: "\(data)/\(split)-images-idx3-ubyte", compressed: false)
            try writeIDX(IDXArray(dimensions: [4], bytes: split == "train" ? [1, 2, 3, 4] : [1, 12, 3, 4]),
                         to: "\(data)/\(split)-labels-idx1-ubyte", compressed: false)
        }
        let badLabels = try run(["train", "--data", data, "--out", directory + "/y.weights"])
        XCTAssertEqual(badLabels.status, 1)
        XCTAssertTrue(badLabels.stderr.contains("\(data) (t10k): label 12 is outside 0...9"), badLabels.stderr)

        let badEpochs = try run(["train", "--data", directory, "--epochs", "0", "--out", "x"])
        XCTAssertEqual(badEpochs.status, 64)
        XCTAssertTrue(badEpochs.stderr.contains("--epochs must be between 1 and 1000"), badEpochs.stderr)
    }

    /// The recipe flags reach the trainer: the fastest recipe to 99% (README) is these flags.
    func testBatchSizeLearningRateAndAugmentationFlagsChangeTheRecipe() throws {
        let data = try smallDataset()
        let unpadded = "input 1x28x28, conv 16 5 0, relu, maxpool, conv 32 5 0, relu, maxpool, flatten, dense 128, relu, dense 10"
        func train(_ name: String, _ flags: [String]) throws -> (stdout: String, model: String) {
            let result = try run(["train", "--data", data, "--model", "cnn", "--architecture", unpadded, "--epochs", "1",
                                  "--holdout", "0", "--out", "\(directory)/\(name).weights"] + flags)
            XCTAssertEqual(result.status, 0, result.stderr)
            let wrote = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("wrote ") }, result.stdout)
            return (result.stdout, String(wrote.split(separator: " ")[3]))
        }
        let fast = try train("fast", ["--batch-size", "50", "--learning-rate", "0.01", "--no-augmentation"])
        XCTAssertTrue(fast.stdout.contains("on 2000 images, testing on 500; 1 epochs, batch 50, learning rate 0.01, seed 1"), fast.stdout)
        let standard = try train("standard", [])
        XCTAssertTrue(standard.stdout.contains("1 epochs, batch 128, learning rate 0.003 with augmentation, seed 1"), standard.stdout)
        let slower = try train("slower", ["--batch-size", "50", "--learning-rate", "0.005", "--no-augmentation"])
        XCTAssertNotEqual(fast.model, slower.model, "another learning rate trains other weights")
        XCTAssertNotEqual(fast.model, standard.model)

        for (flags, message) in [(["--batch-size", "0"], "--batch-size must be between 1 and 8192"),
                                 (["--learning-rate", "0"], "--learning-rate must be above 0 and at most 10")] {
            let refused = try run(["train", "--data", data, "--out", directory + "/x.weights"] + flags)
            XCTAssertEqual(refused.status, 64)
            XCTAssertTrue(refused.stderr.contains(message), refused.stderr)
        }
    }

    func testEvalWithoutWeightsUsesTheShippedModel() throws {
        let data = try smallDataset()
        let eval = try run(["eval", "--data", data])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.hasPrefix("model: cnn-"), eval.stdout)
    }
}
