import Foundation
import TestSupport
import XCTest

/// The LazyFS fixture itself: the power-failure tests are only as good as the filesystem
/// they fail, and a LazyFS that stops answering must fail a test, not hang the run.
final class LazyFSTests: XCTestCase {
    /// The load PowerFailureTests puts on LazyFS, concentrated: writers at once (create, write,
    /// fsync, rename, link, stat, unlink), the cache dropped between their files. With LazyFS
    /// answering requests concurrently its cache corrupted itself within seconds: it aborted
    /// (unordered_map::at) or left an item lock held and answered nothing more.
    func testConcurrentWritersAndDroppedCachesNeitherHangNorCorruptLazyFS() throws {
        // Unlogged, as in CI when it hung: the log's lock and writes serialise much of LazyFS's work.
        let lazy = try LazyFS(hangLimit: 10, logsEveryOperation: false)
        final class Writer: @unchecked Sendable {
            let lock = NSLock()
            var kept: [String: [UInt8]] = [:]
            var files = 0
        }
        let writers = (0..<6).map { _ in Writer() }
        let stopping = NSLock(), finished = DispatchGroup()
        nonisolated(unsafe) var stop = false
        for (number, writer) in writers.enumerated() {
            let directory = "\(lazy.mountPoint)/w\(number)"
            try FileManager.default.createDirectory(atPath: directory + "/in", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
            finished.enter()
            Thread {
                defer { finished.leave() }
                var index = 0
                while !stopping.withLock({ stop }) {
                    writer.lock.withLock {
                        index += 1
                        let temporary = "\(directory)/.f\(index)", inbox = "\(directory)/in/f\(index)", outbox = "\(directory)/out/f\(index)"
                        let bytes = (0..<Int.random(in: 1...9000)).map { _ in UInt8.random(in: 0...255) }
                        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
                        guard fd >= 0 else { return }
                        let written = write(fd, bytes, bytes.count), synced = fsync(fd)
                        close(fd)
                        guard written == bytes.count, synced == 0, rename(temporary, inbox) == 0, link(inbox, outbox) == 0 else { return }
                        writer.kept[outbox] = bytes
                        var status = stat()
                        _ = stat(inbox, &status)
                        unlink(inbox)
                        // Freed inode numbers come back for later files.
                        let old = "\(directory)/out/f\(index - 20)"
                        if writer.kept.removeValue(forKey: old) != nil { unlink(old) }
                        writer.files += 1
                    }
                }
            }.start()
        }
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && !lazy.hasCrashed {
            usleep(UInt32.random(in: 300_000...1_500_000))
            // A power failure comes between a writer's files, as in PowerFailureTests.
            for writer in writers { writer.lock.lock() }
            lazy.clearCache()
            for writer in writers { writer.lock.unlock() }
        }
        stopping.withLock { stop = true }
        finished.wait()
        XCTAssertFalse(lazy.hasCrashed, "LazyFS died:\n\(lazy.log.suffix(3000))")
        lazy.clearCache()
        let files = writers.map(\.files).reduce(0, +)
        XCTAssertGreaterThan(files, 600, "the writers hardly wrote: LazyFS was stuck")
        var damaged: [String] = []
        for (path, bytes) in writers.flatMap(\.kept) {
            let kept = FileManager.default.contents(atPath: path).map { Array($0) }
            if kept != bytes { damaged.append("\(path) (\(kept?.count ?? -1) of \(bytes.count) bytes)") }
        }
        XCTAssertEqual(damaged, [], "fsynced files lost bytes to a dropped cache")
    }

    /// A LazyFS that answers nothing (stopped here, as its threads were when they all waited on
    /// a lock it had lost) is reported, and whoever waited on it is let go.
    func testALazyFSThatStopsAnsweringFailsTheTestInsteadOfHangingIt() throws {
        final class Reports: @unchecked Sendable {
            let lock = NSLock()
            var texts: [String] = []
        }
        let reports = Reports()
        let lazy = try LazyFS(hangLimit: 2) { report in reports.lock.withLock { reports.texts.append(report) } }
        let pid = try XCTUnwrap(lazy.processIdentifier)
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        let released = DispatchSemaphore(value: 0)
        let path = lazy.mountPoint + "/f"
        Thread {
            var status = stat()
            _ = stat(path, &status)
            released.signal()
        }.start()
        XCTAssertEqual(released.wait(timeout: .now() + 30), .success, "a caller of the stopped LazyFS still waits")
        let texts = reports.lock.withLock { reports.texts }
        XCTAssertEqual(texts.count, 1, "\(texts)")
        XCTAssertTrue(texts.first?.contains("answered nothing for 2 s") ?? false, "\(texts)")
    }
}
