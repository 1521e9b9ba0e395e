#if canImport(Glibc)
import Glibc
#endif
import Formats

/// The ways real digits differ from MNIST's, each a transform of an MNIST digit into the
/// picture a user might drop into the inbox: a 28×28 MNIST-format image (which the daemon
/// takes as it is) or a larger scan or photograph (which it crops, scales and centres).
///
/// These are for measuring, never for training: every random choice comes from the generator
/// the caller passes, which the robustness benchmark seeds per variant and image apart from any
/// training seed, so a model cannot be fitted to the very pictures it is judged on.
public enum DigitVariant: String, CaseIterable, Sendable {
    case thick28 = "thick strokes, 28 px (dilate 1 px)"
    case thin28 = "thin strokes, 28 px (erode 1 px)"
    case thick112 = "thick strokes, 112 px (dilate 3 px)"
    case thin112 = "thin strokes, 112 px (erode 2 px)"
    case blur = "blur (σ 1 px at 28 px)"
    case lowResolution8 = "captured at 8×8, upscaled"
    case lowResolution12 = "captured at 12×12, upscaled"
    case lowResolution16 = "captured at 16×16, upscaled"
    case rotation = "rotated ±15°"
    case shear = "sheared ±0.3"
    case elastic = "elastic distortion (α 34, σ 4 at 28 px)"
    case photographedPage = "photographed page (uneven light, paper texture)"
    case jpegBlocks = "JPEG-like blocks (quality 20)"
    case touchingFrame = "touching the frame"
    case ruledLine = "a ruled line through it"

    /// The picture of `digit` (28×28 bytes, 255 = ink) this variant makes.
    public func picture(of digit: ArraySlice<UInt8>, using random: inout some RandomNumberGenerator) -> RasterImage {
        let mnist = InkImage(mnist: digit)
        switch self {
        case .thick28: return mnist.dilated(radius: 1).picture(inkShade: 255, paper: 0)
        case .thin28: return mnist.eroded(radius: 1).picture(inkShade: 255, paper: 0)
        case .blur: return mnist.blurred(sigma: 1).picture(inkShade: 255, paper: 0)
        case .elastic: return elasticallyDistorted(mnist, alpha: 34, sigma: 4, using: &random).picture(inkShade: 255, paper: 0)
        case .thick112: return Self.scanned(mnist).dilated(radius: 3).picture()
        case .thin112: return Self.scanned(mnist).eroded(radius: 2).picture()
        case .lowResolution8: return Self.capturedSmall(mnist, side: 8).picture()
        case .lowResolution12: return Self.capturedSmall(mnist, side: 12).picture()
        case .lowResolution16: return Self.capturedSmall(mnist, side: 16).picture()
        case .rotation:
            let angle = (Bool.random(using: &random) ? 15 : -15) * Float.pi / 180
            return Self.affine(Self.scanned(mnist), a: cosf(angle), b: -sinf(angle), c: sinf(angle), d: cosf(angle)).picture()
        case .shear:
            let shear: Float = Bool.random(using: &random) ? 0.3 : -0.3
            return Self.affine(Self.scanned(mnist), a: 1, b: shear, c: 0, d: 1).picture()
        case .photographedPage: return photographed(mnist, using: &random)
        case .jpegBlocks: return Self.blockCompressed(Self.scanned(mnist).picture(), quality: 20)
        case .touchingFrame: return touchingFrame(Self.scanned(mnist), using: &random).picture()
        case .ruledLine: return ruled(Self.scanned(mnist), using: &random).picture()
        }
    }

    /// The digit as a 112 px scan: four times MNIST's size, smoothly enlarged.
    static func scanned(_ digit: InkImage) -> InkImage { digit.interpolated(toWidth: 112, height: 112) }

    /// Seen by a sensor of `side` × `side` cells, then enlarged to 112 px by interpolation.
    static func capturedSmall(_ digit: InkImage, side: Int) -> InkImage {
        digit.averaged(toWidth: side, height: side).interpolated(toWidth: 112, height: 112)
    }

    /// The linear map (a b; c d) about the picture's centre: output pixel p reads the input at
    /// the inverse map of p.
    static func affine(_ image: InkImage, a: Float, b: Float, c: Float, d: Float) -> InkImage {
        let determinant = a * d - b * c
        let centreX = Float(image.width - 1) / 2, centreY = Float(image.height - 1) / 2
        return image.warped { x, y in
            let dx = x - centreX, dy = y - centreY
            return ((d * dx - b * dy) / determinant + centreX, (-c * dx + a * dy) / determinant + centreY)
        }
    }

    /// Simard et al. (2003): each pixel displaced by a random field, uniform in ±1 per pixel,
    /// smoothed by a Gaussian of `sigma` pixels and scaled by `alpha`.
    private func elasticallyDistorted(_ image: InkImage, alpha: Float, sigma: Float,
                                      using random: inout some RandomNumberGenerator) -> InkImage {
        func field() -> [Float] {
            let noise = (0..<image.width * image.height).map { _ in Float.random(in: -1...1, using: &random) }
            return InkImage(width: image.width, height: image.height, ink: noise).blurred(sigma: sigma).ink
        }
        let dx = field(), dy = field()
        return image.warped { x, y in
            let at = Int(y) * image.width + Int(x)
            return (x + alpha * dx[at], y + alpha * dy[at])
        }
    }

