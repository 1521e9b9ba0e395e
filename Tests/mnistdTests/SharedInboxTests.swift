import Foundation
import TestSupport
import XCTest

/// Daemons on several hosts sharing one inbox on a real distributed filesystem (GlusterFS,
/// each mount standing for a host): every input answered exactly once, whatever the arrivals,
/// the writers and the deaths.
final class SharedInboxTests: XCTestCase {
    var volume: GlusterVolume!
    var daemons: [DaemonHarness] = []
    let sample = repositoryRoot + "/samples/digit-7-mnist-28px-gray.png"

    override func setUpWithError() throws {
        do {
            volume = try GlusterVolume()
        } catch let unavailable as GlusterVolume.Unavailable {
            throw XCTSkip(unavailable.reason)
        }
        try FileManager.default.createDirectory(atPath: volume.scannerMount + "/spool/inbox", withIntermediateDirectories: true)
    }

    override func tearDown() {
        for daemon in daemons where daemon.isRunning { daemon.killHard() }
        daemons = []
        volume = nil
    }

    /// The shared spool seen through `mount`.
    func spool(_ mount: String) -> String { "\(mount)/spool" }
    var scannerSpool: String { spool(volume.scannerMount) }

    /// A daemon whose spool is on the volume through `mount`; its models and socket stay local.
    func daemon(on mount: String, instance: String, _ extra: [String] = []) throws -> DaemonHarness {
        let harness = try DaemonHarness()
        let shared = spool(mount)
        harness.extraArguments = ["--inbox", "\(shared)/inbox", "--outbox", "\(shared)/outbox", "--failed", "\(shared)/failed",
                                  "--processed", "\(shared)/processed", "--instance", instance] + extra
        daemons.append(harness)
        return harness
    }

    /// Drops copies of the sample as `prefix-N.png` for each N in `range` through `mount`, each
    /// written under a hidden name and renamed, by cp and mv.
    func dropScript(through mount: String, prefix: String, _ range: Range<Int>) -> [String] {
        let inbox = "\(spool(mount))/inbox"
        return ["-c", "for i in $(seq \(range.lowerBound) \(range.upperBound - 1)); do cp \(sample) \(inbox)/.\(prefix)-$i.tmp && mv \(inbox)/.\(prefix)-$i.tmp \(inbox)/\(prefix)-$i.png || exit 1; done"]
    }

