@testable import Daemon
import Logging
import XCTest

final class LogHandlerTests: XCTestCase {
    func line(_ message: Logger.Message, _ metadata: Logger.Metadata = [:]) -> String {
        StderrLogHandler(label: "test").line(for: LogEvent(level: .error, message: message, metadata: metadata, source: "test",
                                                           file: #fileID, function: #function, line: #line))
    }

    func testAnEventIsOneLineWhateverItsTextHolds() {
        let forged = "x.png\n2026-12-03T00:00:00.000Z critical forged line"
        for text in [forged, "a\r\nb", "\u{1B}[2J\u{1B}[31mred", "bell\u{07}", "del\u{7F}", "c1\u{9B}31m", "tab\there"] {
            let line = line("cannot read \(text)", ["file": "\(text)", "key\nx": "v"])
            XCTAssertEqual(line.filter { $0 == "\n" || $0 == "\r\n" }.count, 1, line)
            XCTAssertTrue(line.hasSuffix("\n"))
            XCTAssertFalse(line.unicodeScalars.dropLast().contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }, line.debugDescription)
        }
        XCTAssertTrue(line("cannot read \(forged)").hasSuffix(" error cannot read x.png\\n2026-12-03T00:00:00.000Z critical forged line\n"))
        XCTAssertTrue(line("m", ["file": "\u{1B}[31m"]).hasSuffix(" m file=\"\\x1b[31m\"\n"))
    }

    func testMetadataIsPlainOrQuotedAndReadsBackUnambiguously() {
        XCTAssertTrue(line("m", ["file": "digit.png"]).hasSuffix(" m file=digit.png\n"))
        XCTAssertTrue(line("m", ["file": "a b \"c\""]).hasSuffix(" m file=\"a b \\\"c\\\"\"\n"))
        // A real newline and the two characters backslash, n are told apart.
        XCTAssertTrue(line("m", ["file": "a\nb"]).hasSuffix(" m file=\"a\\nb\"\n"))
        XCTAssertTrue(line("m", ["file": "a\\nb"]).hasSuffix(" m file=\"a\\\\nb\"\n"))
    }
}
