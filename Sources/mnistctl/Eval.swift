import ArgumentParser
import Formats
import NeuralNet

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model on the test split of a dataset: accuracy, confusion matrix, precision and recall.")

    @OptionGroup var weightsOptions: WeightsOptions
    @OptionGroup var dataset: DataOptions

    func run() throws {
        let weights = try weightsOptions.load()
        let test = try loadDataset(dataset.data, .test)
        try checkFits(test, weights.network, source: dataset.data + " (t10k)")
        let evaluation = Evaluation(network: weights.network, data: test)
        print("model: \(weights.modelID)")
        print("images: \(test.count)")
        print("accuracy: \(fixed(Double(evaluation.confusion.accuracy), 4))")
        print("")
        print(confusionReport(evaluation.confusion), terminator: "")
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
