/// `/etc/mnistd/mnistd.conf`: `key = value` lines, `#` comments, blank lines. Each key is a
/// command-line option's name without the leading dashes (`_` may stand for `-`), so the file is turned into arguments that
/// go before the real command line (which therefore wins). A key that is not an option, a
/// line without `=`, a repeated key or a flag that is not true/false is an error naming the
/// file and line.
public enum ConfigurationFile {
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// What a file stands for: its arguments, every mistake in it (each naming the file and
    /// line), and where each key was set (`file:line`), so that a bad value can be traced back.
    public struct Parsed {
        public var arguments: [String] = []
        public var problems: [any Swift.Error] = []
        public var places: [String: String] = [:]

        public init(arguments: [String] = [], problems: [any Swift.Error] = [], places: [String: String] = [:]) {
            self.arguments = arguments
            self.problems = problems
            self.places = places
        }
    }

    /// The arguments the file stands for; its first mistake, thrown.
    public static func arguments(fromText text: String, source: String, options: Set<String>, flags: Set<String>) throws -> [String] {
        let parsed = parse(text, source: source, options: options, flags: flags)
        if let first = parsed.problems.first { throw first }
        return parsed.arguments
    }

    /// The whole file read, mistakes and all. `options` take a value; `flags` take true or false.
    public static func parse(_ text: String, source: String, options: Set<String>, flags: Set<String>) -> Parsed {
        var parsed = Parsed()
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?.trimmingWhitespace ?? ""
            guard !line.isEmpty else { continue }
            let place = "\(source):\(number + 1)"
            func problem(_ description: String) { parsed.problems.append(Error(description: "\(place): \(description)")) }
            guard let equals = line.firstIndex(of: "=") else {
                problem("expected \"key = value\", found \"\(line)\"")
                continue
            }
            let key = String(line[..<equals]).trimmingWhitespace.replacingUnderscoresWithDashes
            var value = String(line[line.index(after: equals)...]).trimmingWhitespace
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard options.contains(key) || flags.contains(key) else {
                problem("unknown key \"\(key)\" (known: \((options.union(flags)).sorted().joined(separator: ", ")))")
                continue
            }
            guard parsed.places[key] == nil else {
                problem("\"\(key)\" is set twice")
                continue
            }
            parsed.places[key] = place
            if flags.contains(key) {
                switch value.lowercased() {
                case "true", "yes", "1": parsed.arguments.append("--\(key)")
                case "false", "no", "0": break
                default: problem("\(key) takes true or false, found \"\(value)\"")
                }
            } else if value.isEmpty {
                problem("\(key) needs a value")
            } else {
                parsed.arguments += ["--\(key)", value]
            }
        }
        return parsed
    }
}

extension String {
    fileprivate var replacingUnderscoresWithDashes: String { String(map { $0 == "_" ? "-" : $0 }) }
}
