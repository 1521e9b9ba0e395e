import DigitVariants
import Formats
import NeuralNet
import Tensor

/// Accuracy on test digits made to look like real-world ones: each `DigitVariant` of each
/// image, through the daemon's own preprocessing (`DigitNormalization`, as for a dropped PNG)
/// and its classifier (8-bit where the model has that form). A picture the preprocessing finds
/// blank counts as wrong, as the daemon would answer it `empty`.
public struct RobustnessResult: Sendable {
    public let variant: DigitVariant
    public let images: Int
    public let correct: Int
    public var accuracy: Double { images == 0 ? 0 : Double(correct) / Double(images) }

    /// The variant and its accuracy, as a row of a table.
    public var tableRow: String {
        "  " + variant.rawValue + String(repeating: " ", count: max(1, 50 - variant.rawValue.count)) + fixed(accuracy * 100, 2) + "%"
    }

    /// The mean and the worst of `results`, as a line.
    public static func summary(_ results: [RobustnessResult]) -> String {
        guard let worst = results.min(by: { $0.accuracy < $1.accuracy }) else { return "  no variant measured" }
        let mean = results.map(\.accuracy).reduce(0, +) / Double(results.count)
        return "  mean \(fixed(mean * 100, 2))%, worst \(fixed(worst.accuracy * 100, 2))% (\(worst.variant.rawValue))"
    }
}

public enum Robustness {
    /// The seed of `variant`'s random choices for image `image`: one generator per picture, so
    /// the pictures do not depend on how the work is split, and far from the small seeds
    /// training takes, so the benchmark's pictures are never a training run's.
    static func seed(variant: DigitVariant, image: Int) -> UInt64 {
        0x7E57_0000_0000_0000 | UInt64(DigitVariant.allCases.firstIndex(of: variant)!) << 32 | UInt64(image)
    }

    /// The picture `variant` makes of image `image` of `test`, as a user would drop it.
    public static func picture(_ variant: DigitVariant, of test: LabeledImages, image: Int) -> RasterImage {
        let size = DigitNormalization.side * DigitNormalization.side
        var random = SeededRandom(seed: seed(variant: variant, image: image))
        return variant.picture(of: test.bytes[image * size..<(image + 1) * size], using: &random)
    }

    /// The preprocessed 28×28 bytes of every image's `variant`, and whether each holds ink.
    public static func preprocessed(_ test: LabeledImages, variant: DigitVariant) -> (pixels: [UInt8], hasInk: [Bool]) {
        let side = DigitNormalization.side, size = side * side
        var pixels = [UInt8](repeating: 0, count: test.count * size)
        var hasInk = [Bool](repeating: false, count: test.count)
        let parts = min(kernelThreadCount, max(1, test.count))
        pixels.withUnsafeMutableBufferPointer { pixels in
            hasInk.withUnsafeMutableBufferPointer { hasInk in
                let target = UncheckedSendable((pixels.baseAddress!, hasInk.baseAddress!))
                parallelFor(parts) { part in
                    let (pixels, hasInk) = target.value
                    for image in partRange(part, of: parts, count: test.count) {
                        let digit = DigitNormalization.normalize(picture(variant, of: test, image: image))
                        (pixels + image * size).update(from: digit.pixels, count: size)
                        hasInk[image] = digit.hasInk
                    }
                }
            }
        }
        return (pixels, hasInk)
    }

    /// Each of `variants` on every image of `test`, classified by `model`; `measured` hears of
    /// each result as it comes.
    public static func evaluate(_ model: LoadedModel, on test: LabeledImages, variants: [DigitVariant] = DigitVariant.allCases,
                                measured: (RobustnessResult) -> Void = { _ in }) -> [RobustnessResult] {
        let classifier = Classifier()
        let classes = model.network.classCount
        return variants.map { variant in
            let (pixels, hasInk) = preprocessed(test, variant: variant)
            let probabilities = classifier.probabilities(model, pixels: pixels)
            var correct = 0
            for image in 0..<test.count {
                let row = probabilities[image * classes..<(image + 1) * classes]
                if Prediction(probabilities: row, hasInk: hasInk[image], minimumConfidence: nil).label == Int(test.labels[image]) {
                    correct += 1
                }
            }
            let result = RobustnessResult(variant: variant, images: test.count, correct: correct)
            measured(result)
            return result
        }
    }
}