    /// Dark ink on a sheet photographed under uneven light: paper brighter on one side than the
    /// other, blotchy and grainy, the digit (96 px) somewhere on a 160 px frame.
    private func photographed(_ digit: InkImage, using random: inout some RandomNumberGenerator) -> RasterImage {
        let side = 160, size = 96
        let ink = digit.interpolated(toWidth: size, height: size)
        let offsetX = Int.random(in: 8...(side - size - 8), using: &random)
        let offsetY = Int.random(in: 8...(side - size - 8), using: &random)
        let angle = Float.random(in: 0..<(2 * .pi), using: &random)
        let (towardsX, towardsY) = (cosf(angle), sinf(angle))
        // Blotches a few tens of pixels wide: coarse noise, smoothed and enlarged.
        let blotches = InkImage(width: 20, height: 20, ink: (0..<400).map { _ in Float.random(in: -1...1, using: &random) })
            .blurred(sigma: 1).interpolated(toWidth: side, height: side)
        let inkShade = Float.random(in: 30...70, using: &random)
        var samples = [UInt8](repeating: 0, count: side * side)
        for y in 0..<side {
            for x in 0..<side {
                // Light falls off by 80 shades across the sheet, towards a random side.
                let across = (Float(x) / Float(side) - 0.5) * towardsX + (Float(y) / Float(side) - 0.5) * towardsY
                let paper = 200 + 80 * across + 60 * blotches.ink[y * side + x] + Float.random(in: -8...8, using: &random)
                let coverage = ink[x - offsetX, y - offsetY]
                samples[y * side + x] = UInt8(min(255, max(0, (paper + (inkShade - paper) * coverage).rounded())))
            }
        }
        return RasterImage(width: side, height: side, channels: 1, samples: samples)
    }

    /// The digit moved until its ink leaves the frame by 2 px, at a random side.
    private func touchingFrame(_ image: InkImage, using random: inout some RandomNumberGenerator) -> InkImage {
        guard let bounds = image.inkBounds() else { return image }
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return image.shifted(x: -bounds.left - 2, y: 0)
        case 1: return image.shifted(x: image.width - 1 - bounds.right + 2, y: 0)
        case 2: return image.shifted(x: 0, y: -bounds.top - 2)
        default: return image.shifted(x: 0, y: image.height - 1 - bounds.bottom + 2)
        }
    }

    /// A 2 px gray line across the page, at a random height through the lower half of the digit.
    private func ruled(_ image: InkImage, using random: inout some RandomNumberGenerator) -> InkImage {
        var lined = image
        let row = Int.random(in: image.height / 2...(image.height * 7 / 8), using: &random)
        for y in row...row + 1 {
            for x in 0..<image.width { lined.ink[y * image.width + x] = max(lined.ink[y * image.width + x], 0.6) }
        }
        return lined
    }

    /// JPEG's loss without its file format: 8×8 blocks through the DCT, quantised with the
    /// standard luminance table at `quality` (1…100, as libjpeg scales it), and back.
    static func blockCompressed(_ picture: RasterImage, quality: Int) -> RasterImage {
        let scale = quality < 50 ? 5000 / quality : 200 - 2 * quality
        let steps = luminanceTable.map { max(1, min(255, ($0 * scale + 50) / 100)) }.map(Float.init)
        var cosines = [Float](repeating: 0, count: 64)
        for frequency in 0..<8 {
            let norm: Float = frequency == 0 ? Float(0.5).squareRoot() / 2 : 0.5
            for position in 0..<8 {
                let angle = Float((2 * position + 1) * frequency) * Float.pi / 16
                cosines[frequency * 8 + position] = cosf(angle) * norm
            }
        }
        var samples = picture.samples
        let width = picture.width, height = picture.height
        for blockY in stride(from: 0, to: height, by: 8) {
            for blockX in stride(from: 0, to: width, by: 8) {
                // The block's shades centred on 0 (edges repeat the last row or column).
                var block = [Float](repeating: 0, count: 64)
                for y in 0..<8 {
                    for x in 0..<8 {
                        block[y * 8 + x] = Float(samples[min(height - 1, blockY + y) * width + min(width - 1, blockX + x)]) - 128
                    }
                }
                var coefficients = Self.transformed(block, cosines, inverse: false)
                for index in 0..<64 { coefficients[index] = (coefficients[index] / steps[index]).rounded() * steps[index] }
                let shades = Self.transformed(coefficients, cosines, inverse: true)
                for y in 0..<8 where blockY + y < height {
                    for x in 0..<8 where blockX + x < width {
                        let shade: Float = shades[y * 8 + x] + 128
                        samples[(blockY + y) * width + blockX + x] = UInt8(min(255, max(0, shade.rounded())))
                    }
                }
            }
        }
        return RasterImage(width: width, height: height, channels: 1, samples: samples)
    }

    /// The orthonormal 8×8 DCT of a block (or its inverse), rows then columns: `cosines[f · 8 + p]`
    /// is frequency f's basis at position p.
    private static func transformed(_ block: [Float], _ cosines: [Float], inverse: Bool) -> [Float] {
        func basis(_ frequency: Int, _ position: Int) -> Float { cosines[frequency * 8 + position] }
        var rows = [Float](repeating: 0, count: 64), out = rows
        for y in 0..<8 {
            for k in 0..<8 {
                var sum: Float = 0
                for j in 0..<8 { sum += block[y * 8 + j] * (inverse ? basis(j, k) : basis(k, j)) }
                rows[y * 8 + k] = sum
            }
        }
        for x in 0..<8 {
            for k in 0..<8 {
                var sum: Float = 0
                for j in 0..<8 { sum += rows[j * 8 + x] * (inverse ? basis(j, k) : basis(k, j)) }
                out[k * 8 + x] = sum
            }
        }
        return out
    }

    /// The JPEG standard's luminance quantisation table (Annex K), row by row.
    static let luminanceTable = [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ]
}
