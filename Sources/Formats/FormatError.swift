/// A file that cannot be read as what it claims to be: names the file and says why.
public struct FormatError: Error, Equatable, CustomStringConvertible {
    public let file: String
    public let reason: String
    public let kind: Kind

    /// What sort of refusal it is, for those who count refusals rather than read them.
    public enum Kind: String, Sendable, CaseIterable {
        /// Its bytes break the format's rules (truncated, bad checksum, impossible header…).
        case malformed
        /// Larger than a configured limit allows.
        case overLimit = "over_limit"
        /// Not read at all: missing, not a regular file, no permission, an I/O error.
        case unreadable
        /// Well formed, but nothing this program reads (another format, another shape).
        case unsupported
        /// No bytes at all.
        case empty
    }

    public init(file: String, reason: String, kind: Kind = .malformed) {
        self.file = file
        self.reason = reason
        self.kind = kind
    }

    public var description: String { "\(file): \(reason)" }
}
