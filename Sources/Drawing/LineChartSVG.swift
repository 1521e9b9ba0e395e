/// A line chart as a standalone SVG document: one or more series over a shared x axis, each
/// drawn against the left or the right y axis, with ticks, labels and a legend.
public struct LineChartSVG {
    public struct Series {
        public var name: String
        public var values: [Double]
        public var color: String
        public var onRightAxis: Bool

        public init(name: String, values: [Double], color: String, onRightAxis: Bool = false) {
            self.name = name
            self.values = values
            self.color = color
            self.onRightAxis = onRightAxis
        }
    }

    public var title: String
    public var xLabel: String
    public var leftLabel: String
    public var rightLabel: String
    public var series: [Series]

    public init(title: String, xLabel: String, leftLabel: String, rightLabel: String, series: [Series]) {
        self.title = title
        self.xLabel = xLabel
        self.leftLabel = leftLabel
        self.rightLabel = rightLabel
        self.series = series
    }

    private let width = 760.0, height = 440.0
    private let left = 70.0, right = 70.0, top = 50.0, bottom = 60.0

    public func render() -> String {
        let points = series.map(\.values.count).max() ?? 0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func range(_ onRight: Bool) -> (Double, Double) {
            let values = series.filter { $0.onRightAxis == onRight }.flatMap(\.values).filter(\.isFinite)
            guard var low = values.min(), var high = values.max() else { return (0, 1) }
            if high - low < 1e-9 { low -= 0.5; high += 0.5 }
            let pad = (high - low) * 0.05
            return (low - pad, high + pad)
        }
        let leftRange = range(false), rightRange = range(true)
        func x(_ index: Int) -> Double {
            points <= 1 ? left + plotWidth / 2 : left + plotWidth * Double(index) / Double(points - 1)
        }
        func y(_ value: Double, _ r: (Double, Double)) -> Double {
            top + plotHeight * (1 - (value - r.0) / (r.1 - r.0))
        }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="28" text-anchor="middle" font-size="16">\(escape(title))</text>
        <rect x="\(left)" y="\(top)" width="\(plotWidth)" height="\(plotHeight)" fill="none" stroke="#444"/>

        """
        for tick in 0...4 {
            let fraction = Double(tick) / 4
            let yy = top + plotHeight * (1 - fraction)
            svg += "<line x1=\"\(left)\" y1=\"\(yy)\" x2=\"\(left + plotWidth)\" y2=\"\(yy)\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(left - 6)\" y=\"\(yy + 4)\" text-anchor=\"end\">\(format(leftRange.0 + fraction * (leftRange.1 - leftRange.0)))</text>\n"
            if series.contains(where: \.onRightAxis) {
                svg += "<text x=\"\(left + plotWidth + 6)\" y=\"\(yy + 4)\">\(format(rightRange.0 + fraction * (rightRange.1 - rightRange.0)))</text>\n"
            }
        }
        for index in 0..<points {
            svg += "<text x=\"\(x(index))\" y=\"\(top + plotHeight + 18)\" text-anchor=\"middle\">\(index + 1)</text>\n"
        }
        svg += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 16)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(18 \(top + plotHeight / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(leftLabel))</text>\n"
        if series.contains(where: \.onRightAxis) {
            svg += "<text transform=\"translate(\(width - 14) \(top + plotHeight / 2)) rotate(90)\" text-anchor=\"middle\">\(escape(rightLabel))</text>\n"
        }
        for (number, line) in series.enumerated() {
            let r = line.onRightAxis ? rightRange : leftRange
            let path = line.values.enumerated().filter { $0.element.isFinite }
                .map { "\(x($0.offset)),\(y($0.element, r))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            for (index, value) in line.values.enumerated() where value.isFinite {
                svg += "<circle cx=\"\(x(index))\" cy=\"\(y(value, r))\" r=\"3\" fill=\"\(line.color)\"/>\n"
            }
            let legendY = top + 16 + Double(number) * 16
            svg += "<line x1=\"\(left + 10)\" y1=\"\(legendY - 4)\" x2=\"\(left + 30)\" y2=\"\(legendY - 4)\" stroke=\"\(line.color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(left + 36)\" y=\"\(legendY)\">\(escape(line.name))\(line.onRightAxis ? " (right axis)" : "")</text>\n"
        }
        return svg + "</svg>\n"
    }

    private func format(_ value: Double) -> String {
        let rounded = (value * 10_000).rounded() / 10_000
        return String(rounded)
    }

    private func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
