@testable import Daemon
import Logging
import SystemResources
import XCTest

/// The watcher alone, on a temporary inbox: which file-system events make an arrival.
final class InboxWatcherTests: XCTestCase {
    var inbox = ""
    var queue: WorkQueue!
    var watcher: InboxWatcher!
    var thread: WorkerThread!

    override func setUpWithError() throws {
        inbox = "/tmp/mnistd-watcher-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        queue = WorkQueue(capacity: 64)
        watcher = try InboxWatcher(inbox: inbox, queue: queue, counters: DaemonCounters(), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                                   prepareInbox: {})
        let watcher = self.watcher!
        thread = WorkerThread(name: "watcher") { watcher.run() }
    }

    override func tearDown() {
        watcher.stop()
        thread.join()
        try? FileManager.default.removeItem(atPath: inbox)
    }

    /// The names offered within `seconds`.
    func offered(within seconds: Double) -> [String] {
        var names: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if case .files(let taken) = queue.take(limit: 64, waitingAtMost: max(0, deadline.timeIntervalSinceNow)) { names += taken }
        }
        return names
    }

    func testAFileArrivesWhenClosedAfterWritingNotBefore() throws {
        let fd = open("\(inbox)/digit.png", O_WRONLY | O_CREAT | O_EXCL, 0o644)
        XCTAssertEqual(write(fd, "half", 4), 4)
        XCTAssertEqual(offered(within: 0.3), [], "a file still being written has not arrived")
        close(fd)
        XCTAssertEqual(offered(within: 0.3), ["digit.png"])
    }

    func testAHiddenTemporaryArrivesByItsRenameOrItsLink() throws {
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(inbox)/.renamed.png.tmp"))
        try Data("y".utf8).write(to: URL(fileURLWithPath: "\(inbox)/.linked.png.tmp"))
        XCTAssertEqual(offered(within: 0.2), [])
        XCTAssertEqual(rename("\(inbox)/.renamed.png.tmp", "\(inbox)/renamed.png"), 0)
        XCTAssertEqual(link("\(inbox)/.linked.png.tmp", "\(inbox)/linked.png"), 0)
        XCTAssertEqual(unlink("\(inbox)/.linked.png.tmp"), 0)
        XCTAssertEqual(offered(within: 0.3).sorted(), ["linked.png", "renamed.png"])
    }

    func testANameThatIsNotUTF8ArrivesUnderItsEscapedName() throws {
        let raw = (Array(inbox.utf8) + Array("/bad".utf8) + [0xFF, 0x2E, 0x70, 0x6E, 0x67, 0]).map { CChar(bitPattern: $0) }
        let fd = open(raw, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)
        XCTAssertEqual(offered(within: 0.3), ["bad\\xff.png"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: inbox), ["bad\\xff.png"])
    }
}
