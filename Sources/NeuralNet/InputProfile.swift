/// What the training images looked like, in three simple measures of their ink, so that an
/// image unlike all of them can be told apart however confident the network is about it
/// (a shirt is not a digit, even when the network says "8" with 99%).
///
/// Measured on single-channel images with pixels in 0...1 (1 = ink): the ink's bounding box
/// (pixels ≥ 1/8), its coverage (share of pixels ≥ 1/2) and its mass (sum of pixels). The
/// ranges leave out the rarest 0.05% of training images at each end, so about 0.2% of images
/// like the training ones fall outside.
public struct InputProfile: Equatable, Sendable {
    public var boxHeight: Int
    public var boxWidth: Int
    public var coverage: ClosedRange<Float>
    public var mass: ClosedRange<Float>

    static let boxThreshold: Float = 0.125
    static let coverageThreshold: Float = 0.5
    static let tail = 0.0005

    public init(boxHeight: Int, boxWidth: Int, coverage: ClosedRange<Float>, mass: ClosedRange<Float>) {
        self.boxHeight = boxHeight
        self.boxWidth = boxWidth
        self.coverage = coverage
        self.mass = mass
    }

    /// The profile of a set of training images (nil for none, or images with several channels).
    public init?(of images: LabeledImages) {
        guard images.count > 0, images.shape.channels == 1 else { return nil }
        let size = images.shape.count
        let measures = (0..<images.count).map { i in
            Self.measure(images.bytes[i * size..<(i + 1) * size], height: images.shape.height, width: images.shape.width)
        }
        func percentile<T: Comparable>(_ values: [T], _ fraction: Double) -> T {
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, max(0, Int((fraction * Double(sorted.count - 1)).rounded())))]
        }
        let coverages = measures.map(\.coverage), masses = measures.map(\.mass)
        self.init(boxHeight: percentile(measures.map(\.boxHeight), 1 - Self.tail),
                  boxWidth: percentile(measures.map(\.boxWidth), 1 - Self.tail),
                  coverage: percentile(coverages, Self.tail)...percentile(coverages, 1 - Self.tail),
                  mass: percentile(masses, Self.tail)...percentile(masses, 1 - Self.tail))
    }

    /// Whether an image (height × width bytes, 255 = ink) looks like the training images.
    public func admits(_ pixels: ArraySlice<UInt8>, height: Int, width: Int) -> Bool {
        let measure = Self.measure(pixels, height: height, width: width)
        return measure.boxHeight <= boxHeight && measure.boxWidth <= boxWidth
            && coverage.contains(measure.coverage) && mass.contains(measure.mass)
    }

    /// One image's ink box, coverage and mass; `pixels` is height × width bytes, 255 = ink.
    static func measure(_ pixels: ArraySlice<UInt8>, height: Int, width: Int)
        -> (boxHeight: Int, boxWidth: Int, coverage: Float, mass: Float) {
        var top = height, bottom = -1, left = width, right = -1
        var covered = 0, mass: Float = 0
        for y in 0..<height {
            for x in 0..<width {
                let value = pixelValue(pixels[pixels.startIndex + y * width + x])
                mass += value
                if value >= coverageThreshold { covered += 1 }
                if value >= boxThreshold {
                    top = min(top, y); bottom = max(bottom, y)
                    left = min(left, x); right = max(right, x)
                }
            }
        }
        return (max(0, bottom - top + 1), max(0, right - left + 1), Float(covered) / Float(height * width), mass)
    }

    /// As the weights file keeps it: `box=20x20 coverage=0.032..0.306 mass=28.3..228.3`.
    public var text: String {
        "box=\(boxHeight)x\(boxWidth) coverage=\(coverage.lowerBound)..\(coverage.upperBound) mass=\(mass.lowerBound)..\(mass.upperBound)"
    }

    /// Reads `text`'s form back; nil if it is not that.
    public init?(text: String) {
        var fields: [String: String] = [:]
        for field in text.split(separator: " ") {
            let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            fields[parts[0]] = parts[1]
        }
        func range(_ key: String) -> ClosedRange<Float>? {
            guard let bounds = fields[key]?.split(separator: ".."), bounds.count == 2,
                  let low = Float(bounds[0]), let high = Float(bounds[1]), low.isFinite, high.isFinite, low <= high else { return nil }
            return low...high
        }
        guard fields.count == 3, let box = fields["box"]?.split(separator: "x"), box.count == 2,
              let height = Int(box[0]), let width = Int(box[1]), height >= 0, width >= 0,
              let coverage = range("coverage"), let mass = range("mass") else { return nil }
        self.init(boxHeight: height, boxWidth: width, coverage: coverage, mass: mass)
    }
}
