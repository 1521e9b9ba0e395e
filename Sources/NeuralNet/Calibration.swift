#if canImport(Glibc)
import Glibc
#endif
import Tensor

/// How far a model's confidence is from its accuracy, bin by bin: predictions are grouped by
/// their top probability into equal-width bins over [0, 1].
public struct ReliabilityBins: Equatable, Sendable {
    public struct Bin: Equatable, Sendable {
        public var count = 0
        public var confidenceSum: Double = 0
        public var correct = 0

        public var meanConfidence: Double { count == 0 ? 0 : confidenceSum / Double(count) }
        public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }
    }

    public private(set) var bins: [Bin]

    /// `probabilities` holds `labels.count` rows of `classes` values; a label outside the
    /// classes (unlabeled data) is left out.
    public init(probabilities: [Float], labels: [Int32], classes: Int, binCount: Int = 15) {
        precondition(probabilities.count == labels.count * classes, "one row of probabilities per label")
        bins = [Bin](repeating: Bin(), count: binCount)
        for (i, label) in labels.enumerated() where label >= 0 && Int(label) < classes {
            let row = probabilities[i * classes..<(i + 1) * classes]
            let predicted = argmax(row)
            let confidence = Double(row[row.startIndex + predicted])
            // Bins are (k/B, (k+1)/B]; a confidence of exactly 0 joins the first.
            let bin = min(binCount - 1, max(0, Int((confidence * Double(binCount)).rounded(.up)) - 1))
            bins[bin].count += 1
            bins[bin].confidenceSum += confidence
            if predicted == Int(label) { bins[bin].correct += 1 }
        }
    }

    /// Expected calibration error: the mean gap |accuracy − confidence| over bins, weighted by
    /// how many predictions each holds. 0 is perfect; a fraction, not a percentage.
    public var expectedCalibrationError: Double {
        let total = bins.reduce(0) { $0 + $1.count }
        guard total > 0 else { return 0 }
        return bins.reduce(0) { $0 + Double($1.count) / Double(total) * abs($1.accuracy - $1.meanConfidence) }
    }
}

extension Evaluation {
    /// How calibrated the evaluated network's confidences are at `temperature`, against the
    /// labels of the evaluated images.
    public func reliability(labels: [Int32], temperature: Float) -> ReliabilityBins {
        ReliabilityBins(probabilities: softmax(logits, temperature: temperature, classes: confusion.classes),
                        labels: labels, classes: confusion.classes)
    }
}

/// Temperature scaling: the probabilities become softmax(logits / T), with the one T that
/// minimises the negative log-likelihood of held-out labels. It changes no prediction, only
/// how confident each one claims to be.
public enum TemperatureScaling {
    public static let range: ClosedRange<Float> = 0.05...20

    /// The temperature that best fits `labels` given `logits` (labels.count × classes).
    public static func fit(logits: [Float], labels: [Int32], classes: Int) -> Float {
        precondition(logits.count == labels.count * classes, "one row of logits per label")
        guard !labels.isEmpty else { return 1 }
        // The loss is convex in β = 1/T (a log-sum-exp of functions linear in β, minus a
        // linear term), so a golden-section search over β finds the minimum.
        var low = Double(1 / range.upperBound), high = Double(1 / range.lowerBound)
        let ratio = (5.0.squareRoot() - 1) / 2
        var a = high - ratio * (high - low), b = low + ratio * (high - low)
        var lossA = negativeLogLikelihood(beta: a, logits: logits, labels: labels, classes: classes)
        var lossB = negativeLogLikelihood(beta: b, logits: logits, labels: labels, classes: classes)
        while high - low > 1e-5 {
            if lossA < lossB {
                high = b; b = a; lossB = lossA
                a = high - ratio * (high - low)
                lossA = negativeLogLikelihood(beta: a, logits: logits, labels: labels, classes: classes)
            } else {
                low = a; a = b; lossA = lossB
                b = low + ratio * (high - low)
                lossB = negativeLogLikelihood(beta: b, logits: logits, labels: labels, classes: classes)
            }
        }
        return Float(1 / ((low + high) / 2))
    }

    /// Mean −log softmax(β·z)[label], in double precision.
    static func negativeLogLikelihood(beta: Double, logits: [Float], labels: [Int32], classes: Int) -> Double {
        var total: Double = 0
        for (i, label) in labels.enumerated() {
            let row = logits[i * classes..<(i + 1) * classes]
            let top = Double(row.max()!) * beta
            let sum = row.reduce(0.0) { $0 + exp(Double($1) * beta - top) }
            total += top + log(sum) - Double(row[row.startIndex + Int(label)]) * beta
        }
        return total / Double(labels.count)
    }
}

/// A temperature fitted on held-out data, with the calibration error it leaves.
public struct Calibration: Equatable, Sendable {
    public let temperature: Float
    public let heldOutImages: Int
    /// Expected calibration error on the held-out data at temperature 1 and at `temperature`.
    public let errorBefore: Double
    public let errorAfter: Double

    /// Fits the temperature to `evaluation`'s logits on held-out images labeled `labels`.
    public init(fitting evaluation: Evaluation, labels: [Int32]) {
        let classes = evaluation.confusion.classes
        temperature = TemperatureScaling.fit(logits: evaluation.logits, labels: labels, classes: classes)
        heldOutImages = labels.count
        errorBefore = evaluation.reliability(labels: labels, temperature: 1).expectedCalibrationError
        errorAfter = evaluation.reliability(labels: labels, temperature: temperature).expectedCalibrationError
    }

    /// What the weights file keeps of it, beside the temperature itself.
    public var metadata: [String: String] {
        ["calibration_images": String(heldOutImages),
         "calibration_ece_before": String(errorBefore), "calibration_ece_after": String(errorAfter)]
    }
}
