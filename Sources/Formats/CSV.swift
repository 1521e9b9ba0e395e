/// RFC 4180 CSV: fields with a comma, quote, CR or LF are quoted, quotes doubled, CRLF line ends.
public struct CSVWriter {
    public private(set) var text = ""

    public init(header: [String]) { appendRow(header) }

    public mutating func appendRow(_ fields: [String]) {
        text += fields.map(Self.escape).joined(separator: ",") + "\r\n"
    }

    public static func escape(_ field: String) -> String {
        // By scalar: "\r\n" is a single Character and would slip past a Character test.
        guard field.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) else { return field }
        return "\"" + field.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for character in self { if character == target { out += replacement } else { out.append(character) } }
        return out
    }
}

/// Parses RFC 4180 CSV text into rows of fields (quoted fields may hold commas, quotes, newlines).
public func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var inQuotes = false
    var characters = Array(text).makeIterator()
    var pending: Character? = nil
    while let character = pending ?? characters.next() {
        pending = nil
        if inQuotes {
            if character == "\"" {
                let next = characters.next()
                if next == "\"" { field.append("\"") } else { inQuotes = false; pending = next }
            } else {
                field.append(character)
            }
            continue
        }
        switch character {
        case "\"": inQuotes = true
        case ",": row.append(field); field = ""
        case "\r\n", "\n", "\r":
            row.append(field); field = ""
            rows.append(row); row = []
        default: field.append(character)
        }
    }
    if !field.isEmpty || !row.isEmpty {
        row.append(field)
        rows.append(row)
    }
    return rows
}
