#if canImport(Glibc)
import Glibc
#endif

/// Random distortion of training images, drawn per image: an affine map (rotation, scale,
/// shear, translation) always, and each of the ways real digits differ from MNIST's for a share
/// of the images — another writer's hand (elastic distortion), another pen (thinner or thicker
/// strokes), a coarse sensor (captured at a low resolution), an unsharp one (blur).
///
/// These are the training side only: the robustness benchmark's variants (`DigitVariants`)
/// are separate code with their own generators, so what a model is judged on is never the very
/// picture it was trained on.
public struct Augmentation: Equatable, Sendable {
    public var maxRotationDegrees: Float
    public var maxScaleChange: Float
    public var maxShiftPixels: Float
    /// x moves by up to this much of y (and the other way round), both ways.
    public var maxShear: Float
    public var realWorld: RealWorldDistortions?

    public init(maxRotationDegrees: Float, maxScaleChange: Float, maxShiftPixels: Float,
                maxShear: Float = 0, realWorld: RealWorldDistortions? = nil) {
        self.maxRotationDegrees = maxRotationDegrees
        self.maxScaleChange = maxScaleChange
        self.maxShiftPixels = maxShiftPixels
        self.maxShear = maxShear
        self.realWorld = realWorld
    }

    /// The distortion of the next image: its numbers drawn in a fixed order, so a batch's draws
    /// can be made in sequence and the images distorted in parallel, the same on any machine.
    public func draw(_ random: inout SeededRandom) -> Distortion {
        let angle = random.nextSymmetric(maxRotationDegrees) * .pi / 180
        let scale = 1 + random.nextSymmetric(maxScaleChange)
        let shiftX = random.nextSymmetric(maxShiftPixels), shiftY = random.nextSymmetric(maxShiftPixels)
        var distortion = Distortion(cosine: cosf(angle) / scale, sine: sinf(angle) / scale, shiftX: shiftX, shiftY: shiftY)
        if maxShear > 0 {
            distortion.shear(x: random.nextSymmetric(maxShear), y: random.nextSymmetric(maxShear))
        }
        if let realWorld { realWorld.draw(into: &distortion, &random) }
        return distortion
    }
}

/// How often, and how strongly, each real-world difference is drawn; a share of 0 turns one off.
public struct RealWorldDistortions: Equatable, Sendable {
    /// Simard et al. (2003): a random displacement field smoothed by a Gaussian of `elasticSigma`
    /// pixels, scaled by up to `maxElasticAlpha`.
    public var elasticShare: Float
    public var maxElasticAlpha: Float
    public var elasticSigma: Float
    /// Half of these thinner, half thicker, by half a pixel to a whole one.
    public var strokeWidthShare: Float
    /// Gaussian blur of up to `maxBlurSigma` pixels.
    public var blurShare: Float
    public var maxBlurSigma: Float
    /// Averaged into a grid of `lowResolutionSides` cells a side, then enlarged back.
    public var lowResolutionShare: Float
    public var lowResolutionSides: ClosedRange<Int>

    public init(elasticShare: Float, maxElasticAlpha: Float, elasticSigma: Float, strokeWidthShare: Float,
                blurShare: Float, maxBlurSigma: Float, lowResolutionShare: Float, lowResolutionSides: ClosedRange<Int>) {
        self.elasticShare = elasticShare
        self.maxElasticAlpha = maxElasticAlpha
        self.elasticSigma = elasticSigma
        self.strokeWidthShare = strokeWidthShare
        self.blurShare = blurShare
        self.maxBlurSigma = maxBlurSigma
        self.lowResolutionShare = lowResolutionShare
        self.lowResolutionSides = lowResolutionSides
    }

    /// Every draw is made whether or not its distortion happens, so one share's change does not
    /// move the others' draws.
    func draw(into distortion: inout Distortion, _ random: inout SeededRandom) {
        let elastic = random.nextUniform() < elasticShare
        let alpha = random.nextUniform() * maxElasticAlpha, fieldSeed = random.next()
        if elastic, alpha > 0 { distortion.elastic = .init(seed: fieldSeed, alpha: alpha, sigma: elasticSigma) }
        // Half a pixel to a whole one: drawn from 0…1, a pen a whole pixel thinner (a hard
        // scanner threshold, a fine nib) was rare, and digits written with one were misread.
        let stroke = random.nextUniform() < strokeWidthShare, drawn = random.nextSymmetric(1)
        let change = (drawn < 0 ? -1 : 1) * (0.5 + 0.5 * abs(drawn))
        if stroke { distortion.strokeChange = change }
        let blur = random.nextUniform() < blurShare, sigma = random.nextUniform() * maxBlurSigma
        if blur { distortion.blurSigma = sigma }
        let coarse = random.nextUniform() < lowResolutionShare
        let side = lowResolutionSides.lowerBound + Int(random.next() % UInt64(lowResolutionSides.count))
        if coarse { distortion.lowResolutionSide = side }
    }
}

