import Tensor

/// Counts of (true label, predicted label) pairs, with the usual summaries.
public struct ConfusionMatrix: Equatable, Sendable {
    public let classes: Int
    /// counts[truth * classes + predicted]
    public private(set) var counts: [Int]

    public init(classes: Int) {
        self.classes = classes
        counts = [Int](repeating: 0, count: classes * classes)
    }

    public mutating func add(truth: Int, predicted: Int) {
        counts[truth * classes + predicted] += 1
    }

    public subscript(truth: Int, predicted: Int) -> Int { counts[truth * classes + predicted] }

    public var total: Int { counts.reduce(0, +) }
    public var correct: Int { (0..<classes).reduce(0) { $0 + self[$1, $1] } }
    public var accuracy: Float { total == 0 ? 0 : Float(correct) / Float(total) }

    /// Of the images predicted as `label`, the share that really are (nil if none was predicted).
    public func precision(_ label: Int) -> Float? {
        let predicted = (0..<classes).reduce(0) { $0 + self[$1, label] }
        return predicted == 0 ? nil : Float(self[label, label]) / Float(predicted)
    }

    /// Of the images that are `label`, the share predicted as such (nil if there are none).
    public func recall(_ label: Int) -> Float? {
        let actual = (0..<classes).reduce(0) { $0 + self[label, $1] }
        return actual == 0 ? nil : Float(self[label, label]) / Float(actual)
    }
}

/// A network's predictions on a labeled set: logits, probabilities (at the network's
/// temperature), mean loss and confusion matrix.
public struct Evaluation: Sendable {
    public let logits: [Float]
    public let probabilities: [Float]
    public let predictions: [Int]
    public let meanLoss: Float
    public let confusion: ConfusionMatrix

    public init(network: Network, data: LabeledImages, loss: LossFunction = .crossEntropy) {
        let classes = network.classCount
        logits = inferenceLogits(network, data)
        probabilities = softmax(logits, temperature: network.temperature, classes: classes)
        var confusion = ConfusionMatrix(classes: classes)
        var predictions: [Int] = []
        predictions.reserveCapacity(data.count)
        var lossSum: Double = 0
        probabilities.withUnsafeBufferPointer { p in
            for i in 0..<data.count {
                let row = p.baseAddress! + i * classes
                let predicted = argmax(row, count: classes)
                let truth = Int(data.labels[i])
                predictions.append(predicted)
                // Labels outside the classes (unlabeled or foreign data) have no loss to count.
                guard truth >= 0, truth < classes else { continue }
                confusion.add(truth: truth, predicted: predicted)
                lossSum += Double(loss.value(probabilities: row, label: truth, classes: classes))
            }
        }
        self.predictions = predictions
        self.confusion = confusion
        meanLoss = data.count == 0 ? 0 : Float(lossSum / Double(data.count))
    }
}

/// The logits `network` gives `data` the way it classifies in use: in 8 bits when it has an
/// 8-bit form, else in float, a few thousand images at a time rather than the whole set at once.
func inferenceLogits(_ network: Network, _ data: LabeledImages) -> [Float] {
    guard data.count > 0 else { return [] }
    if let quantized = QuantizedNetwork(network) {
        let workspace = QuantizedWorkspace(network: quantized, batchCapacity: Network.inferenceBatchSize)
        return data.bytes.withUnsafeBufferPointer { quantized.logits(forPixels: $0.baseAddress!, count: data.count, workspace: workspace) }
    }
    var logits: [Float] = []
    logits.reserveCapacity(data.count * network.classCount)
    let workspace = Workspace(network: network, batchCapacity: Network.inferenceBatchSize, training: false)
    for start in stride(from: 0, to: data.count, by: 4096) {
        let chunk = data.pixels(start..<min(data.count, start + 4096))
        logits += chunk.withUnsafeBufferPointer {
            network.logits(for: $0.baseAddress!, count: $0.count / data.shape.count, workspace: workspace)
        }
    }
    return logits
}

/// softmax(logits / temperature), row by row: the same arithmetic as `Network.probabilities`.
public func softmax(_ logits: [Float], temperature: Float, classes: Int) -> [Float] {
    var result = [Float](repeating: 0, count: logits.count)
    result.withUnsafeMutableBufferPointer { out in
        logits.withUnsafeBufferPointer {
            softmaxRows(out.baseAddress!, $0.baseAddress!, rows: logits.count / classes, classes: classes,
                        inverseTemperature: 1 / temperature)
        }
    }
    return result
}
