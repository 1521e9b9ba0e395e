/// Images with their class labels, pixels scaled to [0, 1] (0 = paper, 1 = ink), row-major.
public struct LabeledImages: Sendable {
    public let shape: FeatureShape
    public let pixels: [Float]
    public let labels: [Int32]

    public var count: Int { labels.count }

    /// From 8-bit pixels (count × shape.count, 255 = ink) and labels in 0..<classes.
    public init(shape: FeatureShape, bytes: [UInt8], labels: [UInt8]) {
        precondition(bytes.count == labels.count * shape.count, "LabeledImages: \(bytes.count) pixels for \(labels.count) images of \(shape)")
        self.shape = shape
        self.pixels = bytes.map { Float($0) * (1 / 255) }
        self.labels = labels.map(Int32.init)
    }

    public init(shape: FeatureShape, pixels: [Float], labels: [Int32]) {
        precondition(pixels.count == labels.count * shape.count, "LabeledImages: \(pixels.count) pixels for \(labels.count) images of \(shape)")
        self.shape = shape
        self.pixels = pixels
        self.labels = labels
    }

    /// The first `count` images (all of them if there are fewer).
    public func prefix(_ count: Int) -> LabeledImages {
        let n = min(count, self.count)
        return LabeledImages(shape: shape, pixels: Array(pixels[0..<n * shape.count]), labels: Array(labels[0..<n]))
    }

    /// The last `count` images apart from the rest (all stay in the first part if count is 0).
    public func holdingOut(_ count: Int) -> (rest: LabeledImages, heldOut: LabeledImages) {
        let cut = self.count - min(max(0, count), self.count)
        return (LabeledImages(shape: shape, pixels: Array(pixels[0..<cut * shape.count]), labels: Array(labels[0..<cut])),
                LabeledImages(shape: shape, pixels: Array(pixels[(cut * shape.count)...]), labels: Array(labels[cut...])))
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
