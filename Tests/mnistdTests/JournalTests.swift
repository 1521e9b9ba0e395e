import Foundation
import SystemResources
import TestSupport
import XCTest

/// The journald path, against a real journald: Debian's systemd-journald runs standalone as
/// root when no journal is running, creating /run/systemd/journal/socket itself.
final class JournalTests: XCTestCase {
    var startedJournald: Process?

    override func setUpWithError() throws {
        if journaldRunning() { return }
        guard getuid() == 0 else { throw XCTSkip("no journald running, and starting one needs root") }
        // A socket left by a journald that is gone would accept nothing; the new one binds afresh.
        try? FileManager.default.removeItem(atPath: "/run/systemd/journal/socket")
        let journald = "/lib/systemd/systemd-journald"
        guard FileManager.default.isExecutableFile(atPath: journald) else { throw XCTSkip("\(journald) not installed (apt-get install systemd)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: journald)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        startedJournald = process
        XCTAssertTrue(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") })
    }

    override func tearDown() {
        startedJournald?.terminate()
        startedJournald?.waitUntilExit()
    }

    /// Whether this machine's journald answers on its socket: a socket left by one that is gone
    /// refuses the connection, and pgrep would also count a container's journald (SystemdServiceTests').
    func journaldRunning() -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        return (try? UnixSocketAddress(path: "/run/systemd/journal/socket").connect(fd)) == 0
    }

    /// mnistd's entries for one file, as journalctl prints them.
    func entries(file: String) throws -> [[String: Any]] {
        let result = try runCommand("/bin/journalctl", ["-o", "json", "-t", "mnistd", "--no-pager", "MNISTD_FILE=\(file)"])
        return result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func testEventsReachTheJournalWithStructuredFields() throws {
        let daemon = try DaemonHarness()
        try daemon.start(logTarget: "journal")
        let tag = UUID().uuidString.prefix(8)
        let good = "journal-\(tag).png", bad = "journal-\(tag)-bad.png"
        try runCommand("/bin/cp", [repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", "\(daemon.inbox)/\(good)"])
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: "\(daemon.inbox)/\(bad)"))
        XCTAssertTrue(daemon.waitForOutcomes([good, bad]))
        XCTAssertEqual(daemon.stop(), 0)
        XCTAssertFalse(daemon.log.contains(good), "events went to stderr instead of the journal:\n\(daemon.log)")

        var classified: [String: Any] = [:], rejected: [String: Any] = [:]
        XCTAssertTrue(waitUntil(timeout: 10) {
            classified = (try? entries(file: good).first) ?? [:]
            rejected = (try? entries(file: bad).first) ?? [:]
            return !classified.isEmpty && !rejected.isEmpty
        }, "entries not found in the journal")
        XCTAssertEqual(classified["SYSLOG_IDENTIFIER"] as? String, "mnistd")
        XCTAssertEqual(classified["PRIORITY"] as? String, "6")
        XCTAssertEqual(classified["MESSAGE"] as? String, "classified \(good): digit 7")
        XCTAssertEqual(classified["MNISTD_IMAGES"] as? String, "1")
        XCTAssertEqual(classified["MNISTD_LABEL"] as? String, "7")
        XCTAssertTrue((classified["MNISTD_MODEL"] as? String)?.hasPrefix("cnn-") == true)
        XCTAssertNotNil(Int(classified["MNISTD_DURATION_US"] as? String ?? ""), "duration is a number of microseconds")
        XCTAssertEqual(rejected["PRIORITY"] as? String, "4")
        XCTAssertEqual(rejected["MNISTD_ERROR"] as? String, "\(bad): not a PNG: no PNG signature at the start of the file")
        XCTAssertNil(rejected["MNISTD_LABEL"])
    }
}
