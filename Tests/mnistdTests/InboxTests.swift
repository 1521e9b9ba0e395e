import Formats
import Foundation
import TestSupport
import XCTest

/// The real daemon on real directories, fed with real tools.
final class InboxTests: XCTestCase {
    var daemon: DaemonHarness!

    override func setUpWithError() throws { daemon = try DaemonHarness() }
    override func tearDown() { daemon = nil }

    /// The PNG samples and the label each shows, from samples/labels.csv.
    func samplePNGs() throws -> [(name: String, label: String)] {
        let rows = parseCSV(try String(contentsOfFile: repositoryRoot + "/samples/labels.csv", encoding: .utf8))
        return rows.dropFirst().filter { $0[0].hasSuffix(".png") }.map { ($0[0], $0[1]) }
    }

    func assertClassifiedOnce(_ name: String, label: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let rows = daemon.csv(for: name) else { return XCTFail("no CSV for \(name)\n\(daemon.log)", file: file, line: line) }
        XCTAssertEqual(rows.first, ["source", "index", "label", "status", "confidence", "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "model"], file: file, line: line)
        XCTAssertEqual(rows.count, 2, file: file, line: line)
        XCTAssertEqual(rows.last?[0], name, file: file, line: line)
        XCTAssertEqual(rows.last?[2], label, "label of \(name)", file: file, line: line)
        XCTAssertEqual(rows.last?[3], "ok", file: file, line: line)
        XCTAssertTrue(rows.last?[15].hasPrefix("cnn-") == true, file: file, line: line)
        XCTAssertTrue(daemon.entries(daemon.processed).contains(name), "\(name) not in processed/", file: file, line: line)
    }

    func testCpMvRsyncAndRenameFromATemporaryNameAreEachClassifiedExactlyOnce() throws {
        try daemon.start()
        let samples = try samplePNGs()
        XCTAssertGreaterThanOrEqual(samples.count, 5)
        var expected: [(String, String)] = []
        for (index, sample) in samples.enumerated() {
            let source = repositoryRoot + "/samples/" + sample.name
            let name = "drop\(index)-" + sample.name
            switch index % 4 {
            case 0:
                try runCommand("/bin/cp", [source, "\(daemon.inbox)/\(name)"])
            case 1:
                try runCommand("/bin/cp", [source, "\(daemon.staging)/\(name)"])
                try runCommand("/bin/mv", ["\(daemon.staging)/\(name)", "\(daemon.inbox)/\(name)"])
            case 2:
                // Written under a temporary name, then renamed: only the rename is an arrival.
                try runCommand("/bin/cp", [source, "\(daemon.inbox)/\(name).part"])
                usleep(200_000)
                XCTAssertFalse(daemon.entries(daemon.outbox).contains { $0.hasPrefix(name) }, "a .part file was taken")
                try runCommand("/bin/mv", ["\(daemon.inbox)/\(name).part", "\(daemon.inbox)/\(name)"])
            default:
                let rsync = try runCommand("/usr/bin/rsync", [source, "\(daemon.inbox)/\(name)"])
                XCTAssertEqual(rsync.status, 0, rsync.stderr)
            }
            expected.append((name, sample.label))
        }
        XCTAssertTrue(daemon.waitForOutcomes(expected.map(\.0)), daemon.log)
        usleep(300_000)
        for (name, label) in expected { assertClassifiedOnce(name, label: label) }
        XCTAssertEqual(daemon.stop(), 0, "SIGTERM exits 0")
        XCTAssertTrue(daemon.log.contains("mnistd stopped"))
        // Stopped, the daemon has settled: no temporaries, no claims, one CSV per input.
        XCTAssertEqual(daemon.entries(daemon.outbox).count, expected.count, "a file was classified twice: \(daemon.entries(daemon.outbox))")
        XCTAssertEqual(daemon.entries(daemon.inbox), [".claimed"])
        XCTAssertEqual(daemon.entries(daemon.inbox + "/.claimed"), [])
        XCTAssertEqual(daemon.entries(daemon.failed), [])
    }

    func testFilesDroppedWhileDownAreProcessedAtStartAndDirectoriesAreLeftAlone() throws {
        try FileManager.default.createDirectory(atPath: daemon.inbox + "/subdir", withIntermediateDirectories: true)
        let samples = try samplePNGs()
        for sample in samples { try runCommand("/bin/cp", [repositoryRoot + "/samples/" + sample.name, daemon.inbox]) }
        try runCommand("/bin/cp", [repositoryRoot + "/samples/" + samples[0].name, daemon.inbox + "/subdir/"])
        try daemon.start()
        XCTAssertTrue(daemon.waitForOutcomes(samples.map(\.name)), daemon.log)
        for sample in samples { assertClassifiedOnce(sample.name, label: sample.label) }
        XCTAssertEqual(daemon.entries(daemon.inbox), [".claimed", "subdir"])
        XCTAssertEqual(daemon.entries(daemon.inbox + "/subdir"), [samples[0].name])
        daemon.stop()
    }

    func testIDXBatchGetsARowPerImage() throws {
        try daemon.start()
        let labels = try XCTUnwrap(parseCSV(try String(contentsOfFile: repositoryRoot + "/samples/labels.csv", encoding: .utf8))
            .first { $0[0].hasSuffix("idx3-ubyte.gz") })
        try runCommand("/bin/cp", [repositoryRoot + "/samples/" + labels[0], daemon.inbox])
        XCTAssertTrue(daemon.waitForOutcomes([labels[0]]), daemon.log)
        let rows = try XCTUnwrap(daemon.csv(for: labels[0]))
        let truth = labels[1].split(separator: " ").map(String.init)
        XCTAssertEqual(rows.count, truth.count + 1)
        XCTAssertEqual(rows.dropFirst().map { $0[1] }, (0..<truth.count).map(String.init))
        let correct = zip(rows.dropFirst().map { $0[2] }, truth).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(correct, truth.count - 1, "the shipped model misreads at most one of the first 100 test digits")
        daemon.stop()
    }

    func testEveryBadInputFailsWithItsReasonAndTheDaemonCarriesOn() throws {
        daemon.extraArguments = ["--max-png-pixels", "4000000"]
        try daemon.start()
        let valid = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/samples/" + samplePNGs()[1].name))
        let idx = IDXArray(dimensions: [3, 28, 28], bytes: [UInt8](repeating: 9, count: 3 * 784)).encoded
        var bomb = try encodePNG(RasterImage(width: 8, height: 8, channels: 1, samples: [UInt8](repeating: 0, count: 64)))
        for offset in [16, 20] { bomb.replaceSubrange(offset..<offset + 4, with: [0, 0, 0x75, 0x30]) }  // 30000
        bomb.replaceSubrange(29..<33, with: crc32Bytes(bomb[12..<29]))
        let cases: [(String, [UInt8], String)] = [
            ("empty.png", [], "not a PNG: the file is empty"),
            ("truncated.png", Array(valid.prefix(valid.count / 2)), "truncated PNG"),
            ("photo.png", [0xFF, 0xD8, 0xFF, 0xE0, 0, 16] + Array("JFIF".utf8) + [UInt8](repeating: 0, count: 200), "the file holds JPEG data"),
            ("noise.bin", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }, "neither a PNG nor an IDX image file"),
            ("wrong-magic.idx3", [0, 0, 0x0B, 3] + Array(idx.dropFirst(4)), "IDX element type is not supported"),
            ("short-idx3-ubyte", [0, 0, 8, 3, 0, 0, 0, 9] + Array(idx[8..<16]) + Array(idx.dropFirst(16)), "IDX header claims more data than the file holds"),
            ("absurd.idx", [0, 0, 8, 3, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 28], "over the limit"),
            ("broken-idx3-ubyte.gz", Array(gzip(idx).prefix(40)), "gzip"),
            ("bomb.png", bomb, "PNG is over the limit of 4000000 pixels (raise --max-png-pixels to accept it)"),
        ]
        for (name, bytes, _) in cases {
            try Data(bytes).write(to: URL(fileURLWithPath: "\(daemon.staging)/\(name)"))
            try runCommand("/bin/mv", ["\(daemon.staging)/\(name)", "\(daemon.inbox)/\(name)"])
        }
        XCTAssertEqual(symlink("/etc/passwd", "\(daemon.inbox)/outside-link.png"), 0)
        XCTAssertEqual(mkfifo("\(daemon.inbox)/pipe.png", 0o644), 0)
        let all = cases.map(\.0) + ["outside-link.png", "pipe.png"]
        XCTAssertTrue(daemon.waitForOutcomes(all), daemon.log)
        let reasons = cases.map { ($0.0, $0.2) } + [("outside-link.png", "is a symbolic link (links are not followed)"), ("pipe.png", "not a regular file (FIFO)")]
        for (name, reason) in reasons {
            let error = (try? String(contentsOfFile: "\(daemon.failed)/\(name).error", encoding: .utf8)) ?? "missing"
            XCTAssertTrue(error.hasPrefix("\(name): ") && error.contains(reason), "\(name).error says: \(error)")
            XCTAssertTrue(daemon.entries(daemon.failed).contains(name), "\(name) not moved to failed/")
        }
        XCTAssertTrue(daemon.isRunning)
        try runCommand("/bin/cp", [repositoryRoot + "/samples/" + samplePNGs()[0].name, daemon.inbox + "/after.png"])
        XCTAssertTrue(daemon.waitForOutcomes(["after.png"]), daemon.log)
        assertClassifiedOnce("after.png", label: try samplePNGs()[0].label)
        XCTAssertEqual(daemon.stop(), 0)
        XCTAssertEqual(daemon.entries(daemon.outbox), ["after.png.csv"])
        XCTAssertEqual(daemon.entries(daemon.failed).count, 2 * reasons.count)
    }

    func testPngSuiteAndLibpngCrashersEachEndInOutboxOrFailed() throws {
        try daemon.start()
        var names: [String] = []
        for suite in ["pngsuite", "crashers"] {
            let directory = repositoryRoot + "/../shared/testdata/png/" + suite
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else { throw XCTSkip("no \(directory)") }
            for file in files where file.hasSuffix(".png") {
                try runCommand("/bin/cp", ["\(directory)/\(file)", "\(daemon.inbox)/\(suite)-\(file)"])
                names.append("\(suite)-\(file)")
            }
        }
        XCTAssertTrue(daemon.waitForOutcomes(names), daemon.log)
        let csvs = Set(daemon.entries(daemon.outbox)), errors = Set(daemon.entries(daemon.failed))
        for name in names where name.hasPrefix("pngsuite-") {
            XCTAssertTrue(csvs.contains(name + ".csv"), "\(name) was not classified")
        }
        for name in names {
            XCTAssertTrue(csvs.contains(name + ".csv") != errors.contains(name + ".error"), "\(name): exactly one outcome")
        }
        XCTAssertTrue(errors.contains("crashers-huge_IDAT.png.error"))
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testRefusesToStartWithMissingOrInvalidWeights() throws {
        let bogus = daemon.root + "/bogus.weights"
        try Data("not weights at all".utf8).write(to: URL(fileURLWithPath: bogus))
        for (weights, reason) in [("/nonexistent.weights", "/nonexistent.weights: cannot open: No such file or directory"),
                                  (bogus, "\(bogus): not an mnistd weights file (bad magic number)")] {
            let result = try runCommand(builtBinary("mnistd"), ["--state-dir", daemon.state, "--weights", weights, "--log-target", "stderr"])
            XCTAssertEqual(result.status, 1)
            XCTAssertTrue(result.stderr.contains("cannot start: \(reason)"), result.stderr)
        }
    }
}

/// zlib's CRC-32 of a PNG chunk, big-endian.
func crc32Bytes(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    crc ^= 0xFFFF_FFFF
    return [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
}
