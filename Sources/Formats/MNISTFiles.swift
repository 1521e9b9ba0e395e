#if canImport(Glibc)
import Glibc
#endif

/// Grayscale images and their labels as stored in a pair of IDX files.
public struct LabeledByteImages: Sendable {
    public let count: Int
    public let height: Int
    public let width: Int
    /// count × height × width bytes, row-major, 255 = ink.
    public let pixels: [UInt8]
    public let labels: [UInt8]

    public init(count: Int, height: Int, width: Int, pixels: [UInt8], labels: [UInt8]) {
        self.count = count
        self.height = height
        self.width = width
        self.pixels = pixels
        self.labels = labels
    }
}

/// The two halves of an MNIST-style directory.
public enum DatasetSplit: String, Sendable {
    case train
    case test = "t10k"
}

/// Finds and reads `<split>-images-idx3-ubyte` and `<split>-labels-idx1-ubyte` (each plain or
/// `.gz`) in a directory, and checks that they describe the same images.
public func readMNIST(directory: String, split: DatasetSplit, limits: IDXLimits = IDXLimits()) throws -> LabeledByteImages {
    let imagesPath = try locate(directory: directory, name: "\(split.rawValue)-images-idx3-ubyte")
    let labelsPath = try locate(directory: directory, name: "\(split.rawValue)-labels-idx1-ubyte")
    let images = try readIDX(imagesPath, limits: limits)
    let labels = try readIDX(labelsPath, limits: limits)
    return try pairImages(images, source: imagesPath, labels: labels, labelSource: labelsPath)
}

/// Checks that an idx3 image array and an idx1 label array fit together.
public func pairImages(_ images: IDXArray, source: String, labels: IDXArray, labelSource: String) throws -> LabeledByteImages {
    guard images.dimensions.count == 3 else {
        throw FormatError(file: source, reason: "expected images (3 dimensions: count×rows×columns)")
    }
    guard labels.dimensions.count == 1 else {
        throw FormatError(file: labelSource, reason: "expected labels (1 dimension)")
    }
    guard images.dimensions[0] == labels.dimensions[0] else {
        throw FormatError(file: labelSource, reason: "the number of labels is not the number of images in \(source)")
    }
    return LabeledByteImages(count: images.dimensions[0], height: images.dimensions[1], width: images.dimensions[2],
                             pixels: images.bytes, labels: labels.bytes)
}

/// `directory/name`, or `directory/name.gz` when only that exists.
func locate(directory: String, name: String) throws -> String {
    for candidate in ["\(directory)/\(name)", "\(directory)/\(name).gz"] where access(candidate, F_OK) == 0 {
        return candidate
    }
    throw FormatError(file: "\(directory)/\(name)", reason: "not found (looked for \(name) and \(name).gz)")
}
