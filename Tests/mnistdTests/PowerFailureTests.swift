import Formats
import Foundation
import TestSupport
import XCTest

/// Power failures, not just kill -9: the state directory on LazyFS, whose cache of unsynced
/// data is dropped at the failure. Files come from a well-behaved writer (write, fsync, rename
/// into the inbox); afterwards every input it delivered has exactly one complete, correct CSV
/// and sits, whole, in processed/.
final class PowerFailureTests: XCTestCase {
    /// The shipped samples (PNGs of every kind and a 100-image IDX batch) and their labels.
    private static let samples: [(name: String, bytes: [UInt8], labels: [String])] = {
        let rows = parseCSV((try? String(contentsOfFile: repositoryRoot + "/samples/labels.csv", encoding: .utf8)) ?? "").dropFirst()
        return rows.map { row in
            let bytes = FileManager.default.contents(atPath: repositoryRoot + "/samples/" + row[0]).map { Array($0) } ?? []
            return (row[0], bytes, row[1].split(separator: " ").map(String.init))
        }
    }()

    /// An input delivered into the inbox: its name, bytes and the labels its CSV must give.
    private struct Delivered {
        let name: String
        let bytes: [UInt8]
        let labels: [String]
    }

    /// Writes `index`'s sample as a well-behaved writer does: under a temporary name outside
    /// the inbox (on the same filesystem), fsynced (unless not `durably`, as `cp` does), then
    /// renamed in. Nil when the filesystem refused (it crashed): the writer tries again later.
    private static func deliver(_ index: Int, staging: String, inbox: String, durably: Bool = true) -> Delivered? {
        let sample = Self.samples[index % Self.samples.count]
        let name = String(format: "f%04d-", index) + sample.name
        let temporary = "\(staging)/\(name)"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { return nil }
        let written = sample.bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = !durably || fsync(fd) == 0
        close(fd)
        guard written == sample.bytes.count, synced, rename(temporary, "\(inbox)/\(name)") == 0 else { return nil }
        return Delivered(name: name, bytes: sample.bytes, labels: sample.labels)
    }

    /// Every delivered input has one complete, correct CSV and is in processed/ with its
    /// original bytes; nothing else is in outbox/, failed/ or processed/, and nothing is empty.
    private func checkNothingLost(_ delivered: [Delivered], _ daemon: DaemonHarness, _ when: String, file: StaticString = #filePath, line: UInt = #line) {
        // Hidden names are the daemon's temporaries, which a kill leaves for the next start.
        func published(_ directory: String) -> Set<String> { Set(daemon.entries(directory).filter { !$0.hasPrefix(".") }) }
        let csvs = Set(delivered.map { $0.name + ".csv" }), outbox = published(daemon.outbox)
        XCTAssertEqual(outbox, csvs, "\(when): extra CSVs \(outbox.subtracting(csvs).sorted().prefix(5)), missing \(csvs.subtracting(outbox).sorted().prefix(5))", file: file, line: line)
        let names = Set(delivered.map(\.name)), processed = published(daemon.processed)
        XCTAssertEqual(processed, names, "\(when): extra processed inputs \(processed.subtracting(names).sorted().prefix(5)), missing \(names.subtracting(processed).sorted().prefix(5))", file: file, line: line)
        XCTAssertEqual(published(daemon.failed), [], "\(when): inputs failed", file: file, line: line)
        var empty: [String] = [], torn: [String] = [], changed: [String] = [], wrong = 0
        for input in delivered {
            let csvPath = "\(daemon.outbox)/\(input.name).csv"
            if (try? FileManager.default.attributesOfItem(atPath: csvPath)[.size] as? Int) == 0 { empty.append(input.name) }
            if let rows = daemon.csv(for: input.name) {
                let complete = rows.count == input.labels.count + 1 && rows.dropFirst().allSatisfy { $0.count == 16 && $0[0] == input.name && $0[3] == "ok" }
                if complete { wrong += zip(rows.dropFirst().map { $0[2] }, input.labels).filter { $0 != $1 }.count } else { torn.append(input.name) }
            }
            if let kept = FileManager.default.contents(atPath: "\(daemon.processed)/\(input.name)"), Array(kept) != input.bytes {
                changed.append("\(input.name) (\(kept.count) of \(input.bytes.count) bytes)")
            }
        }
        XCTAssertEqual(empty.count, 0, "\(when): \(empty.count) of \(delivered.count) CSVs are empty, e.g. \(empty.prefix(3))", file: file, line: line)
        XCTAssertEqual(torn.count, 0, "\(when): \(torn.count) CSVs are torn or malformed, e.g. \(torn.prefix(3))", file: file, line: line)
        XCTAssertEqual(changed.count, 0, "\(when): \(changed.count) processed inputs lost bytes, e.g. \(changed.prefix(3))", file: file, line: line)
        // As in InboxTests: the shipped model misreads at most one digit of the IDX batch.
        XCTAssertLessThanOrEqual(wrong, delivered.filter { $0.labels.count > 1 }.count, "\(when): labels changed", file: file, line: line)
    }

