#if canImport(Glibc)
import Glibc
import CSystemd
import Formats
import Logging
import SystemResources
#endif

/// Where the daemon's events go.
public enum LogTarget: String, CaseIterable, Sendable {
    /// The journal when its socket is there, stderr otherwise.
    case auto
    case journal
    case stderr

    public static let journalSocket = "/run/systemd/journal/socket"

    /// A log handler factory for `LoggingSystem.bootstrap`.
    public func makeHandler(identifier: String) -> @Sendable (String) -> any LogHandler {
        let useJournal = self == .journal || (self == .auto && access(Self.journalSocket, F_OK) == 0)
        return { label in
            useJournal ? JournalLogHandler(identifier: identifier, label: label) : StderrLogHandler(label: label)
        }
    }
}

/// The name a metadata key takes as a journal field: `duration_us` → `MNISTD_DURATION_US`.
func journalFieldName(_ key: String) -> String {
    "MNISTD_" + String(key.uppercased().unicodeScalars.map { ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") ? Character($0) : "_" })
}

/// Sends each event to journald as structured fields (`sd_journal_sendv`): `MESSAGE`,
/// `PRIORITY`, `SYSLOG_IDENTIFIER` and each metadata item as `MNISTD_<KEY>`. If the journal
/// cannot take an event, it goes to stderr instead, so no event disappears.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let identifier: String
    private let fallback: StderrLogHandler

    public init(identifier: String, label: String) {
        self.identifier = identifier
        fallback = StderrLogHandler(label: label)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(syslogPriority(event.level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields.append("\(journalFieldName(key))=\(value)")
        }
        let buffers = fields.map { Array($0.utf8) }
        var pointers = buffers.map { bytes -> UnsafeMutableRawPointer in
            let copy = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            return copy
        }
        defer { pointers.forEach { $0.deallocate() } }
        let vectors = zip(pointers, buffers).map { iovec(iov_base: $0, iov_len: $1.count) }
        let status = vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        if status < 0 { fallback.log(event: event) }
        pointers.removeAll(keepingCapacity: false)
    }
}

/// Readable lines on stderr: time, level, message, then `key=value` metadata.
public struct StderrLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        _ = writeAll(STDERR_FILENO, Array(line(for: event).utf8))
    }

    /// One event as one line, whatever its text holds: control characters (a newline in a
    /// file name would forge a line of its own, an escape sequence would drive the terminal)
    /// are written escaped, in the message as in metadata.
    func line(for event: LogEvent) -> String {
        var line = "\(utcTimestamp(milliseconds: true)) \(event.level) \(escapingControlCharacters("\(event.message)"))"
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
            let text = "\(value)"
            let plain = !text.isEmpty && !text.unicodeScalars.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || isControl($0) }
            line += " \(escapingControlCharacters(key))=" + escapingControlCharacters(plain ? text : quoted(text))
        }
        return line + "\n"
    }

    private func quoted(_ value: String) -> String {
        var out = "\""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            default: out.append(character)
            }
        }
        return out + "\""
    }
}

/// `text` with every control character (C0, DEL, C1) written as `\n`, `\r`, `\t` or `\xHH` / `\u{HH}`.
func escapingControlCharacters(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where isControl(scalar):
            let hex = String(scalar.value, radix: 16)
            out += scalar.value < 0x80 ? "\\x" + (hex.count < 2 ? "0" : "") + hex : "\\u{\(hex)}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
}

func syslogPriority(_ level: Logger.Level) -> Int {
    switch level {
    case .trace, .debug: return 7
    case .info: return 6
    case .notice: return 5
    case .warning: return 4
    case .error: return 3
    case .critical: return 2
    }
}