    func entries(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// Inputs still claimed by any instance (through the scanner's mount).
    func claimedInputs() -> [String] { mnistdTests.claimedInputs(inbox: "\(scannerSpool)/inbox").sorted() }

    /// Waits until every input has its CSV; then checks each was answered exactly once: one
    /// CSV of that name and no `-N` twin, the input once in processed/, nothing failed or
    /// still claimed.
    func assertEachAnsweredOnce(_ names: [String], timeout: Double, file: StaticString = #filePath, line: UInt = #line) {
        let outbox = "\(scannerSpool)/outbox"
        let finished = waitUntil(timeout: timeout) {
            self.entries(outbox).filter { $0.hasSuffix(".csv") }.count >= names.count && self.claimedInputs().isEmpty
        }
        XCTAssertTrue(finished, "\(entries(outbox).count) of \(names.count) answered; still claimed: \(claimedInputs().prefix(5))\n"
                      + daemons.map(\.notableLog).joined(separator: "\n---\n"), file: file, line: line)
        XCTAssertEqual(entries(outbox).filter { !$0.hasPrefix(".") }, names.map { "\($0).csv" }.sorted(), "one CSV each, none doubled", file: file, line: line)
        XCTAssertEqual(entries("\(scannerSpool)/processed"), names.sorted(), file: file, line: line)
        XCTAssertEqual(entries("\(scannerSpool)/failed"), [], file: file, line: line)
        XCTAssertEqual(entries("\(scannerSpool)/inbox").filter { $0 != ".claimed" }, [], file: file, line: line)
    }

    func classifiedCount(_ daemon: DaemonHarness) -> Int { daemon.log.components(separatedBy: "classified ").count - 1 }

    /// 2,000 files at once through a scanner's mount where no daemon runs and through both
    /// daemons' own mounts, plus a slow writer on the scanner that writes in place: each gets
    /// one CSV, both daemons do part of the work, and the slow file is read only once whole.
    func testTwoDaemonsShareTheArrivalsOfThreeHostsAndAnswerEachOnce() throws {
        let first = try daemon(on: volume.daemonMounts[0], instance: "first")
        let second = try daemon(on: volume.daemonMounts[1], instance: "second")
        try first.start()
        try second.start()
        XCTAssertTrue(first.log.contains("inotify and listing it every 1.0 s"), first.log)
        XCTAssertTrue(first.log.contains("FUSE"), first.log)

        let writers = [(volume.scannerMount, "scanner", 0..<1000), (volume.daemonMounts[0], "first", 0..<500), (volume.daemonMounts[1], "second", 0..<500)]
        let slow = "\(scannerSpool)/inbox/slow.png"
        let sampleBytes = try Data(contentsOf: URL(fileURLWithPath: sample))
        let chunks = stride(from: 0, to: sampleBytes.count, by: 64).map { sampleBytes[$0..<min($0 + 64, sampleBytes.count)] }
        let scripts = writers.map { mount, prefix, range in dropScript(through: mount, prefix: prefix, range) }
        nonisolated(unsafe) var statuses: [Int32] = [0, 0, 0]
        DispatchQueue.concurrentPerform(iterations: writers.count + 1) { index in
            if index == writers.count {
                // In place, a chunk every 0.3 s: never the same in two listings until done.
                let file = open(slow, O_WRONLY | O_CREAT | O_EXCL, 0o644)
                for chunk in chunks {
                    _ = Data(chunk).withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
                    usleep(300_000)
                }
                close(file)
                return
            }
            statuses[index] = (try? runCommand("/bin/bash", scripts[index]).status) ?? -1
        }
        XCTAssertEqual(statuses, [0, 0, 0])
        let names = writers.flatMap { _, prefix, range in range.map { "\(prefix)-\($0).png" } } + ["slow.png"]
        assertEachAnsweredOnce(names, timeout: 240)
        let slowCSV = try String(contentsOfFile: "\(scannerSpool)/outbox/slow.png.csv", encoding: .utf8)
        XCTAssertTrue(slowCSV.contains("slow.png,0,7,ok"), slowCSV)
        // Each input is logged once its batch is committed, which on GlusterFS is after its CSV is visible.
        var shares = [0, 0]
        _ = waitUntil(timeout: 30) {
            shares = [self.classifiedCount(first), self.classifiedCount(second)]
            return shares.reduce(0, +) >= names.count
        }
        print("shared inbox: \(names.count) files, classified by the first daemon \(shares[0]), by the second \(shares[1])")
        XCTAssertEqual(shares.reduce(0, +), names.count)
        XCTAssertTrue(shares.allSatisfy { $0 > 0 }, "both daemons take part: \(shares)")
        XCTAssertEqual(first.stop(), 0)
        XCTAssertEqual(second.stop(), 0)
        XCTAssertEqual(entries("\(scannerSpool)/inbox/.claimed"), [], "clean stops leave no instance behind")
    }

    /// One daemon killed mid-stream and never restarted: the other takes its claims over once
    /// its lease has not changed for the timeout, and finishes them; nothing lost or doubled.
    func testADeadDaemonsClaimsAreFinishedByTheOtherAfterItsLease() throws {
        let doomed = try daemon(on: volume.daemonMounts[0], instance: "doomed", ["--lease-timeout", "4"])
        let survivor = try daemon(on: volume.daemonMounts[1], instance: "survivor", ["--lease-timeout", "4"])
        try doomed.start()
        try survivor.start()
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/bin/bash")
        writer.arguments = dropScript(through: volume.scannerMount, prefix: "d", 0..<600)
        try writer.run()
        let doomedClaims = "\(scannerSpool)/inbox/.claimed"
        XCTAssertTrue(waitUntil(timeout: 60) {
            self.entries(doomedClaims).first { $0.hasPrefix("doomed@") }.map { self.claimedInputs(under: "\(doomedClaims)/\($0)") > 0 } ?? false
        }, doomed.log)
        doomed.killHard()
        writer.waitUntilExit()
        assertEachAnsweredOnce((0..<600).map { "d-\($0).png" }, timeout: 240)
        XCTAssertTrue(survivor.log.contains("whose lease lapsed"), survivor.log)
        XCTAssertEqual(survivor.stop(), 0)
    }

    func claimedInputs(under directory: String) -> Int {
        entries(directory).filter { $0 != "lease" }.map { entries("\(directory)/\($0)").count }.reduce(0, +)
    }

    /// Both daemons killed at random moments, twenty times over, while files keep coming;
    /// restarted each time: every input answered once at the end.
    func testBothDaemonsKilledAtRandomTwentyTimesLoseAndDoubleNothing() throws {
        let pair = [try daemon(on: volume.daemonMounts[0], instance: "first"), try daemon(on: volume.daemonMounts[1], instance: "second")]
        var generator = SystemRandomNumberGenerator()
        var names: [String] = []
        // Started together, as hosts coming back from a power cut are: each must finish its own
        // claims, not the other's.
        func startBoth() {
            nonisolated(unsafe) let daemons = pair
            DispatchQueue.concurrentPerform(iterations: daemons.count) { index in
                do { try daemons[index].start() } catch { XCTFail("\(error)") }
            }
        }
        for cycle in 0..<20 {
            startBoth()
            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: "/bin/bash")
            writer.arguments = dropScript(through: volume.scannerMount, prefix: "c\(cycle)", 0..<40)
            try writer.run()
            names += (0..<40).map { "c\(cycle)-\($0).png" }
            for daemon in pair.shuffled(using: &generator) {
                usleep(UInt32.random(in: 0...600_000, using: &generator))
                daemon.killHard()
            }
            writer.waitUntilExit()
        }
        startBoth()
        assertEachAnsweredOnce(names, timeout: 240)
        print("kill -9 cycles: \(pair.map { $0.log.components(separatedBy: "claimed before the last stop").count - 1 }) restarts found unfinished claims")
        for daemon in pair { XCTAssertEqual(daemon.stop(), 0) }
    }