    /// The defect this was written for: a batch's CSVs were published by link with their
    /// bytes still only in a cache (syncfs does not reach a FUSE filesystem), and 999 of 1,000
    /// came back empty after the failure. Half the inputs are copied in without an fsync:
    /// once their CSVs are published, processed/ must keep them whole too.
    func testEveryPublishedReportSurvivesAPowerFailure() throws {
        let lazy = try LazyFS()
        let daemon = try DaemonHarness(stateDirectory: lazy.mountPoint + "/var")
        let staging = lazy.mountPoint + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try daemon.start()
        XCTAssertTrue(daemon.log.contains("flushing to disk with an fsync per file"), "syncfs is no barrier on FUSE:\n\(daemon.log)")
        let delivered = (0..<1000).compactMap { Self.deliver($0, staging: staging, inbox: daemon.inbox, durably: $0 % 2 == 0) }
        XCTAssertEqual(delivered.count, 1000)
        guard daemon.waitForOutcomes(delivered.map(\.name), timeout: 120) else {
            return XCTFail("not every input was finished:\n\(daemon.log.suffix(2000))\nLazyFS:\n\(lazy.log.suffix(2000))")
        }
        daemon.killHard()
        lazy.clearCache()
        checkNothingLost(delivered, daemon, "after the power failure")
        // The next start finds nothing to redo, and doubles nothing.
        try daemon.start()
        XCTAssertEqual(daemon.stop(), 0)
        checkNothingLost(delivered, daemon, "after the restart")
    }

    /// kill -9 and a cleared cache at random moments while files stream in.
    func testPowerFailuresWhileFilesStreamInLoseNothing() throws {
        // 5 failures in the suite; MNISTD_POWER_FAILURES=100 for the long run.
        let failures = ProcessInfo.processInfo.environment["MNISTD_POWER_FAILURES"].flatMap(Int.init) ?? 5
        let lazy = try LazyFS()
        let daemon = try DaemonHarness(stateDirectory: lazy.mountPoint + "/var")
        let staging = lazy.mountPoint + "/staging", inbox = daemon.inbox
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try daemon.start()
        // The writer drops files one by one or in bursts; a failure comes between two of its
        // files (a writer's own half-written temporary is the writer's to redo).
        final class Writing: @unchecked Sendable {
            let lock = NSLock()
            var delivered: [Delivered] = []
            var stop = false
        }
        let writing = Writing()
        let writer = Thread {
            var index = 0
            while true {
                let burst = Bool.random() ? 1 : Int.random(in: 2...40)
                writing.lock.lock()
                if writing.stop { writing.lock.unlock(); return }
                for _ in 0..<burst {
                    if let input = Self.deliver(index, staging: staging, inbox: inbox) { writing.delivered.append(input) }
                    index += 1
                }
                writing.lock.unlock()
                usleep(UInt32.random(in: 1_000...60_000))
            }
        }
        writer.start()
        for _ in 0..<failures {
            usleep(UInt32.random(in: 100_000...1_500_000))
            writing.lock.lock()
            daemon.killHard()
            lazy.clearCache()
            try daemon.start()
            writing.lock.unlock()
        }
        let all = writing.lock.withLock {
            writing.stop = true
            return writing.delivered
        }
        guard daemon.waitForOutcomes(all.map(\.name), timeout: 120) else {
            // A daemon stuck in a filesystem call would not stop on SIGTERM either.
            return XCTFail("not every input was finished:\n\(daemon.log.suffix(2000))\nLazyFS:\n\(lazy.log.suffix(2000))")
        }
        XCTAssertEqual(daemon.stop(), 0)
        // A last failure with everything published: what is published stays so.
        lazy.clearCache()
        checkNothingLost(all, daemon, "after \(failures) power failures")
        print("power-failure test: \(failures) failures, \(all.count) inputs, \(daemon.log.components(separatedBy: "claimed before the last stop").count - 1) restarts found unfinished claims")
    }

    /// A power failure at each step of the commit sequence in turn (LazyFS kills itself at the
    /// first matching operation, its cache unwritten), for a lone file and for a batch.
    func testAPowerFailureAtEachStepOfTheCommitLosesNothing() throws {
        let temporary = #"outbox/\.mnistd-"#
        let steps: [(name: String, operation: String, from: String, to: String?)] = [
            ("claim", "rename", "inbox/f", #"\.claimed/"#),
            ("report created", "create", temporary, nil),
            ("report written", "write", temporary, nil),
            ("report flushed", "fsync", temporary, nil),
            ("input flushed", "fsync", #"\.claimed/"#, nil),
            ("report published", "link", temporary, "outbox/f"),
            // FUSE refuses RENAME_NOREPLACE: the input moves by a link, then its claim's unlink.
            ("input linked", "link", #"\.claimed/"#, "processed/"),
            ("claim unlinked", "unlink", #"\.claimed/"#, nil),
            ("temporary removed", "unlink", temporary, nil),
        ]
        let lazy = try LazyFS()
        let daemon = try DaemonHarness(stateDirectory: lazy.mountPoint + "/var")
        let staging = lazy.mountPoint + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        var delivered: [Delivered] = []
        var index = 0
        for files in [1, 12] {
            for step in steps {
                for before in [true, false] {
                    let when = "power failure \(before ? "before" : "after") \(step.name), \(files) file(s)"
                    try daemon.start()
                    lazy.crash(at: step.operation, before: before, from: step.from, to: step.to)
                    var pending = Array(index..<index + files)
                    index += files
                    pending.removeAll { number in Self.deliver(number, staging: staging, inbox: daemon.inbox).map { delivered.append($0) } != nil }
                    XCTAssertTrue(waitUntil(timeout: 30) { lazy.hasCrashed }, "\(when): the fault never fired:\n\(daemon.log.suffix(1500))")
                    daemon.killHard()
                    lazy.unmount()
                    try lazy.mount()
                    try daemon.start()
                    // The writer delivers again what the failure interrupted.
                    delivered += pending.compactMap { Self.deliver($0, staging: staging, inbox: daemon.inbox) }
                    guard daemon.waitForOutcomes(delivered.map(\.name), timeout: 60) else {
                        return XCTFail("\(when): not every input was finished:\n\(daemon.log.suffix(1500))\nLazyFS:\n\(lazy.log.suffix(1500))")
                    }
                    XCTAssertEqual(daemon.stop(), 0)
                    checkNothingLost(delivered, daemon, when)
                }
            }
        }
    }
}
