import ArgumentParser
import Classification
import Formats

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify PNG digits and IDX image batches (plain or .gz) as mnistd does, and print the predictions as CSV.")

    @OptionGroup var weightsOptions: WeightsOptions

    @Option(help: "Lowest top probability (0...1) at which an image gets a label, as mnistd's --min-confidence (default: off).")
    var minConfidence: Float?

    @Argument(help: "PNG files (any size, normalised like MNIST) or IDX image files (N×28×28 unsigned bytes).", completion: .file())
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one PNG or IDX file") }
        if let minConfidence, !(0...1).contains(minConfidence) {
            throw ValidationError("--min-confidence must be between 0 and 1, got \(minConfidence)")
        }
    }

    func run() throws {
        let model = try LoadedModel.load(path: weightsOptions.path())
        let decoder = InputDecoder(limits: InputLimits())
        let classifier = Classifier()
        var csv = CSVWriter(header: PredictionCSV.header(classes: model.network.classCount))
        for file in files {
            let input = try decoder.decode(path: file, displayName: file)
            try classifier.classify(input, named: file, with: model, minimumConfidence: minConfidence)
                .appendRows(to: &csv, source: basename(file))
        }
        print(csv.text, terminator: "")
    }
}

func basename(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}
