#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar on standard error, redrawn in place on a terminal and left out
/// entirely when standard error is a file or pipe (logs stay readable).
struct ProgressBar {
    private let enabled = isatty(STDERR_FILENO) == 1
    private var lastDrawn = -1

    mutating func update(label: String, done: Int, total: Int, detail: String) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = done * width / total
        guard filled != lastDrawn || done == total else { return }
        lastDrawn = filled
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        writeStandardError("\r\(label) \(bar) \(done)/\(total) \(detail)\u{1B}[K")
    }

    mutating func finish() {
        guard enabled else { return }
        writeStandardError("\r\u{1B}[K")
        lastDrawn = -1
    }
}

func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
