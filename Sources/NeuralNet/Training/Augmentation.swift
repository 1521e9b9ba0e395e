#if canImport(Glibc)
import Glibc
#endif

/// Random affine distortion of training images: rotation, scale and translation drawn
/// uniformly per image, resampled bilinearly with zero (paper) outside the frame.
public struct Augmentation: Equatable, Sendable {
    public var maxRotationDegrees: Float
    public var maxScaleChange: Float
    public var maxShiftPixels: Float

    public init(maxRotationDegrees: Float, maxScaleChange: Float, maxShiftPixels: Float) {
        self.maxRotationDegrees = maxRotationDegrees
        self.maxScaleChange = maxScaleChange
        self.maxShiftPixels = maxShiftPixels
    }

    /// The distortion of the next image: its four numbers drawn in a fixed order, so a batch's
    /// draws can be made in sequence and the images distorted in parallel, the same on any machine.
    public func draw(_ random: inout SeededRandom) -> Distortion {
        let angle = random.nextSymmetric(maxRotationDegrees) * .pi / 180
        let scale = 1 + random.nextSymmetric(maxScaleChange)
        let shiftX = random.nextSymmetric(maxShiftPixels), shiftY = random.nextSymmetric(maxShiftPixels)
        return Distortion(cosine: cosf(angle) / scale, sine: sinf(angle) / scale, shiftX: shiftX, shiftY: shiftY)
    }
}

/// One drawn affine distortion, as the inverse map from output pixels to source positions.
public struct Distortion: Sendable {
    var cosine: Float
    var sine: Float
    var shiftX: Float
    var shiftY: Float

    /// out = image distorted; both are height × width.
    public func apply(_ out: UnsafeMutablePointer<Float>, _ image: UnsafePointer<Float>, height: Int, width: Int) {
        // Rotation and scale about the image centre.
        let centreX = Float(width - 1) / 2, centreY = Float(height - 1) / 2
        for y in 0..<height {
            for x in 0..<width {
                let dx = Float(x) - centreX - shiftX, dy = Float(y) - centreY - shiftY
                let sourceX = cosine * dx + sine * dy + centreX
                let sourceY = -sine * dx + cosine * dy + centreY
                out[y * width + x] = bilinear(image, height: height, width: width, x: sourceX, y: sourceY)
            }
        }
    }
}

@inline(__always)
private func bilinear(_ image: UnsafePointer<Float>, height: Int, width: Int, x: Float, y: Float) -> Float {
    let x0f = floorf(x), y0f = floorf(y)
    let x0 = Int(x0f), y0 = Int(y0f)
    let fx = x - x0f, fy = y - y0f
    @inline(__always) func pixel(_ px: Int, _ py: Int) -> Float {
        px >= 0 && px < width && py >= 0 && py < height ? image[py * width + px] : 0
    }
    let top = pixel(x0, y0) * (1 - fx) + pixel(x0 + 1, y0) * fx
    let bottom = pixel(x0, y0 + 1) * (1 - fx) + pixel(x0 + 1, y0 + 1) * fx
    return top * (1 - fy) + bottom * fy
}
