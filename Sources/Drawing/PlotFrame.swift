#if canImport(Glibc)
import Glibc
#endif

/// A rectangle of a canvas with data ranges on both axes: maps values to pixels and draws
/// the grid, ticks and labels around itself.
public struct PlotFrame: Sendable {
    public let left: Int, top: Int, width: Int, height: Int
    public let xRange: ClosedRange<Double>
    public let yRange: ClosedRange<Double>

    public init(left: Int, top: Int, width: Int, height: Int, x xRange: ClosedRange<Double>, y yRange: ClosedRange<Double>) {
        self.left = left
        self.top = top
        self.width = width
        self.height = height
        // A range of one value would divide by zero: widen it.
        self.xRange = xRange.lowerBound < xRange.upperBound ? xRange : xRange.lowerBound - 0.5...xRange.upperBound + 0.5
        self.yRange = yRange.lowerBound < yRange.upperBound ? yRange : yRange.lowerBound - 0.5...yRange.upperBound + 0.5
    }

    public func x(_ value: Double) -> Double {
        Double(left) + (value - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * Double(width)
    }

    public func y(_ value: Double) -> Double {
        Double(top + height) - (value - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * Double(height)
    }

    /// Grid lines at the ticks, the frame, tick labels, and the axis names (x below, y above).
    public func drawAxes(on canvas: inout Canvas, xTicks: [Double], yTicks: [Double], xLabel: String, yLabel: String,
                         xFormat: (Double) -> String, yFormat: (Double) -> String) {
        for tick in xTicks {
            canvas.line(from: (x(tick), Double(top)), to: (x(tick), Double(top + height)), .grid)
            canvas.text(xFormat(tick), x: Int(x(tick).rounded()), y: top + height + 10, .axis, anchor: .center)
        }
        for tick in yTicks {
            canvas.line(from: (Double(left), y(tick)), to: (Double(left + width), y(tick)), .grid)
            canvas.text(yFormat(tick), x: left - 6, y: Int(y(tick).rounded()) - Canvas.textHeight() / 2, .axis, anchor: .right)
        }
        let right = Double(left + width), bottom = Double(top + height)
        for (start, end) in [((Double(left), Double(top)), (right, Double(top))), ((right, Double(top)), (right, bottom)),
                             ((right, bottom), (Double(left), bottom)), ((Double(left), bottom), (Double(left), Double(top)))] {
            canvas.line(from: start, to: end, .axis)
        }
        canvas.text(xLabel, x: left + width / 2, y: top + height + 18 + Canvas.textHeight(), .black, anchor: .center)
        canvas.text(yLabel, x: left, y: top - 8 - Canvas.textHeight(), .black)
    }
}

/// Evenly spaced tick values from `start` to `end` inclusive.
public func ticks(_ start: Double, _ end: Double, count: Int) -> [Double] {
    (0...count).map { start + (end - start) * Double($0) / Double(count) }
}

/// Round tick values (steps of 1, 2 or 5 times a power of ten, about `count` of them) covering
/// `low...high`; the first and last tick bound the axis.
public func roundTicks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
    guard high > low, low.isFinite, high.isFinite else { return [low - 0.5, low + 0.5] }
    let rough = (high - low) / Double(count)
    let magnitude = pow(10, floor(log10(rough)))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough }!
    let first = floor(low / step), last = ceil(high / step)
    return stride(from: first, through: last, by: 1).map { $0 * step }
}
