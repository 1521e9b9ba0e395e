import Classification
import Logging
import NeuralNet

/// A stored model as `models` and `status` describe it: its id, what it is and how it was made.
public struct StoredModel: Sendable, Equatable {
    public var id: String
    public var kind: ModelKind
    public var active: Bool
    /// Accuracy on the images it was judged on, when known.
    public var accuracy: Double?
    public var dataset: String?
    public var epochs: Int?
    public var trainSeconds: Double?
    public var created: String?
}

extension LoadedModel {
    /// What this model says of itself. Numbers come from the metadata only when they are
    /// finite and in range (see `metadataWarnings`).
    public func stored(active: Bool) -> StoredModel {
        StoredModel(id: id, kind: network.kind, active: active,
                    accuracy: reportedNumber("test_accuracy") ?? reportedNumber(Self.legacyAccuracyKey),
                    dataset: metadata["dataset"].map(ModelTraining.datasetName), epochs: reportedNumber("epochs").map { Int($0) },
                    trainSeconds: reportedNumber("train_seconds"), created: metadata["created"])
    }

    /// Where mnistd 0.2.0's retrainer wrote its accuracy; models it stored still say it there.
    static let legacyAccuracyKey = "validation_accuracy"

    /// The metadata numbers reported, and the values each may take; epochs are whole.
    package static let reportedNumbers: [String: ClosedRange<Double>] = [
        legacyAccuracyKey: 0...1, "test_accuracy": 0...1, "epochs": 1...1_000_000, "train_seconds": 0...1e9,
    ]

    private func reportedNumber(_ key: String) -> Double? {
        guard let text = metadata[key], let range = Self.reportedNumbers[key], let value = Double(text),
              range.contains(value), key != "epochs" || value.rounded() == value else { return nil }
        return value
    }

    /// Metadata numbers that are not what they claim to be, in words: each is left out of
    /// what the model reports, and the daemon says so when it loads the model.
    public var metadataWarnings: [String] {
        Self.reportedNumbers.sorted { $0.key < $1.key }.compactMap { key, range in
            guard let text = metadata[key], reportedNumber(key) == nil else { return nil }
            return "\(path): metadata \(key)=\"\(text)\" is not a number in \(range); ignored"
        }
    }
}

extension LoadedModel {
    /// Says what is wrong with the metadata, once, when the model is put to use.
    func loggingWarnings(to logger: Logger) -> LoadedModel {
        for warning in metadataWarnings { logger.warning("\(warning)", metadata: ["model": "\(id)", "file": "\(path)"]) }
        return self
    }
}
