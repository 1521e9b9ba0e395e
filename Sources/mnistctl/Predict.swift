import ArgumentParser
import Formats
import NeuralNet

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify IDX image batches (idx3, plain or .gz) and print predictions as CSV.")

    @OptionGroup var weightsOptions: WeightsOptions

    @Argument(help: "IDX image files (N×28×28 unsigned bytes).")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one IDX file") }
    }

    func run() throws {
        let weights = try weightsOptions.load()
        let network = weights.network
        let modelID = weights.modelID
        var csv = CSVWriter(header: ["source", "index", "label", "confidence"] + (0..<network.classCount).map { "p\($0)" } + ["model"])
        for file in files {
            let array = try readIDX(file)
            let shape = network.inputShape
            guard array.dimensions.count == 3, array.dimensions[1] == shape.height, array.dimensions[2] == shape.width else {
                throw FormatError(file: file, reason: "expected N×\(shape.height)×\(shape.width) images, found \(array.dimensions.map(String.init).joined(separator: "×"))")
            }
            let pixels = array.bytes.map { Float($0) * (1 / 255) }
            let probabilities = pixels.withUnsafeBufferPointer {
                network.probabilities(for: $0.baseAddress!, count: array.dimensions[0])
            }
            let classes = network.classCount
            for index in 0..<array.dimensions[0] {
                let row = probabilities[index * classes..<(index + 1) * classes]
                let label = row.indices.max { row[$0] < row[$1] }! - index * classes
                csv.appendRow([basename(file), String(index), String(label), fixed(Double(row.max()!), 6)]
                              + row.map { fixed(Double($0), 6) } + [modelID])
            }
        }
        print(csv.text, terminator: "")
    }
}

func basename(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}
