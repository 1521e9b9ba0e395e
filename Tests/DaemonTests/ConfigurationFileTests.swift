@testable import Daemon
import XCTest

final class ConfigurationFileTests: XCTestCase {
    let options: Set<String> = ["state-dir", "log-target", "min-accuracy"]
    let flags: Set<String> = ["delete-processed"]

    func parse(_ text: String) throws -> [String] {
        try ConfigurationFile.arguments(fromText: text, source: "/etc/mnistd/mnistd.conf", options: options, flags: flags)
    }

    func testKeysBecomeArguments() throws {
        let text = """
        # mnistd configuration
        state-dir = /var/lib/mnistd   # where it works

        log-target="journal"
        delete-processed = yes
        min-accuracy = 0.95
        """
        XCTAssertEqual(try parse(text), ["--state-dir", "/var/lib/mnistd", "--log-target", "journal", "--delete-processed", "--min-accuracy", "0.95"])
        XCTAssertEqual(try parse("delete-processed = false\n"), [])
        XCTAssertEqual(try parse("min_accuracy = 0.9\ndelete_processed = true\n"), ["--min-accuracy", "0.9", "--delete-processed"],
                       "underscores stand for dashes")
        XCTAssertThrowsError(try parse("min-accuracy = 0.9\nmin_accuracy = 0.8\n"), "one key, two spellings: set twice")
    }

    func testMistakesNameTheFileAndLine() {
        let cases = [
            ("state-dir = /a\ncolour = blue\n", "/etc/mnistd/mnistd.conf:2: unknown key \"colour\" (known: delete-processed, log-target, min-accuracy, state-dir)"),
            ("state-dir /a\n", "/etc/mnistd/mnistd.conf:1: expected \"key = value\", found \"state-dir /a\""),
            ("state-dir = /a\nstate-dir = /b\n", "/etc/mnistd/mnistd.conf:2: \"state-dir\" is set twice"),
            ("delete-processed = maybe\n", "/etc/mnistd/mnistd.conf:1: delete-processed takes true or false, found \"maybe\""),
            ("log-target =\n", "/etc/mnistd/mnistd.conf:1: log-target needs a value"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try parse(text)) { XCTAssertEqual("\($0)", message) }
        }
    }
}
