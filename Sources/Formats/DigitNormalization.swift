/// Turns a picture of a digit into what MNIST's networks expect: 28×28, light ink on a black
/// background, the ink scaled so its longer side is 20 px and centred by its centre of mass.
public enum DigitNormalization {
    public static let side = 28
    static let box = 20
    /// Ink fainter than this (of 255, after background removal) counts as paper.
    public static let inkThreshold: Float = 32

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
        // A photograph larger than `analysedSide` is shrunk first: the digit ends 20 px tall, and
        // the steps below then cost the same for a 16-megapixel photograph as for a scan.
        var width = image.width, height = image.height
        if max(width, height) > analysedSide {
            let shrunk = (max(1, width * analysedSide / max(width, height)), max(1, height * analysedSide / max(width, height)))
            gray = resample(gray, width: width, height: height, toWidth: shrunk.0, toHeight: shrunk.1)
            (width, height) = shrunk
        }
        // Ink is what stands out from the paper around it: an unevenly lit sheet is darker on one
        // side, which a single paper shade would take for ink.
        let paper = paperShades(gray, width: width, height: height)
        var strongest: Float = 0
        for i in gray.indices {
            gray[i] = max(0, gray[i] - paper[i])
            strongest = max(strongest, gray[i])
        }
        let blank = Digit(pixels: [UInt8](repeating: 0, count: side * side), hasInk: false)
        guard strongest >= inkThreshold else { return blank }
        let gain = 255 / strongest
        for i in gray.indices { gray[i] *= gain }
        removePaperResidue(&gray, width: width, height: height)
        removeRuledLines(&gray, width: width, height: height)
        removeFalseInk(&gray, width: width, height: height)
        // A page of ruled lines and nothing else has no ink left.
        guard let (x0, y0, x1, y1) = inkBounds(gray, width: width, height: height) else { return blank }
        let cropWidth = x1 - x0 + 1, cropHeight = y1 - y0 + 1
        var crop = [Float](repeating: 0, count: cropWidth * cropHeight)
        for y in 0..<cropHeight {
            for x in 0..<cropWidth { crop[y * cropWidth + x] = gray[(y0 + y) * width + x0 + x] }
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

    /// Clears ruled lines: a thin band of rows (or columns) inked across at least three quarters
    /// of the page is a line, not a stroke. Where a stroke crosses it — ink just beyond the band of line
    /// rows on either side — the line's pixels stay, so the stroke is not cut.
    static func removeRuledLines(_ gray: inout [Float], width: Int, height: Int) {
        func clearLines(count: Int, length: Int, at: (_ line: Int, _ position: Int) -> Int) {
            let isLine = (0..<count).map { line in
                var inked = 0
                for position in 0..<length where gray[at(line, position)] >= inkThreshold { inked += 1 }
                return inked * 4 >= length * 3
            }
            var line = 0
            while line < count {
                guard isLine[line] else { line += 1; continue }
                var end = line
                while end + 1 < count && isLine[end + 1] { end += 1 }
                // A band thicker than a fortieth of the page is a stroke (a 7's bar), not a line.
                guard end - line + 1 <= max(2, count / 40) else { line = end + 1; continue }
                for position in 0..<length {
                    let before = line > 0 && gray[at(line - 1, position)] >= inkThreshold
                    let after = end + 1 < count && gray[at(end + 1, position)] >= inkThreshold
                    if !(before || after) { for band in line...end { gray[at(band, position)] = 0 } }
                }
                line = end + 1
            }
        }
        clearLines(count: height, length: width) { row, x in row * width + x }
        clearLines(count: width, length: height) { column, y in y * width + column }
    }

    /// Lowers every pixel by the level paper texture and uneven light left after the paper's
    /// shade was taken away (ink light on dark, the strongest at 255), stretching what is above
    /// it back to full range. That level is the mean plus two standard deviations of the pixels
    /// away from the ink — farther than a sixteenth of the picture from any pixel above Otsu's
    /// threshold, so a blurred stroke's own fringe does not count: 0 for a clean or blurred scan,
    /// tens of shades for a photographed page, whose faint blotches would otherwise join the
    /// digit's ink and widen its crop.
    static func removePaperResidue(_ gray: inout [Float], width: Int, height: Int) {
        let threshold = Float(otsuThreshold(gray))
        let nearInk = dilated(gray.map { $0 > threshold }, width: width, height: height, radius: max(2, max(width, height) / 16))
        var count = 0.0, sum = 0.0, squares = 0.0
        for i in gray.indices where !nearInk[i] {
            count += 1
            sum += Double(gray[i])
            squares += Double(gray[i] * gray[i])
        }
        guard count > 0 else { return }
        let mean = sum / count, deviation = max(0, squares / count - mean * mean).squareRoot()
        let floor = min(Float(mean + 2 * deviation), threshold)
        guard floor > 0 else { return }
        let stretch = 255 / (255 - floor)
        for i in gray.indices { gray[i] = max(0, gray[i] - floor) * stretch }
    }

    /// Otsu's threshold of shades 0…255: the level that best splits them into two classes.
    static func otsuThreshold(_ gray: [Float]) -> Int {
        var histogram = [Double](repeating: 0, count: 256)
        for value in gray { histogram[Int(min(255, max(0, value)))] += 1 }
        let total = Double(gray.count)
        let weightedTotal = histogram.indices.reduce(0.0) { $0 + Double($1) * histogram[$1] }
        var below = 0.0, belowWeighted = 0.0, best = -1.0, threshold = 0
        for level in 0..<255 {
            below += histogram[level]
            belowWeighted += Double(level) * histogram[level]
            guard below > 0, below < total else { continue }
            let difference = belowWeighted / below - (weightedTotal - belowWeighted) / (total - below)
            let between = below * (total - below) * difference * difference
            if between > best { (best, threshold) = (between, level) }
        }
        return threshold
    }

    /// Whether any pixel within `radius` along the row, then the column, is set: a square
    /// dilation in two passes of running counts, whatever the radius.
    static func dilated(_ mask: [Bool], width: Int, height: Int, radius: Int) -> [Bool] {
        func pass(_ mask: [Bool], length: Int, lines: Int, at: (_ line: Int, _ position: Int) -> Int) -> [Bool] {
            var out = mask, counts = [Int](repeating: 0, count: length + 1)
            for line in 0..<lines {
                for position in 0..<length { counts[position + 1] = counts[position] + (mask[at(line, position)] ? 1 : 0) }
                for position in 0..<length {
                    out[at(line, position)] = counts[min(length, position + radius + 1)] > counts[max(0, position - radius)]
                }
            }
            return out
        }
        let rows = pass(mask, length: width, lines: height) { $0 * width + $1 }
        return pass(rows, length: height, lines: width) { $1 * width + $0 }
    }

    /// Clears what only seems ink. Each group of touching pixels (8 neighbours) at the ink
    /// threshold or above stays if its strongest pixel reaches half of full ink — paper that
    /// light or texture left a little brighter does not — and if it holds more than a fiftieth
    /// of the largest group's ink (a speck does not).
    static func removeFalseInk(_ gray: inout [Float], width: Int, height: Int) {
        var group = [Int32](repeating: -1, count: gray.count)
        var groups: [(peak: Float, mass: Float)] = []
        var stack: [Int] = []
        for start in gray.indices where gray[start] >= inkThreshold && group[start] < 0 {
            let label = Int32(groups.count)
            var peak: Float = 0, mass: Float = 0
            group[start] = label
            stack.append(start)
            while let at = stack.popLast() {
                peak = max(peak, gray[at])
                mass += gray[at]
                let (y, x) = at.quotientAndRemainder(dividingBy: width)
                for ny in max(0, y - 1)...min(height - 1, y + 1) {
                    for nx in max(0, x - 1)...min(width - 1, x + 1) {
                        let next = ny * width + nx
                        if gray[next] >= inkThreshold && group[next] < 0 {
                            group[next] = label
                            stack.append(next)
                        }
                    }
                }
            }
            groups.append((peak, mass))
        }
        let largest = groups.map(\.mass).max() ?? 0
        let kept = groups.map { $0.peak >= 127.5 && $0.mass > largest / 50 }
        for i in gray.indices where group[i] >= 0 && !kept[Int(group[i])] { gray[i] = 0 }
    }

    /// The paper's shade under every pixel (ink light on dark paper, as `lightInkOnDark` gives):
    /// on a copy at most `paperSample` pixels across, a grayscale opening — the darkest pixel
    /// within a window a sixth of the picture wide, then the lightest such value — removes the
    /// strokes, which are narrower than that, and keeps the paper, however its light falls; a
    /// blur smooths the window's steps, and the copy is enlarged back.
    static func paperShades(_ gray: [Float], width: Int, height: Int) -> [Float] {
        let reduction = max(1, (max(width, height) + paperSample - 1) / paperSample)
        let smallWidth = max(1, width / reduction), smallHeight = max(1, height / reduction)
        var small = resample(gray, width: width, height: height, toWidth: smallWidth, toHeight: smallHeight)
        let radius = max(1, (max(smallWidth, smallHeight) + 5) / 6)
        for keep in [min, max] as [(Float, Float) -> Float] {
            small = filtered(small, width: smallWidth, height: smallHeight, radius: radius) { read, span in
                span.reduce(read(span.lowerBound)) { keep($0, read($1)) }
            }
        }
        small = filtered(small, width: smallWidth, height: smallHeight, radius: radius) { read, span in
            span.reduce(0) { $0 + read($1) } / Float(span.count)
        }
        return resample(small, width: smallWidth, height: smallHeight, toWidth: width, toHeight: height)
    }

    /// The longest side a picture is analysed at (larger ones are shrunk to it first).
    static let analysedSide = 1024

    /// The size the paper's shade is estimated at: enough for light that changes across a page.
    static let paperSample = 32

    /// Each pixel becomes `combine` of the pixels within `radius` along its row (`read` gives
    /// them by position), then the same down its column: a square window in two passes.
    static func filtered(_ values: [Float], width: Int, height: Int, radius: Int,
                         _ combine: (_ read: (Int) -> Float, _ span: ClosedRange<Int>) -> Float) -> [Float] {
        var rows = values
        for y in 0..<height {
            for x in 0..<width {
                rows[y * width + x] = combine({ values[y * width + $0] }, max(0, x - radius)...min(width - 1, x + radius))
            }
        }
        var out = rows
        for y in 0..<height {
            for x in 0..<width {
                out[y * width + x] = combine({ rows[$0 * width + x] }, max(0, y - radius)...min(height - 1, y + radius))
            }
        }
        return out
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

    /// The smallest rectangle holding every pixel at `threshold` or above (by default the ink
    /// threshold of 0…255 shades); nil if none is.
    public static func inkBounds(_ gray: [Float], width: Int, height: Int,
                                 threshold: Float = inkThreshold) -> (left: Int, top: Int, right: Int, bottom: Int)? {
        var x0 = width, y0 = height, x1 = -1, y1 = -1
        for y in 0..<height {
            for x in 0..<width where gray[y * width + x] >= threshold {
                x0 = min(x0, x); x1 = max(x1, x)
                y0 = min(y0, y); y1 = max(y1, y)
            }
        }
        return x1 < 0 ? nil : (x0, y0, x1, y1)
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
