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

/// Checks that a dataset fits a network: the same image shape, labels within its classes and at
/// least one image, so that bad data is a clear error rather than a failed precondition.
func checkFits(_ data: LabeledImages, _ network: Network, source: String) throws {
    guard data.count > 0 else { throw FormatError(file: source, reason: "the dataset holds no images") }
    guard data.shape == network.inputShape else {
        throw FormatError(file: source, reason: "images are \(data.shape), the \(network.kind.rawValue) model takes \(network.inputShape)")
    }
    if let bad = data.labels.first(where: { $0 < 0 || Int($0) >= network.classCount }) {
        throw FormatError(file: source, reason: "label \(bad) is outside 0...\(network.classCount - 1)")
    }
}
