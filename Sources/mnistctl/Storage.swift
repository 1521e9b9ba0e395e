import Formats
import NeuralNet

/// Reads and validates a weights file from disk.
func loadWeights(_ path: String) throws -> WeightsFile {
    try WeightsFile(decoding: readFile(path, maxBytes: 256 << 20), source: path)
}

/// Reads one split of an MNIST-style directory as network-ready images.
func loadDataset(_ directory: String, _ split: DatasetSplit) throws -> LabeledImages {
    let raw = try readMNIST(directory: directory, split: split)
    return LabeledImages(shape: FeatureShape(channels: 1, height: raw.height, width: raw.width),
                         bytes: raw.pixels, labels: raw.labels)
}

/// Writes text to a file atomically.
func writeText(_ text: String, to path: String) throws {
    try writeFileAtomically(path, Array(text.utf8))
}

/// Checks that a dataset fits a network, naming the file when it does not.
func checkFits(_ data: LabeledImages, _ network: Network, source: String) throws {
    if let reason = data.mismatch(inputShape: network.inputShape, classes: network.classCount) {
        throw FormatError(file: source, reason: reason)
    }
}