    /// A polling daemon on an unchanged folder costs next to nothing; a file renamed into the
    /// inbox by another host is answered within the interval, the settling time and a classification.
    func testPollingIsCheapWhenIdleAndPromptOnArrival() throws {
        let poller = try daemon(on: volume.daemonMounts[0], instance: "poller", ["--watch", "poll"])
        try poller.start()
        XCTAssertTrue(poller.log.contains("listing it every 1.0 s (watch = poll)"), poller.log)
        let pid = try XCTUnwrap(poller.process?.processIdentifier)
        func cpuTicks() throws -> Int {
            let fields = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8).split(separator: ")").last!.split(separator: " ")
            return Int(fields[11])! + Int(fields[12])!
        }
        sleep(1)
        let before = try cpuTicks()
        sleep(10)
        let idleSeconds = Double(try cpuTicks() - before) / Double(sysconf(Int32(_SC_CLK_TCK)))
        var delays: [Double] = []
        for index in 0..<8 {
            usleep(UInt32.random(in: 0...1_000_000))
            let start = Date()
            XCTAssertEqual(try runCommand("/bin/bash", dropScript(through: volume.scannerMount, prefix: "p", index..<(index + 1))).status, 0)
            XCTAssertTrue(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: "\(self.scannerSpool)/outbox/p-\(index).png.csv") })
            delays.append(Date().timeIntervalSince(start))
        }
        print("polling: idle CPU \(idleSeconds) s in 10 s; rename to CSV \(delays.map { String(format: "%.2f", $0) }) s")
        XCTAssertLessThan(idleSeconds, 0.2, "an idle poller costs next to nothing")
        XCTAssertLessThan(delays.max()!, 1.0 + 0.5, "the interval + a classification and its commit")
        XCTAssertEqual(poller.stop(), 0)
    }
}
