import ArgumentParser
import Classification
import Drawing
import Formats
import NeuralNet
import SystemResources

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model on the test split of a dataset: accuracy, confusion matrix, precision and recall.")

    @OptionGroup var weightsOptions: WeightsOptions
    @OptionGroup var dataset: DataOptions

    @Option(help: "Write the reliability diagram (accuracy against confidence, before and after the model's temperature) as PNG.",
            completion: .file(extensions: ["png"]))
    var reliability: String?

    @Option(help: "Write pictures into this directory: reliability diagram, confusion matrix, the most confidently wrong test digits, learning curves (from the weights file's training history) and the first layer's filters.",
            completion: .directory)
    var report: String?

    @Flag(help: "Also measure accuracy on the test digits made to look like real-world ones (thick and thin strokes, blur, low resolution, rotation, shear, elastic distortion, a photographed page, JPEG blocks, touching the frame, a ruled line), each through the daemon's preprocessing.")
    var robustness = false

    func run() throws {
        let weights = try weightsOptions.load()
        let test = try LabeledImages.readMNIST(directory: dataset.data, split: .test)
        try checkFits(test, weights.network, source: dataset.data + " (t10k)")
        let evaluation = Evaluation(network: weights.network, data: test)
        print("model: \(weights.modelID)")
        print("inference: " + (QuantizedNetwork(weights.network) == nil ? "float" : "8-bit (\(QuantizedNetwork.kernelName))"))
        print("images: \(test.count)")
        print("accuracy: \(fixed(Double(evaluation.confusion.accuracy), 4))")
        print(calibrationLine(evaluation, labels: test.labels, temperature: weights.network.temperature))
        print("")
        print(confusionReport(evaluation.confusion), terminator: "")
        let pictures = EvaluationReport(weights: weights, evaluation: evaluation, test: test)
        if let reliability {
            try writeFileAtomically(reliability, pictures.reliabilityDiagram().encodedPNG())
            print("wrote \(reliability)")
        }
        if let report {
            for path in try pictures.write(to: report) { print("wrote \(path)") }
        }
        if robustness {
            print("\nrobustness: the \(test.count) test digits made to look like real-world ones, through the daemon's preprocessing")
            let model = try LoadedModel(weights: weights, path: weightsOptions.path())
            print(RobustnessResult.summary(Robustness.evaluate(model, on: test) { print($0.tableRow) }))
        }
    }
}

/// The confusion matrix (rows: true label, columns: predicted) and per-class precision/recall.
func confusionReport(_ confusion: ConfusionMatrix) -> String {
    let classes = confusion.classes
    func pad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
    var out = "confusion matrix (rows: true label, columns: predicted)\n"
    out += pad("", 6) + (0..<classes).map { pad(String($0), 6) }.joined() + "\n"
    for truth in 0..<classes {
        out += pad(String(truth), 6) + (0..<classes).map { pad(String(confusion[truth, $0]), 6) }.joined() + "\n"
    }
    out += "\nclass  precision  recall\n"
    for label in 0..<classes {
        let precision = confusion.precision(label).map { fixed(Double($0), 4) } ?? "-"
        let recall = confusion.recall(label).map { fixed(Double($0), 4) } ?? "-"
        out += pad(String(label), 5) + pad(precision, 11) + pad(recall, 8) + "\n"
    }
    return out
}

/// Expected calibration error at temperature 1 and, when the model has one, at its own.
func calibrationLine(_ evaluation: Evaluation, labels: [Int32], temperature: Float) -> String {
    let raw = evaluation.reliability(labels: labels, temperature: 1)
    let line = "calibration error (ECE, 15 bins): \(percent(raw.expectedCalibrationError))"
    guard temperature != 1 else { return line + " (the model has no fitted temperature)" }
    let scaled = evaluation.reliability(labels: labels, temperature: temperature)
    return line + " at temperature 1, \(percent(scaled.expectedCalibrationError)) at its fitted temperature \(fixed(Double(temperature), 3))"
}
