#if canImport(Glibc)
import Glibc
#endif
import Formats

/// A gray picture as ink coverage, 0 paper to 1 full ink, row by row: what the variants
/// transform before they draw it as a picture.
public struct InkImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var ink: [Float]

    public init(width: Int, height: Int, ink: [Float]) {
        precondition(ink.count == width * height)
        self.width = width
        self.height = height
        self.ink = ink
    }

    /// An MNIST digit: 28×28 bytes, 255 = ink.
    public init(mnist pixels: ArraySlice<UInt8>) {
        let side = DigitNormalization.side
        precondition(pixels.count == side * side)
        self.init(width: side, height: side, ink: pixels.map { Float($0) / 255 })
    }

    subscript(x: Int, y: Int) -> Float {
        x >= 0 && x < width && y >= 0 && y < height ? ink[y * width + x] : 0
    }

    /// Bilinear reading between pixels; paper outside the frame.
    func sample(x: Float, y: Float) -> Float {
        let left = floorf(x), top = floorf(y)
        let column = Int(left), row = Int(top)
        let across = x - left, down = y - top
        let upper = self[column, row] + (self[column + 1, row] - self[column, row]) * across
        let lower = self[column, row + 1] + (self[column + 1, row + 1] - self[column, row + 1]) * across
        return upper + (lower - upper) * down
    }

    /// Each output pixel averages the part of this picture it covers (shrinking: a camera's
    /// sensor cell; enlarging: piecewise).
    public func averaged(toWidth newWidth: Int, height newHeight: Int) -> InkImage {
        InkImage(width: newWidth, height: newHeight,
                 ink: DigitNormalization.resample(ink, width: width, height: height, toWidth: newWidth, toHeight: newHeight))
    }

    /// Enlarged or shrunk by bilinear interpolation, as image viewers and scanners upscale.
    public func interpolated(toWidth newWidth: Int, height newHeight: Int) -> InkImage {
        let scaleX = Float(width) / Float(newWidth), scaleY = Float(height) / Float(newHeight)
        var out = [Float](repeating: 0, count: newWidth * newHeight)
        for y in 0..<newHeight {
            for x in 0..<newWidth {
                // Pixel centres line up: the edges of both pictures coincide.
                let sourceX = min(max((Float(x) + 0.5) * scaleX - 0.5, 0), Float(width - 1))
                let sourceY = min(max((Float(y) + 0.5) * scaleY - 0.5, 0), Float(height - 1))
                out[y * newWidth + x] = sample(x: sourceX, y: sourceY)
            }
        }
        return InkImage(width: newWidth, height: newHeight, ink: out)
    }

    /// Thicker strokes: each pixel takes the most ink within `radius` steps up, down, left or
    /// right (a diamond, the nearest a pixel grid has to a round pen).
    public func dilated(radius: Int) -> InkImage { morphed(radius: radius, keep: max) }

    /// Thinner strokes: each pixel keeps the least ink within `radius` such steps.
    public func eroded(radius: Int) -> InkImage { morphed(radius: radius, keep: min) }

    /// `radius` passes, each taking the extreme of a pixel and its four neighbours; the frame's
    /// outside counts as the pixel itself, so paper neither enters nor leaves there.
    private func morphed(radius: Int, keep: (Float, Float) -> Float) -> InkImage {
        var current = ink
        for _ in 0..<radius {
            var next = current
            for y in 0..<height {
                for x in 0..<width {
                    let at = y * width + x
                    var extreme = current[at]
                    if x > 0 { extreme = keep(extreme, current[at - 1]) }
                    if x < width - 1 { extreme = keep(extreme, current[at + 1]) }
                    if y > 0 { extreme = keep(extreme, current[at - width]) }
                    if y < height - 1 { extreme = keep(extreme, current[at + width]) }
                    next[at] = extreme
                }
            }
            current = next
        }
        return InkImage(width: width, height: height, ink: current)
    }

    /// Gaussian blur of standard deviation `sigma` pixels, rows then columns; paper outside.
    public func blurred(sigma: Float) -> InkImage {
        let reach = Int((3 * sigma).rounded(.up))
        let weights = (-reach...reach).map { expf(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = weights.reduce(0, +)
        func convolve(_ image: InkImage, length: Int, lines: Int, step: Int, lineStep: Int) -> InkImage {
            var out = image.ink
            for line in 0..<lines {
                for at in 0..<length {
                    var sum: Float = 0
                    for offset in -reach...reach where at + offset >= 0 && at + offset < length {
                        sum += weights[offset + reach] * image.ink[line * lineStep + (at + offset) * step]
                    }
                    out[line * lineStep + at * step] = sum / total
                }
            }
            return InkImage(width: image.width, height: image.height, ink: out)
        }
        let rows = convolve(self, length: width, lines: height, step: 1, lineStep: width)
        return convolve(rows, length: height, lines: width, step: width, lineStep: 1)
    }

    /// Output pixel (x, y) reads this picture at `source(x, y)`, bilinearly; paper outside.
    public func warped(_ source: (Float, Float) -> (x: Float, y: Float)) -> InkImage {
        var out = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let position = source(Float(x), Float(y))
                out[y * width + x] = sample(x: position.x, y: position.y)
            }
        }
        return InkImage(width: width, height: height, ink: out)
    }

    /// The smallest rectangle holding ink of at least `threshold`, or nil for a blank picture.
    func inkBounds(threshold: Float = 0.125) -> (left: Int, top: Int, right: Int, bottom: Int)? {
        DigitNormalization.inkBounds(ink, width: width, height: height, threshold: threshold)
    }

    /// Shifted by whole pixels; what leaves the frame is lost, paper comes in.
    func shifted(x dx: Int, y dy: Int) -> InkImage {
        var out = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width { out[y * width + x] = self[x - dx, y - dy] }
        }
        return InkImage(width: width, height: height, ink: out)
    }

    /// As a one-channel picture: ink of shade `inkShade` on paper of shade `paper` (0…255).
    public func picture(inkShade: Float = 0, paper: Float = 255) -> RasterImage {
        RasterImage(width: width, height: height, channels: 1, samples: ink.map { coverage in
            UInt8(min(255, max(0, (paper + (inkShade - paper) * min(1, max(0, coverage))).rounded())))
        })
    }
}
