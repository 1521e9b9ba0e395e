#if canImport(Glibc)
import Glibc
#endif
import Drawing
import Formats
import NeuralNet
import SystemResources

/// The pictures of `eval --report`: what a model gets wrong, how sure it is, how it learned
/// and what its first layer sees.
struct EvaluationReport {
    let weights: WeightsFile
    let evaluation: Evaluation
    let test: LabeledImages

    var classes: Int { evaluation.confusion.classes }

    /// Writes every picture into `directory` (made if missing, not its parents); returns the paths written.
    func write(to directory: String) throws -> [String] {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw FormatError(file: directory, reason: "cannot create the report directory: \(String(cString: strerror(errno)))")
        }
        var pictures: [(String, Canvas)] = [
            ("reliability.png", reliabilityDiagram()),
            ("confusion-matrix.png", confusionMatrix()),
            ("confidently-wrong.png", confidentlyWrong(count: 24)),
        ]
        if let curves = learningCurves() { pictures.append(("learning-curves.png", curves)) }
        if let filters = firstLayerFilters() { pictures.append(("first-layer-filters.png", filters)) }
        return try pictures.map { name, canvas in
            let path = "\(directory)/\(name)"
            try writeFileAtomically(path, canvas.encodedPNG())
            return path
        }
    }

    /// Reliability at temperature 1 and, when the model has one, at its fitted temperature.
    func reliabilityDiagram() -> Canvas {
        func panel(_ temperature: Float, _ name: String) -> Charts.ReliabilityPanel {
            let bins = evaluation.reliability(labels: test.labels, temperature: temperature)
            return Charts.ReliabilityPanel(title: "\(name): ECE \(percent(bins.expectedCalibrationError))",
                                           bins: bins.bins.map { ($0.count, $0.meanConfidence, $0.accuracy) })
        }
        let temperature = weights.network.temperature
        var panels = [panel(1, "temperature 1")]
        if temperature != 1 { panels.append(panel(temperature, "fitted temperature \(fixed(Double(temperature), 3))")) }
        return Charts.reliabilityDiagram(panels, title: "reliability of \(weights.modelID)")
    }

    func confusionMatrix() -> Canvas {
        let confusion = evaluation.confusion
        let counts = (0..<classes).map { truth in (0..<classes).map { confusion[truth, $0] } }
        return Charts.confusionMatrix(counts, title: "confusion matrix: accuracy \(percent(confusion.accuracy))")
    }

    /// The mistakes the model was surest of, surest first.
    func confidentlyWrong(count: Int) -> Canvas {
        let wrong = test.labels.indices.filter { evaluation.predictions[$0] != Int(test.labels[$0]) }
        let confidence = { (i: Int) in evaluation.probabilities[i * classes + evaluation.predictions[i]] }
        let worst = wrong.sorted { confidence($0) > confidence($1) }.prefix(count)
        let size = test.shape.count
        let tiles = worst.map { i in
            Charts.Tile(pixels: Array(test.bytes[i * size..<(i + 1) * size]),
                        caption: "\(test.labels[i])>\(evaluation.predictions[i]) \(fixed(Double(confidence(i)) * 100, 1))%")
        }
        return Charts.digitGrid(tiles, side: test.shape.width, columns: 6,
                                title: "most confidently wrong (true>predicted, confidence): \(wrong.count) mistakes")
    }

    /// From the training history the weights file keeps; nil if it has none.
    func learningCurves() -> Canvas? {
        weights.metadata["history"].flatMap(EpochReport.parseHistory).map { learningCurveChart($0, modelID: weights.modelID) }
    }

    func firstLayerFilters() -> Canvas? {
        guard let (side, filters) = weights.network.firstLayerFilters else { return nil }
        let shown = Array(filters.prefix(64))
        return Charts.filterGrid(shown, side: side, columns: min(8, shown.count),
                                 title: "first layer: \(shown.count) of \(filters.count) filters, \(side)x\(side)")
    }
}

/// Accuracy and loss per epoch, train and test side by side: what `train --plot` writes and
/// `eval --report` draws again from the history a weights file keeps.
func learningCurveChart(_ history: [EpochReport], modelID: String) -> Canvas {
    let accuracy: [Charts.Series] = [
        .init(name: "train", values: history.map { Double($0.trainAccuracy) }, color: .blue),
        .init(name: "test", values: history.map { Double($0.testAccuracy ?? .nan) }, color: .orange),
    ]
    let loss: [Charts.Series] = [
        .init(name: "train", values: history.map { Double($0.trainLoss) }, color: .blue),
        .init(name: "test", values: history.map { Double($0.testLoss ?? .nan) }, color: .orange),
    ]
    return Charts.lineCharts([("accuracy", accuracy), ("loss", loss)], xLabel: "epoch", title: "learning curves of \(modelID)")
}
