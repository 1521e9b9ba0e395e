/// Metrics in the Prometheus text exposition format (version 0.0.4), the one node_exporter's
/// textfile collector reads and every Prometheus-compatible scraper understands: each family's
/// HELP and TYPE lines, then its samples, one per line. No timestamps: the textfile collector
/// refuses them.
public struct Exposition: Sendable {
    public private(set) var text = ""

    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// Label names and values, in the order they are written.
    public typealias Labels = [(name: String, value: String)]

    public init() {}

    /// A counter family: `name` ends in `_total`, each value only ever grows.
    public mutating func counter(_ name: String, help: String, _ samples: [(labels: Labels, value: Double)]) {
        family(name, .counter, help: help, samples.map { (name, $0.labels, $0.value) })
    }

    public mutating func counter(_ name: String, help: String, _ value: Double) {
        counter(name, help: help, [([], value)])
    }

    public mutating func gauge(_ name: String, help: String, _ samples: [(labels: Labels, value: Double)]) {
        family(name, .gauge, help: help, samples.map { (name, $0.labels, $0.value) })
    }

    public mutating func gauge(_ name: String, help: String, _ value: Double) {
        gauge(name, help: help, [([], value)])
    }

    /// `name_bucket` per bound (cumulative, ending with `le="+Inf"`), then `name_sum` and `name_count`.
    public mutating func histogram(_ name: String, help: String, _ histogram: Histogram) {
        var samples = histogram.cumulativeBuckets.map { bucket in
            ("\(name)_bucket", [(name: "le", value: Self.format(bucket.upperBound))], Double(bucket.count))
        }
        samples.append(("\(name)_sum", [], histogram.sum))
        samples.append(("\(name)_count", [], Double(histogram.count)))
        family(name, .histogram, help: help, samples)
    }

    private mutating func family(_ name: String, _ kind: Kind, help: String, _ samples: [(name: String, labels: Labels, value: Double)]) {
        precondition(Self.isValidName(name), "\(name) is not a metric name")
        text += "# HELP \(name) \(Self.escape(help, quotes: false))\n# TYPE \(name) \(kind.rawValue)\n"
        for sample in samples {
            text += sample.name
            if !sample.labels.isEmpty {
                text += "{" + sample.labels.map { label in
                    precondition(Self.isValidName(label.name) && !label.name.contains(":"), "\(label.name) is not a label name")
                    return "\(label.name)=\"\(Self.escape(label.value, quotes: true))\""
                }.joined(separator: ",") + "}"
            }
            text += " \(Self.format(sample.value))\n"
        }
    }

    /// Whole numbers without a fraction (counts read as counts), others as Swift's shortest
    /// round-tripping form, which Go's ParseFloat reads back exactly; infinities and NaN as
    /// the format spells them.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// HELP text escapes backslashes and line feeds; label values double quotes as well.
    static func escape(_ text: String, quotes: Bool) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\"" where quotes: escaped += "\\\""
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`: names are the program's own, so a bad one is a bug.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first else { return false }
        func isLetter(_ scalar: Unicode.Scalar) -> Bool { ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_" || scalar == ":" }
        return isLetter(first) && name.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) }
    }
}