/// One drawn distortion. The affine part is the inverse map from output pixels to source
/// positions; the rest is applied after it, in the order a digit meets them: the hand (elastic,
/// with the affine map, one resampling), the pen, the sensor, the focus.
public struct Distortion: Sendable {
    var inverse: (xx: Float, xy: Float, yx: Float, yy: Float)
    var shiftX: Float
    var shiftY: Float
    var elastic: ElasticField?
    /// −1…1: thinner below zero, thicker above, by that part of a pixel (drawn: ±0.5…1).
    var strokeChange: Float = 0
    var blurSigma: Float = 0
    /// 0: the full resolution.
    var lowResolutionSide = 0

    struct ElasticField: Sendable {
        var seed: UInt64
        var alpha: Float
        var sigma: Float
    }

    public static let identity = Distortion(cosine: 1, sine: 0, shiftX: 0, shiftY: 0)

    /// Rotation (and scale) as the inverse map (cos sin; −sin cos), then a shift.
    init(cosine: Float, sine: Float, shiftX: Float, shiftY: Float) {
        inverse = (cosine, sine, -sine, cosine)
        self.shiftX = shiftX
        self.shiftY = shiftY
    }

    /// Composes a shear after the rotation: the output's (x, y) is first unsheared.
    mutating func shear(x: Float, y: Float) {
        // Inverse of (1 x; y 1) is (1 −x; −y 1) / (1 − xy).
        let determinant = 1 - x * y
        let (a, b, c, d) = inverse
        inverse = ((a - b * y) / determinant, (b - a * x) / determinant, (c - d * y) / determinant, (d - c * x) / determinant)
    }

    /// out = image distorted; both are height × width, ink in [0, 1].
    public func apply(_ out: UnsafeMutablePointer<Float>, _ image: UnsafePointer<Float>, height: Int, width: Int) {
        let count = height * width
        let capacity = 2 * count + max(count, ImageFilters.elasticScratchCount(height: height, width: width))
        withUnsafeTemporaryAllocation(of: Float.self, capacity: capacity) { scratch in
            let first = scratch.baseAddress!, second = first + count, third = second + count
            if let elastic {
                ImageFilters.elasticField(dx: first, dy: second, height: height, width: width, elastic, scratch: third)
                warp(out, image, height: height, width: width, dx: first, dy: second)
            } else {
                warp(out, image, height: height, width: width, dx: nil, dy: nil)
            }
            if strokeChange != 0 {
                ImageFilters.changeStrokeWidth(out, by: strokeChange, height: height, width: width, scratch: first)
            }
            // A sensor with as many cells as the image has pixels, or more, sees it as it is.
            if lowResolutionSide > 0 && lowResolutionSide < min(height, width) {
                ImageFilters.captureCoarsely(out, side: lowResolutionSide, height: height, width: width, scratch: first)
            }
            if blurSigma > 0 {
                ImageFilters.blur(out, sigma: blurSigma, height: height, width: width, scratch: first)
            }
        }
    }

    private func warp(_ out: UnsafeMutablePointer<Float>, _ image: UnsafePointer<Float>, height: Int, width: Int,
                      dx: UnsafePointer<Float>?, dy: UnsafePointer<Float>?) {
        // About the image centre.
        let centreX = Float(width - 1) / 2, centreY = Float(height - 1) / 2
        for y in 0..<height {
            for x in 0..<width {
                let at = y * width + x
                let u = Float(x) - centreX - shiftX, v = Float(y) - centreY - shiftY
                var sourceX = inverse.xx * u + inverse.xy * v + centreX
                var sourceY = inverse.yx * u + inverse.yy * v + centreY
                if let dx, let dy {
                    sourceX += dx[at]
                    sourceY += dy[at]
                }
                out[at] = ImageFilters.bilinear(image, height: height, width: width, x: sourceX, y: sourceY)
            }
        }
    }
}
