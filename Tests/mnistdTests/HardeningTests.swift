import Classification
import ControlProtocol
@testable import Daemon
import Formats
import Foundation
import NeuralNet
import SystemResources
import TestSupport
import XCTest

/// What an outside review found the daemon and mnistctl did not survive, each reproduced with
/// the real binaries.
final class HardeningTests: XCTestCase {
    var daemon: DaemonHarness!

    override func setUpWithError() throws { daemon = try DaemonHarness() }
    override func tearDown() { daemon = nil }

    var shippedWeights: String { repositoryRoot + "/Sources/NeuralNet/DefaultWeights/mnist-cnn.weights" }

    func writeWeights(_ weights: WeightsFile, _ name: String) throws -> String {
        let path = daemon.root + "/" + name
        try Data(weights.encoded()).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testMetadataNumbersJSONCannotHoldNeitherKillTheDaemonNorReachItsReplies() throws {
        var weights = try LoadedModel.load(path: shippedWeights).weights
        weights.metadata["test_accuracy"] = "nan(1)"
        weights.metadata["train_seconds"] = "inf"
        daemon.extraArguments = ["--weights", try writeWeights(weights, "nan.weights")]
        try daemon.start()
        for _ in 0..<2 {
            for command in ["status", "models"] {
                let result = try daemon.mnistctl(command, ["--json"])
                XCTAssertEqual(result.status, 0, result.stderr)
                let reply = try ControlCoding.decode(ControlReply.self, from: Array(result.stdout.utf8.prefix { $0 != 10 }))
                XCTAssertTrue(reply.ok, reply.error ?? "")
                XCTAssertNil(reply.status?.model.accuracy ?? reply.models?.first?.accuracy)
            }
            XCTAssertTrue(daemon.isRunning)
            XCTAssertTrue(daemon.log.contains("metadata test_accuracy=\"nan(1)\" is not a number in 0.0...1.0; ignored"), daemon.log)
            // The model stays active: the next start must serve it as well.
            XCTAssertEqual(daemon.stop(), 0)
            daemon.extraArguments = []
            try daemon.start()
        }
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testAModelWhoseOutputsOverflowIsRefusedAtStartAndGivesWayToTheShippedOneWhenActive() throws {
        let seed = Network(kind: .mlpSeed, seed: 1)
        let huge = WeightsFile(network: try Network(kind: .mlpSeed, architecture: seed.architecture,
                                                    parameters: [Float](repeating: 3e38, count: seed.parameters.count)))
        let path = try writeWeights(huge, "huge.weights")
        let refused = try runCommand(builtBinary("mnistd"), ["--state-dir", daemon.state, "--weights", path, "--log-target", "stderr"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("huge.weights: the model's probabilities are not finite numbers"), refused.stderr)

        // As a daemon without the check left it: the huge model stored and active.
        try FileManager.default.createDirectory(atPath: daemon.state + "/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: path, toPath: daemon.state + "/models/\(huge.modelID).weights")
        try Data("\(huge.modelID)\n".utf8).write(to: URL(fileURLWithPath: daemon.state + "/models/active"))
        try daemon.start()
        XCTAssertTrue(daemon.log.contains("cannot load the active model \(huge.modelID), starting with the shipped model instead"), daemon.log)
        try runCommand("/bin/cp", [repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", daemon.inbox + "/seven.png"])
        XCTAssertTrue(daemon.waitForOutcomes(["seven.png"]))
        XCTAssertEqual(daemon.csv(for: "seven.png")?[1][2], "7")
        let classify = try daemon.mnistctl("classify", [repositoryRoot + "/samples/digit-7-mnist-28px-gray.png"])
        XCTAssertEqual(classify.status, 0, classify.stderr)
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testASocketOutOfReachIsSaidToBeSoWithTheGroupThatGrantsIt() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to run mnistctl as another user") }
        daemon.extraArguments = ["--socket-group", "daemon"]
        try daemon.start()
        for directory in [daemon.root, daemon.state] { chmod(directory, 0o755) }
        let denied = try runCommand("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                                         builtBinary("mnistctl"), "status", "--socket", daemon.socket])
        XCTAssertEqual(denied.status, 1, "a runtime failure, not a usage error")
        XCTAssertTrue(denied.stderr.contains("\(daemon.socket): permission denied (root, the daemon's user and members of group daemon may use it"),
                      denied.stderr)
        XCTAssertFalse(denied.stderr.contains("Usage:"), denied.stderr)
        XCTAssertEqual(daemon.stop(), 0)

        // The default socket's directory shut to this user: that socket is the one tried.
        let system = "/run/mnistd"
        guard !FileManager.default.fileExists(atPath: system) else { throw XCTSkip("\(system) exists here; not touching it") }
        XCTAssertEqual(mkdir(system, 0o750), 0)
        defer { rmdir(system) }
        XCTAssertEqual(chown(system, 0, try XCTUnwrap(getgrnam("daemon")).pointee.gr_gid), 0)
        let defaulted = try runCommand("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", builtBinary("mnistctl"), "status"])
        XCTAssertEqual(defaulted.status, 1)
        XCTAssertTrue(defaulted.stderr.contains("/run/mnistd/control.sock: permission denied (root, the daemon's user and members of group daemon"),
                      defaulted.stderr)
    }

    func testNamesAsLongAsTheKernelTakesEndInTheOutboxOrFailedWhateverTheirExtension() throws {
        try daemon.start()
        let png = repositoryRoot + "/samples/digit-7-mnist-28px-gray.png"
        let names = ["a." + String(repeating: "x", count: 250), String(repeating: "y", count: 255),
                     "b." + String(repeating: "x", count: 249) + ".png", String(repeating: "z", count: 251) + ".png"]
        for name in names {
            try runCommand("/bin/cp", [png, daemon.staging + "/" + name])
            XCTAssertEqual(rename(daemon.staging + "/" + name, daemon.inbox + "/" + name), 0, name)
        }
        // A broken file with a long name too: its .error and the input both fit in failed/.
        let broken = "c." + String(repeating: "x", count: 252)
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: daemon.staging + "/" + broken))
        XCTAssertEqual(rename(daemon.staging + "/" + broken, daemon.inbox + "/" + broken), 0)
        XCTAssertTrue(waitUntil(timeout: 20) {
            self.daemon.entries(self.daemon.outbox).filter { $0.hasSuffix(".csv") }.count == names.count
                && self.daemon.entries(self.daemon.failed).count == 2
        }, "outbox: \(daemon.entries(daemon.outbox))\nfailed: \(daemon.entries(daemon.failed))\n\(daemon.log)")
        XCTAssertEqual(daemon.entries(daemon.inbox), [".claimed"])
        XCTAssertEqual(daemon.entries(daemon.processed).count, names.count)
        XCTAssertFalse(daemon.log.contains("cannot write results"), daemon.log)
        for csv in daemon.entries(daemon.outbox) where csv.hasSuffix(".csv") {
            let rows = try XCTUnwrap(parseCSV(String(contentsOfFile: daemon.outbox + "/" + csv, encoding: .utf8)))
            XCTAssertEqual(rows[1][2], "7", csv)
            XCTAssertTrue(names.contains(rows[1][0]), "the source column keeps the whole name: \(rows[1][0])")
        }
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testNamesNeitherForgeLogLinesNorBecomeSpreadsheetFormulas() throws {
        try daemon.start()
        let png = repositoryRoot + "/samples/digit-7-mnist-28px-gray.png"
        let forged = "x.png\n2026-12-03T00:00:00.000Z critical forged \u{1B}[31mline.png"
        let formulas = ["=1+1.png", "+1.png", "-1.png", "@SUM(1).png", "=HYPERLINK(\"x\",\"y\").png"]
        for name in [forged] + formulas {
            try runCommand("/bin/cp", [png, daemon.staging + "/" + name])
            XCTAssertEqual(rename(daemon.staging + "/" + name, daemon.inbox + "/" + name), 0, name)
        }
        // A broken file under the forging name too: errors are logged with the name.
        try Data("broken".utf8).write(to: URL(fileURLWithPath: daemon.staging + "/broken" + forged))
        XCTAssertEqual(rename(daemon.staging + "/broken" + forged, daemon.inbox + "/broken" + forged), 0)
        XCTAssertTrue(daemon.waitForOutcomes([forged, "broken" + forged] + formulas), daemon.log)
        XCTAssertEqual(daemon.stop(), 0)
        let lines = daemon.log.split(separator: "\n")
        XCTAssertFalse(lines.contains { $0.hasPrefix("2026-12-03T00:00:00.000Z") }, "a name forged a log line:\n\(daemon.log)")
        XCTAssertFalse(daemon.log.contains("\u{1B}"), "a terminal escape reached the log")
        XCTAssertTrue(daemon.log.contains("x.png\\n2026-12-03T00:00:00.000Z critical forged \\x1b[31mline.png"), daemon.log)
        for name in formulas {
            let rows = try XCTUnwrap(daemon.csv(for: name), name)
            XCTAssertEqual(rows[1][0], "'" + name)
            XCTAssertEqual(rows[1][2], "7")
        }
    }

    func testMaildirStyleDeliveryByLinkIsClassifiedWithoutARestart() throws {
        try daemon.start()
        let png = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/samples/digit-7-mnist-28px-gray.png"))
        let names = (0..<20).map { "maildir-\($0).png" }
        for name in names {
            // Written under a hidden name, given its final name by a link, the temporary gone at once.
            let temporary = daemon.inbox + "/." + name + ".tmp"
            try png.write(to: URL(fileURLWithPath: temporary))
            XCTAssertEqual(link(temporary, daemon.inbox + "/" + name), 0)
            XCTAssertEqual(unlink(temporary), 0)
        }
        // A file made whole elsewhere on the filesystem and linked in by `ln`, its first name gone.
        try png.write(to: URL(fileURLWithPath: daemon.staging + "/linked.png"))
        try runCommand("/bin/ln", [daemon.staging + "/linked.png", daemon.inbox + "/linked.png"])
        XCTAssertEqual(unlink(daemon.staging + "/linked.png"), 0)
        XCTAssertTrue(daemon.waitForOutcomes(names + ["linked.png"], timeout: 10),
                      "inbox: \(daemon.entries(daemon.inbox)); outbox: \(daemon.entries(daemon.outbox).count)")
        for name in names + ["linked.png"] { XCTAssertEqual(daemon.csv(for: name)?[1][2], "7", name) }
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testABigClassifyDoesNotBlockStatus() throws {
        try daemon.start()
        let batch = daemon.staging + "/ten-thousand.idx3"
        var idx = Data([0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28])
        let digit = Data((0..<784).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) })
        for _ in 0..<10_000 { idx.append(digit) }
        try idx.write(to: URL(fileURLWithPath: batch))
        let socket = daemon.socket
        nonisolated(unsafe) var classified: ControlReply?
        nonisolated(unsafe) var classifyDone = Date.distantFuture
        let classifying = Thread {
            classified = try? ControlClient(socketPath: socket).send(ControlRequest(command: .classify, files: Array(repeating: batch, count: 5)))
            classifyDone = Date()
        }
        classifying.start()
        usleep(100_000)   // the classify is on its way
        let asked = Date()
        let status = try ControlClient(socketPath: socket).send(ControlRequest(command: .status), timeout: 30)
        let answered = Date()
        XCTAssertTrue(status.ok)
        XCTAssertTrue(waitUntil(timeout: 60) { classified != nil })
        XCTAssertLessThan(answered, classifyDone, "status waited for the classify")
        XCTAssertLessThan(answered.timeIntervalSince(asked), 1, "status took \(answered.timeIntervalSince(asked)) s")
        XCTAssertEqual(classified?.predictions?.map { $0.labels?.count }, Array(repeating: 10_000, count: 5))
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testClientsTricklingBytesCannotHoldEverySlot() throws {
        try daemon.start()
        let socket = daemon.socket
        // As many clients as there are slots, each sending a byte of a request that never ends.
        var trickling: [Int32] = []
        defer { trickling.forEach { close($0) } }
        for _ in 0..<256 {
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            XCTAssertEqual(try UnixSocketAddress(path: socket).connect(fd), 0)
            trickling.append(fd)
        }
        let started = Date()
        while Date().timeIntervalSince(started) < 12 {
            for fd in trickling { _ = send(fd, "{", 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            usleep(500_000)
        }
        let status = try daemon.mnistctl("status")
        XCTAssertEqual(status.status, 0, "every slot still held: \(status.stderr)")
        // Each was told why before it was closed.
        var told = 0
        for fd in trickling {
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0, String(decoding: buffer[..<count], as: UTF8.self).contains("request not completed within 10 s") { told += 1 }
        }
        XCTAssertEqual(told, 256)
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testAnEmptyRequestLineIsAnswered() throws {
        try daemon.start()
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        XCTAssertEqual(try UnixSocketAddress(path: daemon.socket).connect(fd), 0)
        XCTAssertEqual(send(fd, "\n", 1, Int32(MSG_NOSIGNAL)), 1)
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&descriptor, 1, 5000), 1, "no reply to an empty line")
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(fd, &buffer, buffer.count, 0)
        XCTAssertTrue(String(decoding: buffer[..<max(count, 0)], as: UTF8.self).contains("empty request"))
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// Renames a file to a name given as bytes (Process arguments and Foundation take only text).
    func renameToRawName(_ source: String, in directory: String, _ name: [UInt8]) -> Int32 {
        Glibc.rename(source, (Array(directory.utf8) + [UInt8(ascii: "/")] + name + [0]).map { CChar(bitPattern: $0) })
    }

    func testNamesThatAreNotUTF8AreClassifiedUnderTheirEscapedNameLiveAndAtStart() throws {
        let png = repositoryRoot + "/samples/digit-7-mnist-28px-gray.png"
        let names: [([UInt8], String)] = [
            ([0xFF, 0xFE] + Array(".png".utf8), "\\xff\\xfe.png"),
            (Array("bad".utf8) + [0xC3, 0x28] + Array("utf8.png".utf8), "bad\\xc3(utf8.png"),
            ([0xED, 0xA0, 0x80] + Array(".png".utf8), "\\xed\\xa0\\x80.png"),
            ([0xC0, 0xAF] + Array(".png".utf8), "\\xc0\\xaf.png"),
        ]
        // Two already there when the daemon starts, two dropped while it runs.
        try FileManager.default.createDirectory(atPath: daemon.inbox, withIntermediateDirectories: true)
        for (index, (raw, _)) in names.enumerated() {
            if index == 2 { try daemon.start() }
            try runCommand("/bin/cp", [png, daemon.staging + "/next.png"])
            XCTAssertEqual(renameToRawName(daemon.staging + "/next.png", in: daemon.inbox, raw), 0)
        }
        XCTAssertTrue(daemon.waitForOutcomes(names.map(\.1), timeout: 10),
                      "inbox: \(daemon.entries(daemon.inbox)); outbox: \(daemon.entries(daemon.outbox))\n\(daemon.log)")
        for (_, escaped) in names {
            XCTAssertEqual(daemon.csv(for: escaped)?[1][0], escaped)
            XCTAssertEqual(daemon.csv(for: escaped)?[1][2], "7")
            XCTAssertTrue(daemon.entries(daemon.processed).contains(escaped), escaped)
            XCTAssertTrue(daemon.log.contains("renamed an input whose name is not UTF-8 to \(escaped)"), daemon.log)
        }
        XCTAssertEqual(daemon.entries(daemon.inbox), [".claimed"])
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testAFileRewrittenInPlaceAgainAndAgainIsNeverFailedForBeingCaughtMidWrite() throws {
        try daemon.start()
        let versions = try ["digit-7-mnist-28px-gray.png", "digit-2-pencil-on-paper-112px.png"].map {
            try [UInt8](Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/samples/" + $0)))
        }
        let path = daemon.inbox + "/rewritten-in-place.png"
        for round in 0..<150 {
            // Truncated, then written in two halves: the daemon may claim it at any point.
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            XCTAssertGreaterThanOrEqual(fd, 0)
            let bytes = versions[round % 2], half = bytes.count / 2
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, half) }
            usleep(300)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + half, bytes.count - half) }
            close(fd)
            usleep(700)
        }
        XCTAssertTrue(waitUntil(timeout: 20) {
            self.daemon.entries(self.daemon.inbox) == [".claimed"] && self.daemon.claimedInputs().isEmpty
                && (try? self.daemon.mnistctl("status", ["--json"]).stdout.contains("\"queue_depth\":0")) == true
        }, daemon.log)
        usleep(1_500_000)   // inputs still settling are decoded again after half a second
        XCTAssertEqual(daemon.entries(daemon.failed), [], "a whole PNG was failed:\n\(daemon.log)")
        let reports = daemon.entries(daemon.outbox).filter { $0.hasSuffix(".csv") }
        XCTAssertGreaterThan(reports.count, 0)
        for report in reports {
            let label = try XCTUnwrap(parseCSV(String(contentsOfFile: daemon.outbox + "/" + report, encoding: .utf8)).dropFirst().first)[2]
            XCTAssertTrue(label == "7" || label == "2", "\(report): \(label)")
        }
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testAProcessedDirectoryOnAnotherMountOfTheSameFilesystemIsRefusedAtStart() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/bin/mount") else { throw XCTSkip("needs root and mount(8) for a bind mount") }
        let elsewhere = daemon.root + "/elsewhere"
        for directory in [elsewhere, daemon.processed, daemon.inbox] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let mounted = try runCommand("/bin/mount", ["--bind", elsewhere, daemon.processed])
        guard mounted.status == 0 else { throw XCTSkip("cannot bind-mount here: \(mounted.stderr)") }
        defer { _ = try? runCommand("/bin/umount", [daemon.processed]) }
        // Bounded: a daemon that does not refuse would run on.
        let refused = try runCommand("/usr/bin/timeout", ["10", builtBinary("mnistd"), "--state-dir", daemon.state, "--log-target", "stderr"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("\(daemon.processed): cannot use \(daemon.processed) with inbox \(daemon.inbox): they must be on the same mount"),
                      refused.stderr)
        XCTAssertEqual(daemon.entries(daemon.inbox).filter { $0.hasPrefix(".mnistd-probe") }, [], "the probe is cleaned up")
    }

    func testAMountOverTheRunningInboxOrASymlinkInItsPlaceStrandsNothing() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/bin/mount") else { throw XCTSkip("needs root and mount(8) for a bind mount") }
        try daemon.start()
        let png = repositoryRoot + "/samples/digit-7-mnist-28px-gray.png"
        let elsewhere = daemon.root + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let mounted = try runCommand("/bin/mount", ["--bind", elsewhere, daemon.inbox])
        guard mounted.status == 0 else { throw XCTSkip("cannot bind-mount here: \(mounted.stderr)") }
        var unmounted = false
        defer { if !unmounted { _ = try? runCommand("/bin/umount", [daemon.inbox]) } }
        XCTAssertTrue(waitUntil(timeout: 5) { self.daemon.log.contains("not watching the inbox until it is usable again") }, daemon.log)
        try runCommand("/bin/cp", [png, daemon.inbox + "/on-the-mount.png"])
        usleep(1_500_000)
        XCTAssertEqual(daemon.entries(elsewhere).filter { !$0.hasPrefix(".") }, ["on-the-mount.png"], "left where it was dropped")
        XCTAssertEqual(daemon.entries(daemon.failed), [])
        try runCommand("/bin/umount", [daemon.inbox])
        unmounted = true
        try runCommand("/bin/cp", [png, daemon.inbox + "/after.png"])
        XCTAssertTrue(daemon.waitForOutcomes(["after.png"], timeout: 10), daemon.log)

        // The inbox replaced by a symbolic link: not followed, nothing taken from its target.
        try FileManager.default.removeItem(atPath: daemon.inbox)
        XCTAssertEqual(symlink(elsewhere, daemon.inbox), 0)
        XCTAssertTrue(waitUntil(timeout: 5) { self.daemon.log.contains("replaced by a symbolic link, which is not followed") }, daemon.log)
        usleep(1_500_000)
        XCTAssertEqual(daemon.entries(elsewhere).filter { !$0.hasPrefix(".") }, ["on-the-mount.png"])
        XCTAssertEqual(unlink(daemon.inbox), 0)
        XCTAssertTrue(waitUntil(timeout: 5) { FileManager.default.fileExists(atPath: self.daemon.inbox + "/.claimed") }, daemon.log)
        try runCommand("/bin/cp", [png, daemon.inbox + "/back.png"])
        XCTAssertTrue(daemon.waitForOutcomes(["back.png"], timeout: 10), daemon.log)
        XCTAssertEqual(daemon.entries(daemon.failed), [])
        XCTAssertEqual(daemon.stop(), 0)
    }
}
