/// Turns a picture of a digit into what MNIST's networks expect: 28×28, light ink on a black
/// background, the ink scaled so its longer side is 20 px and centred by its centre of mass.
public enum DigitNormalization {
    public static let side = 28
    static let box = 20
    /// Ink fainter than this (of 255, after background removal) counts as paper.
    static let inkThreshold: Float = 32

    /// A normalised digit: `side`×`side` bytes, 255 = ink; `hasInk` is false for a blank or
    /// uniform picture, whose pixels are then all zero.
    public struct Digit: Equatable, Sendable {
        public let pixels: [UInt8]
        public let hasInk: Bool
    }

    /// 28×28 pictures are taken as MNIST-format already: only colour, transparency and
    /// polarity are converted, so an MNIST digit saved as PNG gives back exactly its bytes.
    /// Any other size is cropped to its ink, scaled and centred.
    public static func normalize(_ image: RasterImage) -> Digit {
        var gray = lightInkOnDark(image)
        if image.width == side && image.height == side {
            let pixels = gray.map { UInt8(min(255, max(0, $0.rounded()))) }
            return Digit(pixels: pixels, hasInk: hasInk(pixels[...]))
        }
        let background = borderMean(gray, width: image.width, height: image.height)
        let strongest = gray.max() ?? 0
        guard strongest - background >= inkThreshold else {
            return Digit(pixels: [UInt8](repeating: 0, count: side * side), hasInk: false)
        }
        let gain = 255 / (strongest - background)
        for i in gray.indices { gray[i] = max(0, gray[i] - background) * gain }
        let (x0, y0, x1, y1) = inkBounds(gray, width: image.width, height: image.height)
        let cropWidth = x1 - x0 + 1, cropHeight = y1 - y0 + 1
        var crop = [Float](repeating: 0, count: cropWidth * cropHeight)
        for y in 0..<cropHeight {
            for x in 0..<cropWidth { crop[y * cropWidth + x] = gray[(y0 + y) * image.width + x0 + x] }
        }
        let longer = Float(max(cropWidth, cropHeight))
        let scaledWidth = max(1, Int((Float(cropWidth) * Float(box) / longer).rounded()))
        let scaledHeight = max(1, Int((Float(cropHeight) * Float(box) / longer).rounded()))
        let scaled = resample(crop, width: cropWidth, height: cropHeight, toWidth: scaledWidth, toHeight: scaledHeight)
        return Digit(pixels: centred(scaled, width: scaledWidth, height: scaledHeight), hasInk: true)
    }

    /// Whether a 28×28 digit (or any gray picture) holds ink: its darkest and lightest pixels
    /// differ by at least the ink threshold. A blank or uniform picture does not.
    public static func hasInk(_ pixels: ArraySlice<UInt8>) -> Bool {
        guard let low = pixels.min(), let high = pixels.max() else { return false }
        return Float(high) - Float(low) >= inkThreshold
    }

    /// Gray levels 0...255 with transparency composited on the paper and dark ink inverted.
    static func lightInkOnDark(_ image: RasterImage) -> [Float] {
        let count = image.width * image.height
        var gray = [Float](repeating: 0, count: count)
        var alpha = [Float](repeating: 1, count: count)
        let hasAlpha = image.channels == 2 || image.channels == 4
        let colourChannels = hasAlpha ? image.channels - 1 : image.channels
        image.samples.withUnsafeBufferPointer { samples in
            for i in 0..<count {
                let pixel = i * image.channels
                if colourChannels == 1 {
                    gray[i] = Float(samples[pixel])
                } else {
                    // Rec. 601 luma, the weights libpng uses for its own gray conversion.
                    gray[i] = 0.299 * Float(samples[pixel]) + 0.587 * Float(samples[pixel + 1]) + 0.114 * Float(samples[pixel + 2])
                }
                if hasAlpha { alpha[i] = Float(samples[pixel + colourChannels]) / 255 }
            }
        }
        if hasAlpha && alpha.contains(where: { $0 < 1 }) {
            // What is drawn is the ink; the transparent part is paper of the opposite shade.
            var weighted: Float = 0, weight: Float = 0
            for i in 0..<count {
                weighted += alpha[i] * gray[i]
                weight += alpha[i]
            }
            let paper: Float = weight > 0 && weighted / weight < 128 ? 255 : 0
            for i in 0..<count { gray[i] = alpha[i] * gray[i] + (1 - alpha[i]) * paper }
        }
        if borderMean(gray, width: image.width, height: image.height) > 127.5 {
            for i in 0..<count { gray[i] = 255 - gray[i] }
        }
        return gray
    }

