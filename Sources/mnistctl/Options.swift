import ArgumentParser
import Classification
import NeuralNet

extension ModelKind: ExpressibleByArgument {}

/// Where a labeled MNIST-style dataset lives.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Directory holding train-/t10k- images and labels in IDX format (plain or .gz).", completion: .directory)
    var data: String
}

/// Which weights to use; the shipped default model when not given.
struct WeightsOptions: ParsableArguments {
    @Option(name: .long, help: "Weights file (default: the shipped model, found beside the binary or in ../share/mnistd/ from it: /usr/share/mnistd/ for the package, /usr/local/share/mnistd/ after make install).",
            completion: .file(extensions: ["weights"]))
    var weights: String?

    /// The weights file to use: the one given, or the shipped default.
    func path() throws -> String {
        guard let path = weights ?? DefaultWeights.locate() else {
            throw ValidationError("no --weights given and no default model found; looked in:\n  "
                + DefaultWeights.candidates().joined(separator: "\n  "))
        }
        return path
    }

    func load() throws -> WeightsFile {
        try WeightsFile.read(from: path())
    }
}
