#if canImport(Glibc)
import Glibc
#endif
import Formats
import NeuralNet
import SystemResources

/// A labeled dataset dropped into `DIR/datasets/<name>/`, validated and ready to train on.
///
/// Two layouts: IDX files (`train-images-idx3-ubyte[.gz]` and `train-labels-idx1-ubyte[.gz]`,
/// optionally the `t10k-` pair as the validation set), or PNG folders `0/` … `9/` (any of
/// them, each PNG normalised as the daemon does). Without a `t10k-` pair, every tenth image
/// is held out for validation.
public struct LabeledDataset: Sendable {
    public let name: String
    public let train: LabeledImages
    public let validation: LabeledImages
    /// Where the validation images come from, in words.
    public let validationSource: String

    static let side = DigitNormalization.side

    /// Loads and checks `directory` for a model with `classes` outputs.
    public static func load(directory: String, name: String, classes: Int, decoder: InputDecoder, maxImages: Int) throws -> LabeledDataset {
        let hasIDX = ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"].contains { access("\(directory)/\($0)", F_OK) == 0 }
        if hasIDX {
            let train = try validated(readMNIST(directory: directory, split: .train, limits: limits(maxImages)), source: "\(directory)/train", classes: classes)
            let hasTest = ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"].contains { access("\(directory)/\($0)", F_OK) == 0 }
            if hasTest {
                let test = try validated(readMNIST(directory: directory, split: .test, limits: limits(maxImages)), source: "\(directory)/t10k", classes: classes)
                return LabeledDataset(name: name, train: train, validation: test, validationSource: "its t10k files")
            }
            return heldOut(train, name: name)
        }
        let folders = (0..<classes).map(String.init).filter { isDirectory("\(directory)/\($0)") }
        guard !folders.isEmpty else {
            throw FormatError(file: directory, reason: "not a dataset: no train-images-idx3-ubyte[.gz] and no class folders 0/ … \(classes - 1)/")
        }
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        for folder in folders {
            for file in try directoryEntries("\(directory)/\(folder)").sorted() where !file.hasPrefix(".") {
                guard labels.count < maxImages else {
                    throw FormatError(file: directory, reason: "more than \(maxImages) images (raise --max-dataset-images to accept it)")
                }
                let input = try decoder.decode(path: "\(directory)/\(folder)/\(file)", displayName: "\(directory)/\(folder)/\(file)")
                guard input.kind == .png else {
                    throw FormatError(file: "\(directory)/\(folder)/\(file)", reason: "class folders hold PNG images only")
                }
                pixels += input.pixels
                labels.append(UInt8(folder)!)
            }
        }
        let all = try validated(LabeledByteImages(count: labels.count, height: side, width: side, pixels: pixels, labels: labels),
                             source: directory, classes: classes)
        return heldOut(all, name: name)
    }

    private static func limits(_ maxImages: Int) -> IDXLimits {
        IDXLimits(maxFileBytes: maxImages * side * side + 1024, maxDataBytes: maxImages * side * side + 1024)
    }

    private static func isDirectory(_ path: String) -> Bool {
        linkStatus(path).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
    }

    /// The images, if they can train a model of `classes` classes: some, of the size the
    /// models take, with labels in range.
    package static func validated(_ raw: LabeledByteImages, source: String, classes: Int) throws -> LabeledImages {
        let images = LabeledImages(raw)
        if let reason = images.mismatch(inputShape: FeatureShape(channels: 1, height: side, width: side), classes: classes) {
            throw FormatError(file: source, reason: reason)
        }
        return images
    }

    /// Every tenth image for validation, the rest for training.
    private static func heldOut(_ all: LabeledImages, name: String) -> LabeledDataset {
        let size = all.shape.count
        var trainPixels: [UInt8] = [], trainLabels: [Int32] = []
        var testPixels: [UInt8] = [], testLabels: [Int32] = []
        for index in 0..<all.count {
            let pixels = all.bytes[index * size..<(index + 1) * size]
            if index % 10 == 9 {
                testPixels += pixels
                testLabels.append(all.labels[index])
            } else {
                trainPixels += pixels
                trainLabels.append(all.labels[index])
            }
        }
        return LabeledDataset(name: name, train: LabeledImages(shape: all.shape, bytes: trainPixels, labels: trainLabels),
                              validation: LabeledImages(shape: all.shape, bytes: testPixels, labels: testLabels),
                              validationSource: "every tenth image, held out")
    }
}

extension LabeledImages {
    /// Labeled single-channel images as read from IDX files or PNG folders.
    public init(_ raw: LabeledByteImages) {
        self.init(shape: FeatureShape(channels: 1, height: raw.height, width: raw.width), bytes: raw.pixels, labels: raw.labels)
    }

    /// One split of an MNIST-style directory.
    public static func readMNIST(directory: String, split: DatasetSplit) throws -> LabeledImages {
        LabeledImages(try Formats.readMNIST(directory: directory, split: split))
    }
}