    /// The mean of the outermost rows and columns: the paper's shade.
    static func borderMean(_ gray: [Float], width: Int, height: Int) -> Float {
        var sum: Float = 0
        var count = 0
        for y in 0..<height {
            for x in 0..<width where y == 0 || y == height - 1 || x == 0 || x == width - 1 {
                sum += gray[y * width + x]
                count += 1
            }
        }
        return count == 0 ? 0 : sum / Float(count)
    }

    /// The smallest rectangle holding every pixel brighter than the ink threshold.
    static func inkBounds(_ gray: [Float], width: Int, height: Int) -> (Int, Int, Int, Int) {
        var x0 = width, y0 = height, x1 = -1, y1 = -1
        for y in 0..<height {
            for x in 0..<width where gray[y * width + x] >= inkThreshold {
                x0 = min(x0, x); x1 = max(x1, x)
                y0 = min(y0, y); y1 = max(y1, y)
            }
        }
        return (x0, y0, x1, y1)
    }

    /// Area-weighted resampling: each output pixel averages the part of the input it covers,
    /// which anti-aliases when shrinking and interpolates piecewise when enlarging.
    public static func resample(_ pixels: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [Float] {
        let columns = coverage(from: width, to: toWidth)
        let rows = coverage(from: height, to: toHeight)
        var out = [Float](repeating: 0, count: toWidth * toHeight)
        for (outY, rowWeights) in rows.enumerated() {
            for (outX, columnWeights) in columns.enumerated() {
                var sum: Float = 0, total: Float = 0
                for (y, wy) in rowWeights {
                    for (x, wx) in columnWeights {
                        sum += pixels[y * width + x] * wy * wx
                        total += wy * wx
                    }
                }
                out[outY * toWidth + outX] = sum / total
            }
        }
        return out
    }

    /// For each output cell along one axis, the input cells it overlaps and by how much.
    static func coverage(from inputCount: Int, to outputCount: Int) -> [[(Int, Float)]] {
        let scale = Float(inputCount) / Float(outputCount)
        return (0..<outputCount).map { out in
            let start = Float(out) * scale, end = Float(out + 1) * scale
            var weights: [(Int, Float)] = []
            var cell = Int(start)
            while cell < inputCount && Float(cell) < end {
                let overlap = min(end, Float(cell + 1)) - max(start, Float(cell))
                if overlap > 1e-6 { weights.append((cell, overlap)) }
                cell += 1
            }
            return weights
        }
    }

    /// Places the scaled ink in a 28×28 field with its centre of mass at the field's centre.
    static func centred(_ ink: [Float], width: Int, height: Int) -> [UInt8] {
        var mass: Float = 0, sumX: Float = 0, sumY: Float = 0
        for y in 0..<height {
            for x in 0..<width {
                let value = ink[y * width + x]
                mass += value
                sumX += value * Float(x)
                sumY += value * Float(y)
            }
        }
        let centre = Float(side - 1) / 2
        let offsetX = Int((centre - sumX / mass).rounded())
        let offsetY = Int((centre - sumY / mass).rounded())
        var out = [UInt8](repeating: 0, count: side * side)
        for y in 0..<height {
            for x in 0..<width {
                let targetX = x + offsetX, targetY = y + offsetY
                guard (0..<side).contains(targetX), (0..<side).contains(targetY) else { continue }
                out[targetY * side + targetX] = UInt8(min(255, max(0, ink[y * width + x].rounded())))
            }
        }
        return out
    }
}
