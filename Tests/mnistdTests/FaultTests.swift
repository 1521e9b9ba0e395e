import Formats
import Foundation
import TestSupport
import XCTest

/// Faults injected for real: a full or read-only outbox, the inbox removed, inotify's queue
/// overflowing, awkward names. Nothing is lost, the daemon recovers when the fault goes.
final class FaultTests: XCTestCase {
    var daemon: DaemonHarness!
    var mounts: [String] = []
    var immutableDirectories: [String] = []

    override func setUpWithError() throws { daemon = try DaemonHarness() }

    override func tearDown() {
        daemon.killHard()
        for directory in immutableDirectories { _ = try? runCommand("/usr/bin/chattr", ["-i", directory]) }
        for mount in mounts.reversed() { _ = try? runCommand("/bin/umount", [mount]) }
        daemon = nil
    }

    /// A small tmpfs of our own, as root.
    func mountTmpfs(_ path: String, kilobytes: Int) throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a tmpfs needs root") }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mount = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path])
        guard mount.status == 0 else { throw XCTSkip("cannot mount a tmpfs here: \(mount.stderr)") }
        mounts.append(path)
    }

    func dropSamples(_ count: Int, prefix: String) throws -> [String] {
        let names = (0..<count).map { "\(prefix)-\($0).png" }
        for name in names {
            try FileManager.default.copyItem(atPath: repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", toPath: daemon.staging + "/" + name)
            XCTAssertEqual(rename(daemon.staging + "/" + name, daemon.inbox + "/" + name), 0)
        }
        return names
    }

    func waitForCSVs(_ names: [String], in directory: String) -> Bool {
        waitUntil(timeout: 30) { names.allSatisfy { FileManager.default.fileExists(atPath: "\(directory)/\($0).csv") } }
    }

    /// Inputs not yet settled: still in the inbox, or claimed into one of its batch directories.
    /// How many were claimed before the writer's backlog stopped the classifier is timing.
    func waitingInputs() -> Set<String> {
        Set(daemon.entries(daemon.inbox).filter { $0 != ".claimed" }).union(daemon.claimedInputs())
    }

    func occurrences(_ text: String) -> Int { daemon.log.components(separatedBy: text).count - 1 }

    func testFullThenReadOnlyOutboxKeepsInputsClaimedUntilItRecovers() throws {
        let outbox = daemon.root + "/small-outbox"
        try mountTmpfs(outbox, kilobytes: 256)
        daemon.extraArguments = ["--outbox", outbox]
        try daemon.start()
        // Fill the outbox's filesystem.
        _ = try runCommand("/bin/dd", ["if=/dev/zero", "of=\(outbox)/filler", "bs=4k", "count=1000"])
        let full = try dropSamples(20, prefix: "full")
        XCTAssertTrue(waitUntil(timeout: 20) { self.occurrences("cannot write results") >= 1 }, daemon.log)
        sleep(3)
        XCTAssertEqual(occurrences("cannot write results"), 1, "logged once per episode, not per attempt")
        XCTAssertEqual(daemon.entries(daemon.processed), [], "nothing moved while its CSV could not be written")
        XCTAssertEqual(daemon.entries(daemon.failed), [])
        XCTAssertEqual(waitingInputs(), Set(full), "each input is claimed or still waiting in the inbox, none lost")
        // What an operator's dashboard shows meanwhile: inputs set aside, all of them claimed.
        let refusing = try daemon.metrics()
        XCTAssertGreaterThan(refusing["mnistd_set_aside_inputs"] ?? 0, 0)
        XCTAssertGreaterThanOrEqual(refusing["mnistd_claimed_inputs"] ?? 0, refusing["mnistd_set_aside_inputs"] ?? .infinity)
        XCTAssertGreaterThanOrEqual(refusing["mnistd_commit_refusals_total"] ?? 0, 1)
        XCTAssertEqual(refusing["mnistd_files_classified_total"], 0)
        try FileManager.default.removeItem(atPath: outbox + "/filler")
        XCTAssertTrue(waitForCSVs(full, in: outbox), daemon.log)
        XCTAssertEqual(occurrences("results can be written again"), 1)
        let recovered = try daemon.metrics()
        XCTAssertEqual(recovered["mnistd_set_aside_inputs"], 0)
        XCTAssertEqual(recovered["mnistd_claimed_inputs"], 0)
        XCTAssertEqual(recovered["mnistd_files_classified_total"], Double(full.count))

        // The same with a read-only outbox.
        XCTAssertEqual(try runCommand("/bin/mount", ["-o", "remount,ro", outbox]).status, 0)
        // Three waves, three batches: the writer's backlog fills and the classifier waits on it.
        var readOnly: [String] = []
        for wave in 0..<3 {
            readOnly += try dropSamples(2, prefix: "readonly-\(wave)")
            usleep(300_000)
        }
        XCTAssertTrue(waitUntil(timeout: 20) { self.occurrences("cannot write results") >= 2 }, daemon.log)
        XCTAssertTrue(daemon.log.contains("Read-only file system"), daemon.log)
        // Stopping while the outbox refuses: a clean exit, the inputs left claimed for the next start.
        let stopped = Date()
        XCTAssertEqual(daemon.stop(), 0)
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 10, "a dead outbox held the shutdown")
        XCTAssertFalse(daemon.entries(daemon.inbox + "/.claimed").isEmpty)
        XCTAssertEqual(try runCommand("/bin/mount", ["-o", "remount,rw", outbox]).status, 0)
        try daemon.start()
        XCTAssertTrue(waitForCSVs(readOnly, in: outbox), daemon.log)
        XCTAssertEqual(daemon.stop(), 0)
        for name in full + readOnly {
            XCTAssertEqual(try String(contentsOfFile: "\(outbox)/\(name).csv", encoding: .utf8).split(separator: "\r\n").count, 2, name)
        }
        XCTAssertEqual(daemon.entries(daemon.processed).count, full.count + readOnly.count, daemon.log)
    }

    func testInboxRemovedWhileRunningComesBackAndIsWatchedAgain() throws {
        try daemon.start()
        try FileManager.default.removeItem(atPath: daemon.inbox)
        XCTAssertTrue(waitUntil(timeout: 10) { self.daemon.log.contains("the inbox is back") }, daemon.log)
        XCTAssertTrue(daemon.log.contains("the inbox was removed or moved"))
        let names = try dropSamples(3, prefix: "after")
        XCTAssertTrue(daemon.waitForOutcomes(names), daemon.log)
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testInotifyQueueOverflowIsRescanned() throws {
        guard getuid() == 0 else { throw XCTSkip("changing fs.inotify.max_queued_events needs root") }
        let sysctl = "/proc/sys/fs/inotify/max_queued_events"
        let original = try String(contentsOfFile: sysctl, encoding: .utf8)
        // The limit is taken when the daemon creates its inotify instance.
        try "16\n".write(toFile: sysctl, atomically: false, encoding: .utf8)
        defer { try? original.write(toFile: sysctl, atomically: false, encoding: .utf8) }
        try daemon.start()
        try original.write(toFile: sysctl, atomically: false, encoding: .utf8)
        // A consumer frozen while 2,000 files arrive: its 16-event queue overflows for sure.
        let pid = try XCTUnwrap(daemon.process?.processIdentifier)
        kill(pid, SIGSTOP)
        let names = try dropSamples(2000, prefix: "flood")
        kill(pid, SIGCONT)
        XCTAssertTrue(daemon.waitForOutcomes(names, timeout: 120), "files lost to the overflow")
        XCTAssertTrue(daemon.log.contains("inotify queue overflowed; rescanning the inbox"), "no overflow happened")
        let counted = try daemon.metrics()
        XCTAssertGreaterThanOrEqual(counted["mnistd_inotify_overflows_total"] ?? 0, 1)
        // The start's and the overflow's requests may be served by one scan.
        XCTAssertGreaterThanOrEqual(counted["mnistd_inbox_rescans_total"] ?? 0, 1)
        XCTAssertEqual(daemon.stop(), 0)
        XCTAssertEqual(daemon.entries(daemon.outbox).count, names.count)
    }

    func testAwkwardNamesKeepTheCSVValidAndNeverCollide() throws {
        try daemon.start()
        let long = String(repeating: "l", count: 240) + ".png"
        let names = ["with space.png", "comma,here.png", "quote\"d.png", "new\nline.png", "ünïcødé.png", long]
        for name in names + ["with space.png"] {
            try FileManager.default.copyItem(atPath: repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", toPath: daemon.staging + "/x")
            XCTAssertEqual(rename(daemon.staging + "/x", daemon.inbox + "/" + name), 0)
            XCTAssertTrue(waitUntil(timeout: 20) { !self.daemon.entries(self.daemon.inbox).contains(name) })
        }
        XCTAssertTrue(daemon.waitForOutcomes(names + ["with space-1.png"]), daemon.log)
        for name in names {
            let rows = try XCTUnwrap(daemon.csv(for: name), name)
            XCTAssertEqual(rows.count, 2, name)
            XCTAssertEqual(rows[1][0], name, "the source field holds the name as it is")
            XCTAssertEqual(rows[1][2], "7")
        }
        XCTAssertEqual(daemon.csv(for: "with space-1.png")?[1][0], "with space.png", "the second file of a name gets its own CSV")
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testUnwritableFailedDirectoryKeepsTheBadInputClaimedUntilItIsWritable() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chattr") else { throw XCTSkip("chattr not installed (e2fsprogs)") }
        try daemon.start()
        // Immutable while running: nothing may be created in it, not even by root.
        let immutable = try runCommand("/usr/bin/chattr", ["+i", daemon.failed])
        guard immutable.status == 0 else { throw XCTSkip("chattr +i is not supported here: \(immutable.stderr)") }
        immutableDirectories.append(daemon.failed)
        try "not a picture".write(toFile: daemon.staging + "/bad.png", atomically: false, encoding: .utf8)
        XCTAssertEqual(rename(daemon.staging + "/bad.png", daemon.inbox + "/bad.png"), 0)
        XCTAssertTrue(waitUntil(timeout: 20) { self.daemon.log.contains("Operation not permitted") }, daemon.log)
        sleep(2)
        XCTAssertEqual(occurrences("cannot write results"), 1, "logged once per episode, not in a loop\n\(daemon.log)")
        XCTAssertEqual(waitingInputs(), ["bad.png"], "the bad input is kept, not lost")
        // Good inputs are not held up by a bad one that cannot be filed.
        let good = try dropSamples(2, prefix: "good")
        XCTAssertTrue(waitForCSVs(good, in: daemon.outbox), daemon.log)
        XCTAssertEqual(try runCommand("/usr/bin/chattr", ["-i", daemon.failed]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: self.daemon.failed + "/bad.png.error") }, daemon.log)
        XCTAssertTrue(try String(contentsOfFile: daemon.failed + "/bad.png.error", encoding: .utf8).contains("bad.png: not a PNG"))
        // The episode's end is logged once the commit that published the file has returned.
        XCTAssertTrue(waitUntil(timeout: 10) { self.occurrences("results can be written again") > 0 }, daemon.log)
        XCTAssertEqual(occurrences("results can be written again"), 1)
        XCTAssertEqual(daemon.stop(), 0)
        XCTAssertEqual(waitingInputs(), [])
    }

    func testReadOnlyStateDirectoryIsAClearStartupError() throws {
        let state = daemon.root + "/readonly-state"
        try mountTmpfs(state, kilobytes: 256)
        XCTAssertEqual(try runCommand("/bin/mount", ["-o", "remount,ro", state]).status, 0)
        let started = Date()
        let result = try runCommand(builtBinary("mnistd"), ["--state-dir", state, "--log-target", "stderr"])
        XCTAssertEqual(result.status, 1)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "no retry loop")
        XCTAssertTrue(result.stderr.contains("cannot start") && result.stderr.contains(state) && result.stderr.contains("Read-only file system"),
                      result.stderr)
    }

    func testAFileRewrittenAfterItWasClassifiedIsClassifiedAgainUnderItsOwnName() throws {
        try daemon.start()
        let path = daemon.inbox + "/rewritten.png"
        try runCommand("/bin/cp", [repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", path])
        XCTAssertTrue(daemon.waitForOutcomes(["rewritten.png"]), daemon.log)
        // The same name written again, with other content: a new input, never an overwrite.
        try runCommand("/bin/cp", [repositoryRoot + "/samples/digit-2-pencil-on-paper-112px.png", path])
        XCTAssertTrue(daemon.waitForOutcomes(["rewritten-1.png"]), daemon.log)
        XCTAssertEqual(daemon.stop(), 0)
        XCTAssertEqual(daemon.csv(for: "rewritten.png")?[1][2], "7")
        XCTAssertEqual(daemon.csv(for: "rewritten-1.png")?[1][2], "2")
        XCTAssertEqual(daemon.entries(daemon.processed), ["rewritten-1.png", "rewritten.png"])
    }

    /// A long disk episode holds the classifier (once 256 inputs wait aside and the backlog is
    /// full) but is no stuck classifier: the watchdog pings go on, so systemd does not kill it.
    func testARefusingOutboxDoesNotStopTheWatchdog() throws {
        let outbox = daemon.root + "/outbox-4m"
        try mountTmpfs(outbox, kilobytes: 4096)
        daemon.extraArguments = ["--outbox", outbox]
        try daemon.start(environment: ["WATCHDOG_USEC": "400000"])
        let notify = try XCTUnwrap(daemon.notify)
        // Read what the daemon tells its service manager as systemd would: a datagram queue
        // left unread fills up and blocks the daemon's main loop.
        var pings = 0
        func drain() {
            while let message = notify.receive(timeout: 0) {
                if message.contains("WATCHDOG=1") { pings += 1 }
            }
        }
        XCTAssertEqual(try runCommand("/bin/mount", ["-o", "remount,ro", outbox]).status, 0)
        // More than 256 set aside + two waiting batches + one in hand (64 files each) hold.
        let names = try dropSamples(600, prefix: "held")
        // 256 set aside, two batches waiting, the classifier held: the rest stays in the inbox.
        XCTAssertTrue(waitUntil(timeout: 30) { drain(); return self.daemon.entries(self.daemon.inbox).count > 1 && self.waitingInputs().count == names.count }, daemon.log)
        pings = 0
        // Three seconds of reading what the daemon says, as systemd would.
        let listening = Date()
        while Date().timeIntervalSince(listening) < 3 {
            drain()
            usleep(10_000)
        }
        XCTAssertGreaterThan(pings, 5, "pings stopped while the disk refused")
        XCTAssertFalse(daemon.log.contains("no watchdog ping"), daemon.log)
        XCTAssertEqual(try runCommand("/bin/mount", ["-o", "remount,rw", outbox]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 60) { drain(); return names.allSatisfy { FileManager.default.fileExists(atPath: "\(outbox)/\($0).csv") } }, daemon.log)
        XCTAssertEqual(daemon.stop(), 0)
    }
}
