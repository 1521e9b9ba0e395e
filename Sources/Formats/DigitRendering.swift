/// Draws an MNIST digit as a picture a person might drop in the inbox: any size, any ink and
/// paper colours, opaque or on a transparent background. The inverse of `DigitNormalization`,
/// used to make the samples and the tests' inputs.
public struct DigitStyle: Sendable {
    /// RGB of the ink and of the paper.
    public var ink: (UInt8, UInt8, UInt8)
    public var paper: (UInt8, UInt8, UInt8)
    /// Size of the picture; the 28×28 digit is scaled to fill it.
    public var width: Int
    public var height: Int
    /// 1 gray, 2 gray + alpha (paper transparent), 3 RGB, 4 RGBA (paper transparent).
    public var channels: Int

    public init(ink: (UInt8, UInt8, UInt8), paper: (UInt8, UInt8, UInt8), width: Int, height: Int, channels: Int) {
        self.ink = ink
        self.paper = paper
        self.width = width
        self.height = height
        self.channels = channels
    }

    /// `pixels`: 28×28 bytes, 255 = ink.
    public func render(_ pixels: [UInt8]) -> RasterImage {
        let side = DigitNormalization.side
        let coverage = DigitNormalization.resample(pixels.map { Float($0) / 255 }, width: side, height: side,
                                                   toWidth: width, toHeight: height)
        let transparent = channels == 2 || channels == 4
        var samples: [UInt8] = []
        samples.reserveCapacity(width * height * channels)
        func mix(_ ink: UInt8, _ paper: UInt8, _ amount: Float) -> UInt8 {
            // With a transparent background the colour is the ink's; alpha carries the shape.
            UInt8((transparent ? Float(ink) : Float(paper) + (Float(ink) - Float(paper)) * amount).rounded())
        }
        for amount in coverage {
            let r = mix(ink.0, paper.0, amount), g = mix(ink.1, paper.1, amount), b = mix(ink.2, paper.2, amount)
            let alpha = UInt8((amount * 255).rounded())
            let luma: Float = 0.299 * Float(r) + 0.587 * Float(g) + 0.114 * Float(b)
            let gray = UInt8(luma.rounded())
            switch channels {
            case 1: samples.append(gray)
            case 2: samples += [gray, alpha]
            case 3: samples += [r, g, b]
            default: samples += [r, g, b, alpha]
            }
        }
        return RasterImage(width: width, height: height, channels: channels, samples: samples)
    }
}
