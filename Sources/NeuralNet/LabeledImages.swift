/// An 8-bit pixel (255 = ink) as the networks read it: a float in [0, 1].
@inline(__always)
public func pixelValue(_ byte: UInt8) -> Float {
    Float(byte) * (1 / 255)
}

/// `count` 8-bit pixels as the networks read them.
@inline(__always)
public func writePixelValues(_ source: UnsafePointer<UInt8>, count: Int, to target: UnsafeMutablePointer<Float>) {
    for i in 0..<count { target[i] = pixelValue(source[i]) }
}

/// Images with their class labels, 8 bits a pixel as the files hold them (0 = paper, 255 =
/// ink), row-major. The network reads floats in [0, 1], made a batch at a time: a quarter of
/// the memory of keeping floats (47 MB for MNIST's training images instead of 188 MB), and a
/// quarter of the memory traffic when a training step gathers its images.
public struct LabeledImages: Sendable {
    public let shape: FeatureShape
    public let bytes: [UInt8]
    public let labels: [Int32]

    public var count: Int { labels.count }

    /// `bytes` holds count × shape.count pixels; labels are in 0..<classes.
    public init(shape: FeatureShape, bytes: [UInt8], labels: [Int32]) {
        precondition(bytes.count == labels.count * shape.count, "LabeledImages: \(bytes.count) pixels for \(labels.count) images of \(shape)")
        self.shape = shape
        self.bytes = bytes
        self.labels = labels
    }

    public init(shape: FeatureShape, bytes: [UInt8], labels: [UInt8]) {
        self.init(shape: shape, bytes: bytes, labels: labels.map(Int32.init))
    }

    /// Writes image `index` as the network reads it, pixels in [0, 1], to `target`.
    @inline(__always)
    public func writePixels(of index: Int, to target: UnsafeMutablePointer<Float>) {
        let size = shape.count
        bytes.withUnsafeBufferPointer { all in
            writePixelValues(all.baseAddress! + index * size, count: size, to: target)
        }
    }

    /// Images `range` as the network reads them, pixels in [0, 1].
    public func pixels(_ range: Range<Int>) -> [Float] {
        let size = shape.count
        return [Float](unsafeUninitializedCapacity: range.count * size) { buffer, initialized in
            for (offset, index) in range.enumerated() { writePixels(of: index, to: buffer.baseAddress! + offset * size) }
            initialized = range.count * size
        }
    }

    /// The first `count` images (all of them if there are fewer).
    public func prefix(_ count: Int) -> LabeledImages {
        let n = min(count, self.count)
        return LabeledImages(shape: shape, bytes: Array(bytes[0..<n * shape.count]), labels: Array(labels[0..<n]))
    }

    /// The last `count` images apart from the rest (all stay in the first part if count is 0).
    public func holdingOut(_ count: Int) -> (rest: LabeledImages, heldOut: LabeledImages) {
        let cut = self.count - min(max(0, count), self.count)
        return (LabeledImages(shape: shape, bytes: Array(bytes[0..<cut * shape.count]), labels: Array(labels[0..<cut])),
                LabeledImages(shape: shape, bytes: Array(bytes[(cut * shape.count)...]), labels: Array(labels[cut...])))
    }
}

extension LabeledImages {
    /// Why these images cannot train or test a network that takes `inputShape` and has
    /// `classes` outputs — none at all, another size, a label out of range — or nil when they
    /// can: bad data is a clear error rather than a failed precondition.
    public func mismatch(inputShape: FeatureShape, classes: Int) -> String? {
        guard count > 0 else { return "the dataset holds no images" }
        guard shape == inputShape else { return "images are \(shape), the model takes \(inputShape)" }
        if let bad = labels.first(where: { $0 < 0 || Int($0) >= classes }) { return "label \(bad) is outside 0...\(classes - 1)" }
        return nil
    }
}
