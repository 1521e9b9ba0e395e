import Formats
import NeuralNet

/// Class probabilities for a batch of digits, and the CSV that publishes them.
public enum Classifier {
    /// Images are converted to floats a chunk at a time, so a large IDX batch costs little
    /// memory beyond its bytes; each chunk goes through the network's batched GEMMs.
    static let chunk = 1024

    /// Probabilities (count × classes) for `pixels` (count × 28 × 28 bytes, 255 = ink).
    public static func probabilities(_ model: LoadedModel, pixels: [UInt8]) -> [Float] {
        let imageSize = model.network.inputShape.count
        let count = pixels.count / imageSize
        var result: [Float] = []
        result.reserveCapacity(count * model.network.classCount)
        var floats = [Float](repeating: 0, count: min(count, chunk) * imageSize)
        for start in stride(from: 0, to: count, by: chunk) {
            let images = min(chunk, count - start)
            for i in 0..<images * imageSize { floats[i] = Float(pixels[start * imageSize + i]) * (1 / 255) }
            result += floats.withUnsafeBufferPointer {
                model.network.probabilities(for: $0.baseAddress!, count: images)
            }
        }
        return result
    }
}

/// The prediction CSV: RFC 4180, one row per image.
public enum PredictionCSV {
    public static func header(classes: Int) -> [String] {
        ["source", "index", "label", "confidence"] + (0..<classes).map { "p\($0)" } + ["model"]
    }

    /// Appends a row per image of `source`; returns the predicted labels.
    @discardableResult
    public static func appendRows(to csv: inout CSVWriter, source: String, probabilities: ArraySlice<Float>,
                                  classes: Int, model: String) -> [Int] {
        var labels: [Int] = []
        let base = probabilities.startIndex
        for index in 0..<probabilities.count / classes {
            let row = probabilities[base + index * classes..<base + (index + 1) * classes]
            let label = row.indices.max { row[$0] < row[$1] }! - row.startIndex
            labels.append(label)
            csv.appendRow([source, String(index), String(label), fixed(Double(row[row.startIndex + label]), 6)]
                          + row.map { fixed(Double($0), 6) } + [model])
        }
        return labels
    }
}
