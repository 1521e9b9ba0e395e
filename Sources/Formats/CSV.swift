/// RFC 4180 CSV: fields with a comma, quote, CR or LF are quoted, quotes doubled, CRLF line ends.
/// Rows are appended whole or a field at a time (no string per number: a 10,000-image
/// batch's CSV has 160,000 fields).
public struct CSVWriter {
    public private(set) var bytes: [UInt8] = []
    private var rowStarted = false

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public init(header: [String]) { appendRow(header) }

    /// A writer without a header: rows to join to another writer's.
    public init() {}

    public mutating func appendRow(_ fields: [String]) {
        for field in fields { appendField(field) }
        endRow()
    }

    public mutating func appendField(_ field: String) {
        startField()
        // By byte: "\r\n" is a single Character and would slip past a Character test.
        let utf8 = field.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) else {
            return bytes += utf8
        }
        bytes.append(UInt8(ascii: "\""))
        for byte in utf8 {
            bytes.append(byte)
            if byte == UInt8(ascii: "\"") { bytes.append(byte) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func appendField(_ value: Int) {
        startField()
        appendDecimal(value, to: &bytes)
    }

    /// `value` with exactly `digits` decimals, as `fixed` writes it.
    public mutating func appendField(_ value: Double, digits: Int) {
        startField()
        appendFixed(value, digits, to: &bytes)
    }

    public mutating func endRow() {
        bytes += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        rowStarted = false
    }

    private mutating func startField() {
        if rowStarted { bytes.append(UInt8(ascii: ",")) }
        rowStarted = true
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
