#if canImport(Glibc)
import Glibc
#endif
import Formats

/// The pictures `mnistctl eval --report` writes, each from plain numbers.
public enum Charts {
    /// One panel of a reliability diagram: per equal-width confidence bin, how many
    /// predictions fell in it, their mean confidence and their accuracy.
    public struct ReliabilityPanel: Sendable {
        public var title: String
        public var bins: [(count: Int, meanConfidence: Double, accuracy: Double)]

        public init(title: String, bins: [(count: Int, meanConfidence: Double, accuracy: Double)]) {
            self.title = title
            self.bins = bins
        }
    }

    /// Side by side panels: bars of accuracy per confidence bin against the diagonal of
    /// perfect calibration, the mean confidence of each bin marked in red, and below each
    /// panel how many predictions each bin holds (log scale).
    public static func reliabilityDiagram(_ panels: [ReliabilityPanel], title: String) -> Canvas {
        let side = 360, histogram = 70, margin = 80, gap = 110
        let top = 110, legend = "bars: accuracy  red: mean confidence  diagonal: perfect calibration"
        let width = max(fitting(title, margin + panels.count * (side + gap) - gap + 40), Canvas.textWidth(legend) + 40)
        var canvas = Canvas(width: width, height: top + side + histogram + 130)
        canvas.text(title, x: canvas.width / 2, y: 16, scale: 3, anchor: .center)
        for (index, panel) in panels.enumerated() {
            let left = margin + index * (side + gap)
            let frame = PlotFrame(left: left, top: top, width: side, height: side, x: 0...1, y: 0...1)
            canvas.text(panel.title, x: left + side / 2, y: 56, anchor: .center)
            let binWidth = 1 / Double(panel.bins.count)
            let counts = PlotFrame(left: left, top: top + side + 70, width: side, height: histogram, x: 0...1,
                                   y: 0...log10(Double(max(10, panel.bins.map(\.count).max() ?? 10))))
            for (k, bin) in panel.bins.enumerated() where bin.count > 0 {
                let x0 = Int(frame.x(Double(k) * binWidth).rounded()) + 1, x1 = Int(frame.x(Double(k + 1) * binWidth).rounded()) - 1
                let top = Int(frame.y(bin.accuracy).rounded())
                canvas.fill(x: x0, y: top, width: x1 - x0, height: frame.top + side - top, .blue)
                let expected = Int(frame.y(bin.meanConfidence).rounded())
                canvas.fill(x: x0, y: expected - 1, width: x1 - x0, height: 3, .red)
                let countTop = Int(counts.y(log10(Double(bin.count) + 1)).rounded())
                canvas.fill(x: x0, y: countTop, width: x1 - x0, height: counts.top + histogram - countTop, .axis)
            }
            canvas.line(from: (frame.x(0), frame.y(0)), to: (frame.x(1), frame.y(1)), .black)
            frame.drawAxes(on: &canvas, xTicks: ticks(0, 1, count: 5), yTicks: ticks(0, 1, count: 5),
                           xLabel: "confidence", yLabel: "accuracy", xFormat: { fixed($0, 1) }, yFormat: { fixed($0, 1) })
            canvas.text("predictions per bin (log scale)", x: left + side / 2, y: counts.top + histogram + 8, .axis, anchor: .center)
        }
        canvas.text(legend, x: canvas.width / 2, y: canvas.height - 24, .axis, anchor: .center)
        return canvas
    }

    /// The confusion matrix as a heat map with counts: rows true labels, columns predictions;
    /// the diagonal shaded blue by each row's share, mistakes red on a log scale.
    public static func confusionMatrix(_ counts: [[Int]], title: String) -> Canvas {
        let classes = counts.count, cell = 52, left = 90, top = 100
        var canvas = Canvas(width: fitting(title, left + classes * cell + 40), height: top + classes * cell + 70)
        canvas.text(title, x: canvas.width / 2, y: 16, scale: 3, anchor: .center)
        let largestMistake = counts.enumerated().flatMap { row in row.element.enumerated().filter { $0.offset != row.offset }.map(\.element) }.max() ?? 0
        for (truth, row) in counts.enumerated() {
            let rowTotal = max(1, row.reduce(0, +))
            for (predicted, count) in row.enumerated() {
                let shade = truth == predicted
                    ? Color.white.mixed(with: .blue, Double(count) / Double(rowTotal))
                    : Color.white.mixed(with: .red, count == 0 ? 0 : log(Double(count) + 1) / log(Double(largestMistake) + 1))
                let x = left + predicted * cell, y = top + truth * cell
                canvas.fill(x: x, y: y, width: cell - 2, height: cell - 2, shade)
                let dark = truth == predicted && Double(count) / Double(rowTotal) > 0.5
                canvas.text(String(count), x: x + cell / 2 - 1, y: y + cell / 2 - 8,
                            scale: Canvas.textWidth(String(count)) <= cell - 4 ? 2 : 1, dark ? .white : .black, anchor: .center)
            }
            canvas.text(String(truth), x: left - 12, y: top + truth * cell + cell / 2 - 8, anchor: .right)
        }
        for predicted in 0..<classes {
            canvas.text(String(predicted), x: left + predicted * cell + cell / 2 - 1, y: top - 22, anchor: .center)
        }
        canvas.text("predicted", x: left + classes * cell / 2, y: top - 44, anchor: .center)
        canvas.text("rows: true label", x: left + classes * cell / 2, y: top + classes * cell + 16, .axis, anchor: .center)
        return canvas
    }

