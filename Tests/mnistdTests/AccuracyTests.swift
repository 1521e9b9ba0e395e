import Classification
import DigitVariants
import Formats
import Foundation
import NeuralNet
import TestSupport
import XCTest

/// The whole MNIST test set through the daemon, as 10,000 PNGs and as one IDX batch: the CSV
/// labels agree with each other and with what `mnistctl eval` reports for the same weights.
final class AccuracyThroughTheDaemonTests: XCTestCase {
    func testMNISTTestSetAsPNGsAndAsIDXMatchesMnistctlEval() throws {
        let test = try mnistTestSet()
        let daemon = try DaemonHarness()
        let batchName = "t10k-images-idx3-ubyte.gz"
        try writeIDX(IDXArray(dimensions: [test.count, 28, 28], bytes: test.pixels), to: "\(daemon.staging)/\(batchName)", compressed: true)
        var names: [String] = []
        for index in 0..<test.count {
            let name = String(format: "test-%05d.png", index)
            let digit = RasterImage(width: 28, height: 28, channels: 1, samples: Array(test.pixels[index * 784..<(index + 1) * 784]))
            try Data(encodePNG(digit)).write(to: URL(fileURLWithPath: "\(daemon.staging)/\(name)"))
            names.append(name)
        }
        try daemon.start()
        for name in names + [batchName] {
            XCTAssertEqual(rename("\(daemon.staging)/\(name)", "\(daemon.inbox)/\(name)"), 0)
        }
        XCTAssertTrue(daemon.waitForOutcomes(names + [batchName], timeout: 300), "not all classified")
        XCTAssertEqual(daemon.stop(), 0)

        let batchRows = try XCTUnwrap(daemon.csv(for: batchName)).dropFirst()
        XCTAssertEqual(batchRows.count, test.count)
        let batchLabels = batchRows.map { $0[2] }
        let pngLabels = names.map { daemon.csv(for: $0)?.last?[2] ?? "missing" }
        XCTAssertEqual(pngLabels, batchLabels, "a PNG and its IDX row got different labels")
        let correct = zip(batchLabels, test.labels).filter { $0 == String($1) }.count
        let accuracy = Double(correct) / Double(test.count)

        let eval = try runCommand(builtBinary("mnistctl"), ["eval", "--data", repositoryRoot + "/../shared/datasets/mnist"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let line = try XCTUnwrap(eval.stdout.split(separator: "\n").first { $0.hasPrefix("accuracy: ") })
        XCTAssertEqual(String(line), "accuracy: " + String(format: "%.4f", accuracy))
        XCTAssertGreaterThanOrEqual(accuracy, 0.995)
        let model = try XCTUnwrap(eval.stdout.split(separator: "\n").first { $0.hasPrefix("model: ") }).dropFirst("model: ".count)
        XCTAssertEqual(Set(batchRows.map { $0.last! }), [String(model)])
    }

    /// The robustness benchmark's pictures, saved as PNGs and dropped into the daemon, get the
    /// labels the benchmark computes in process: what it measures is what the daemon's own
    /// preprocessing and classifier make of such a picture, with no loss on the way.
    func testVariantPicturesAsPNGsGetTheLabelsTheRobustnessBenchmarkCounts() throws {
        let digits = try mnistTestSet()
        let count = 25
        let sample = LabeledImages(shape: FeatureShape(channels: 1, height: 28, width: 28),
                                   bytes: Array(digits.pixels.prefix(count * 784)), labels: Array(digits.labels.prefix(count)))
        let model = try LoadedModel(weights: WeightsFile.read(from: repositoryRoot + "/Sources/NeuralNet/DefaultWeights/mnist-cnn.weights"),
                                    path: "shipped")
        let daemon = try DaemonHarness()
        var expected: [String: String] = [:]
        for (number, variant) in DigitVariant.allCases.enumerated() {
            let (pixels, hasInk) = Robustness.preprocessed(sample, variant: variant)
            let probabilities = Classifier().probabilities(model, pixels: pixels)
            for image in 0..<count {
                let name = "variant-\(number)-\(image).png"
                try Data(encodePNG(Robustness.picture(variant, of: sample, image: image))).write(to: URL(fileURLWithPath: "\(daemon.staging)/\(name)"))
                let prediction = Prediction(probabilities: probabilities[image * 10..<(image + 1) * 10], hasInk: hasInk[image],
                                            minimumConfidence: nil)
                expected[name] = prediction.label.map(String.init) ?? ""
            }
        }
        try daemon.start()
        for name in expected.keys { XCTAssertEqual(rename("\(daemon.staging)/\(name)", "\(daemon.inbox)/\(name)"), 0) }
        XCTAssertTrue(daemon.waitForOutcomes(Array(expected.keys), timeout: 120), "not all classified")
        XCTAssertEqual(daemon.stop(), 0)
        for (name, label) in expected.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(daemon.csv(for: name)?.last?[2], label, name)
        }
    }
}
