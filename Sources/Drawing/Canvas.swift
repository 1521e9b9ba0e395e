import Formats

/// An 8-bit RGB colour.
public struct Color: Equatable, Sendable {
    public var red: UInt8, green: UInt8, blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    public static let white = Color(255, 255, 255)
    public static let black = Color(0, 0, 0)
    public static let grid = Color(225, 225, 225)
    public static let axis = Color(90, 90, 90)
    public static let blue = Color(31, 119, 180)
    public static let orange = Color(255, 127, 14)
    public static let green = Color(44, 160, 44)
    public static let red = Color(214, 39, 40)

    /// The colour `fraction` of the way from `self` to `other` (clamped to 0...1).
    public func mixed(with other: Color, _ fraction: Double) -> Color {
        let t = min(1, max(0, fraction.isFinite ? fraction : 0))
        func channel(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) + (Double(b) - Double(a)) * t).rounded()) }
        return Color(channel(red, other.red), channel(green, other.green), channel(blue, other.blue))
    }
}

/// Where a text's x coordinate is: its left edge, centre or right edge.
public enum TextAnchor: Sendable {
    case left, center, right
}

/// A picture in memory, drawn with rectangles, lines, text and gray images, written as PNG.
/// Anything outside the canvas is clipped.
public struct Canvas: Sendable {
    public let width: Int
    public let height: Int
    /// RGB, row-major.
    public private(set) var samples: [UInt8]

    public init(width: Int, height: Int, background: Color = .white) {
        precondition(width > 0 && height > 0, "a canvas needs a positive size")
        self.width = width
        self.height = height
        samples = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, background)
    }

    public mutating func set(_ x: Int, _ y: Int, _ color: Color) {
        guard x >= 0, x < width, y >= 0, y < height else { return }
        let at = (y * width + x) * 3
        samples[at] = color.red
        samples[at + 1] = color.green
        samples[at + 2] = color.blue
    }

    public func color(_ x: Int, _ y: Int) -> Color {
        let at = (y * width + x) * 3
        return Color(samples[at], samples[at + 1], samples[at + 2])
    }

    public mutating func fill(x: Int, y: Int, width: Int, height: Int, _ color: Color) {
        for row in max(0, y)..<max(max(0, y), min(self.height, y + height)) {
            for column in max(0, x)..<max(max(0, x), min(self.width, x + width)) { set(column, row, color) }
        }
    }

    /// A straight line `thickness` pixels wide, between two points.
    public mutating func line(from start: (x: Double, y: Double), to end: (x: Double, y: Double), _ color: Color, thickness: Int = 1) {
        let steps = max(1, Int(max(abs(end.x - start.x), abs(end.y - start.y)).rounded(.up)))
        let offset = thickness / 2
        for step in 0...steps {
            let t = Double(step) / Double(steps)
            let x = Int((start.x + (end.x - start.x) * t).rounded()), y = Int((start.y + (end.y - start.y) * t).rounded())
            fill(x: x - offset, y: y - offset, width: thickness, height: thickness, color)
        }
    }

    /// Text in the bitmap font, each font pixel `scale`×`scale`; `y` is the top of the letters.
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int = 2, _ color: Color = .black, anchor: TextAnchor = .left) {
        let width = Self.textWidth(text, scale: scale)
        var left = anchor == .left ? x : anchor == .center ? x - width / 2 : x - width
        for character in text {
            for row in 0..<BitmapFont.glyphHeight {
                for column in 0..<BitmapFont.glyphWidth where BitmapFont.ink(character, x: column, y: row) {
                    fill(x: left + column * scale, y: y + row * scale, width: scale, height: scale, color)
                }
            }
            left += BitmapFont.advance * scale
        }
    }

    public static func textWidth(_ text: String, scale: Int = 2) -> Int { BitmapFont.width(of: text, scale: scale) }
    public static func textHeight(scale: Int = 2) -> Int { BitmapFont.glyphHeight * scale }

    /// A gray picture (`pixels` row-major, 0...1 from `paper` to `ink`), each pixel `scale`×`scale`.
    public mutating func image(_ pixels: [Double], width: Int, height: Int, x: Int, y: Int, scale: Int,
                               ink: Color = .black, paper: Color = .white) {
        precondition(pixels.count == width * height, "image: \(pixels.count) pixels for \(width)×\(height)")
        for row in 0..<height {
            for column in 0..<width {
                fill(x: x + column * scale, y: y + row * scale, width: scale, height: scale,
                     paper.mixed(with: ink, pixels[row * width + column]))
            }
        }
    }

    public var raster: RasterImage { RasterImage(width: width, height: height, channels: 3, samples: samples) }

    public func encodedPNG() throws -> [UInt8] { try encodePNG(raster) }
}