    /// One captioned picture of a grid.
    public struct Tile: Sendable {
        public var pixels: [UInt8]
        public var caption: String

        public init(pixels: [UInt8], caption: String) {
            self.pixels = pixels
            self.caption = caption
        }
    }

    /// Digits (side×side bytes, 255 = ink) drawn black on white, each with its caption.
    public static func digitGrid(_ tiles: [Tile], side: Int, columns: Int, title: String) -> Canvas {
        let scale = 4, tileWidth = max(side * scale, 132), tileHeight = side * scale + 34
        let rows = max(1, (tiles.count + columns - 1) / columns)
        var canvas = Canvas(width: fitting(title, 40 + columns * tileWidth + (columns - 1) * 12), height: 70 + rows * (tileHeight + 12))
        canvas.text(title, x: canvas.width / 2, y: 16, scale: 3, anchor: .center)
        for (index, tile) in tiles.enumerated() {
            let x = 20 + index % columns * (tileWidth + 12), y = 60 + index / columns * (tileHeight + 12)
            canvas.image(tile.pixels.map { Double($0) / 255 }, width: side, height: side,
                         x: x + (tileWidth - side * scale) / 2, y: y, scale: scale)
            canvas.text(tile.caption, x: x + tileWidth / 2, y: y + side * scale + 10, .black, anchor: .center)
        }
        return canvas
    }

    /// Small images of signed weights side by side (each `side`×`side`, row-major), each scaled
    /// to its own largest magnitude: red positive, blue negative, white zero.
    public static func filterGrid(_ filters: [[Float]], side: Int, columns: Int, title: String) -> Canvas {
        let scale = max(2, 96 / side), tile = side * scale
        let rows = max(1, (filters.count + columns - 1) / columns)
        var canvas = Canvas(width: fitting(title, 40 + columns * (tile + 8)), height: 100 + rows * (tile + 8))
        canvas.text(title, x: canvas.width / 2, y: 16, scale: 3, anchor: .center)
        canvas.text("red: positive weight  blue: negative", x: canvas.width / 2, y: 52, .axis, anchor: .center)
        for (index, filter) in filters.enumerated() {
            let largest = Double(filter.map(abs).max() ?? 0)
            let x = 20 + index % columns * (tile + 8), y = 80 + index / columns * (tile + 8)
            for row in 0..<side {
                for column in 0..<side {
                    let value = largest > 0 ? Double(filter[row * side + column]) / largest : 0
                    canvas.fill(x: x + column * scale, y: y + row * scale, width: scale, height: scale,
                                Color.white.mixed(with: value >= 0 ? .red : .blue, abs(value)))
                }
            }
        }
        return canvas
    }

    /// A named line of values, one per x step (NaN: no value there).
    public struct Series: Sendable {
        public var name: String
        public var values: [Double]
        public var color: Color

        public init(name: String, values: [Double], color: Color) {
            self.name = name
            self.values = values
            self.color = color
        }
    }

    /// Panels of line charts over x = 1, 2, … (epochs), side by side, each with its legend.
    public static func lineCharts(_ panels: [(title: String, series: [Series])], xLabel: String, title: String) -> Canvas {
        let width = 440, height = 300, margin = 90, gap = 110
        let legendRows = panels.map(\.series.count).max() ?? 0
        var canvas = Canvas(width: fitting(title, margin + panels.count * (width + gap) - gap + 40), height: 110 + height + 70 + legendRows * 20)
        canvas.text(title, x: canvas.width / 2, y: 16, scale: 3, anchor: .center)
        for (index, panel) in panels.enumerated() {
            let values = panel.series.flatMap(\.values).filter(\.isFinite)
            let steps = panel.series.map(\.values.count).max() ?? 1
            let yTicks = roundTicks(values.min() ?? 0, values.max() ?? 1)
            let frame = PlotFrame(left: margin + index * (width + gap), top: 90, width: width, height: height,
                                  x: 1...Double(max(1, steps)), y: yTicks.first!...yTicks.last!)
            // Whole epochs only, at most about seven of them.
            let step = max(1, (steps - 1 + 5) / 6)
            let xTicks = stride(from: 1, through: max(1, steps), by: step).map(Double.init)
            let decimals = max(0, -Int(floor(log10(yTicks[1] - yTicks[0]))))
            frame.drawAxes(on: &canvas, xTicks: xTicks, yTicks: yTicks, xLabel: xLabel, yLabel: panel.title,
                           xFormat: { fixed($0, 0) }, yFormat: { fixed($0, decimals) })
            for (number, series) in panel.series.enumerated() {
                var previous: (Double, Double)?
                for (step, value) in series.values.enumerated() {
                    guard value.isFinite else { previous = nil; continue }
                    let point = (frame.x(Double(step + 1)), frame.y(value))
                    if let previous { canvas.line(from: previous, to: point, series.color, thickness: 3) }
                    canvas.fill(x: Int(point.0) - 3, y: Int(point.1) - 3, width: 7, height: 7, series.color)
                    previous = point
                }
                let legendY = frame.top + height + 54 + number * 20
                canvas.fill(x: frame.left, y: legendY + 4, width: 24, height: 6, series.color)
                canvas.text(series.name, x: frame.left + 32, y: legendY)
            }
        }
        return canvas
    }

    /// A canvas width that holds `width` of content and the title (drawn 3× large).
    static func fitting(_ title: String, _ width: Int) -> Int { max(width, Canvas.textWidth(title, scale: 3) + 40) }
}
