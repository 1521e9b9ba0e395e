import Formats
import NeuralNet
import SystemResources

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
