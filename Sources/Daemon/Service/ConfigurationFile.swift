/// `/etc/mnistd/mnistd.conf`: `key = value` lines, `#` comments, blank lines. Each key is a
/// command-line option's name without the leading dashes (`_` may stand for `-`), so the file is turned into arguments that
/// go before the real command line (which therefore wins). A key that is not an option, a
/// line without `=`, a repeated key or a flag that is not true/false is an error naming the
/// file and line.
public enum ConfigurationFile {
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The arguments the file stands for. `options` take a value; `flags` take true or false.
    public static func arguments(fromText text: String, source: String, options: Set<String>, flags: Set<String>) throws -> [String] {
        var arguments: [String] = []
        var seen: Set<String> = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?.trimmingWhitespace ?? ""
            guard !line.isEmpty else { continue }
            let place = "\(source):\(number + 1)"
            guard let equals = line.firstIndex(of: "=") else {
                throw Error(description: "\(place): expected \"key = value\", found \"\(line)\"")
            }
            let key = String(line[..<equals]).trimmingWhitespace.replacingUnderscoresWithDashes
            var value = String(line[line.index(after: equals)...]).trimmingWhitespace
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard options.contains(key) || flags.contains(key) else {
                throw Error(description: "\(place): unknown key \"\(key)\" (known: \((options.union(flags)).sorted().joined(separator: ", ")))")
            }
            guard seen.insert(key).inserted else { throw Error(description: "\(place): \"\(key)\" is set twice") }
            if flags.contains(key) {
                switch value.lowercased() {
                case "true", "yes", "1": arguments.append("--\(key)")
                case "false", "no", "0": break
                default: throw Error(description: "\(place): \(key) takes true or false, found \"\(value)\"")
                }
            } else {
                guard !value.isEmpty else { throw Error(description: "\(place): \(key) needs a value") }
                arguments += ["--\(key)", value]
            }
        }
        return arguments
    }
}

extension String {
    fileprivate var replacingUnderscoresWithDashes: String { String(map { $0 == "_" ? "-" : $0 }) }
}
