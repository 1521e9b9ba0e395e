import Formats
import Tensor

/// What is said about one image: the most probable class, unless the picture holds no ink
/// or the model is not confident enough to be trusted.
public struct Prediction: Equatable, Sendable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// `label` is the answer.
        case ok
        /// The top probability is below the configured minimum: no answer.
        case uncertain
        /// Blank or uniform picture: nothing to classify.
        case empty
    }

    /// The answer; nil unless `status` is ok.
    public let label: Int?
    public let status: Status
    /// The top probability, whatever the status.
    public let confidence: Float

    /// Judges one image's probability row. With a `minimumConfidence` (the reject option), an
    /// image is uncertain below it, or when it is not `typical` of the training images.
    public init(probabilities row: ArraySlice<Float>, hasInk: Bool, typical: Bool = true, minimumConfidence: Float?) {
        let top = argmax(row)
        confidence = row[row.startIndex + top]
        if !hasInk {
            status = .empty
        } else if let minimumConfidence, confidence < minimumConfidence || !typical {
            status = .uncertain
        } else {
            status = .ok
        }
        label = status == .ok ? top : nil
    }

    /// Each image's prediction from `probabilities` (one row of `classes` per image of `input`).
    /// Probabilities that are not finite numbers answer nothing: the input fails, saying which
    /// image, rather than pass NaN off as an answer.
    public static func judge(_ probabilities: ArraySlice<Float>, of input: DecodedInput, named source: String,
                             model: LoadedModel, minimumConfidence: Float?) throws -> [Prediction] {
        let classes = model.network.classCount, side = DigitNormalization.side, size = side * side
        let base = probabilities.startIndex
        if let bad = probabilities.firstIndex(where: { !$0.isFinite }) {
            throw NonFiniteProbabilities(file: source, image: (bad - base) / classes, model: model.id)
        }
        return input.hasInk.indices.map { image in
            let typical = minimumConfidence == nil || model.inputProfile.map {
                $0.admits(input.pixels[image * size..<(image + 1) * size], height: side, width: side)
            } ?? true
            return Prediction(probabilities: probabilities[base + image * classes..<base + (image + 1) * classes],
                              hasInk: input.hasInk[image], typical: typical, minimumConfidence: minimumConfidence)
        }
    }
}

/// One input classified: a prediction per image, and the probabilities they came from.
public struct Verdict: Sendable {
    public let predictions: [Prediction]
    /// One row of `classes` per image.
    public let probabilities: ArraySlice<Float>
    public let classes: Int
    public let model: String

    /// Its rows of the prediction CSV, under `source`.
    public func appendRows(to csv: inout CSVWriter, source: String) {
        PredictionCSV.appendRows(to: &csv, source: source, predictions: predictions, probabilities: probabilities,
                                 classes: classes, model: model)
    }

    /// Its prediction CSV under `source`, header first. The rows of a large input (an IDX batch
    /// of thousands of images) are formatted on every kernel thread, each part into a buffer
    /// of its own, then joined in order: the same bytes as one writer gives.
    public func csv(source: String) -> [UInt8] {
        var csv = CSVWriter(header: PredictionCSV.header(classes: classes))
        let parts = predictions.count >= Self.rowsWorthSplitting ? kernelThreadCount : 1
        guard parts > 1 else {
            appendRows(to: &csv, source: source)
            return csv.bytes
        }
        var pieces = [[UInt8]](repeating: [], count: parts)
        pieces.withUnsafeMutableBufferPointer { pieces in
            let target = UncheckedSendable(pieces.baseAddress!)
            parallelFor(parts) { part in
                var piece = CSVWriter()
                PredictionCSV.appendRows(to: &piece, source: source, predictions: predictions, probabilities: probabilities,
                                         classes: classes, model: model,
                                         images: partRange(part, of: parts, count: predictions.count))
                target.value[part] = piece.bytes
            }
        }
        var bytes = csv.bytes
        bytes.reserveCapacity(bytes.count + pieces.reduce(0) { $0 + $1.count })
        for piece in pieces { bytes += piece }  // whole arrays: joined() went byte by byte
        return bytes
    }

    /// Below this many images one thread formats the rows: splitting costs more than it saves.
    static let rowsWorthSplitting = 1024
}

/// Why an input got no predictions although it was decoded.
public struct NonFiniteProbabilities: Error, CustomStringConvertible {
    public let file: String
    public let image: Int
    public let model: String

    public var description: String {
        "\(file): model \(model) gave image \(image) probabilities that are not finite numbers (NaN or infinity); no answer for this input"
    }
}

/// The prediction CSV: RFC 4180, one row per image.
public enum PredictionCSV {
    public static func header(classes: Int) -> [String] {
        ["source", "index", "label", "status", "confidence"] + (0..<classes).map { "p\($0)" } + ["model"]
    }

    /// A file name as a spreadsheet will not take for a formula (`=1+1.png`, `@SUM(1).png`):
    /// one that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` before it,
    /// as OWASP advises against CSV injection. Spreadsheets show the name without the quote.
    static func spreadsheetSafe(_ name: String) -> String {
        guard let first = name.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return name }
        return "'" + name
    }

    /// Appends a row per image of `source` (those of `images`, all by default): its prediction,
    /// then its probabilities.
    public static func appendRows(to csv: inout CSVWriter, source: String, predictions: [Prediction],
                                  probabilities: ArraySlice<Float>, classes: Int, model: String, images: Range<Int>? = nil) {
        let base = probabilities.startIndex
        let source = spreadsheetSafe(source)
        for index in images ?? predictions.indices {
            let prediction = predictions[index]
            csv.appendField(source)
            csv.appendField(index)
            if let label = prediction.label { csv.appendField(label) } else { csv.appendField("") }
            csv.appendField(prediction.status.rawValue)
            csv.appendField(Double(prediction.confidence), digits: 6)
            for probability in probabilities[base + index * classes..<base + (index + 1) * classes] {
                csv.appendField(Double(probability), digits: 6)
            }
            csv.appendField(model)
            csv.endRow()
        }
    }
}
