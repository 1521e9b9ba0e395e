@testable import Daemon
import InputSpool
import Logging
import SystemResources
import XCTest

/// The poller alone, on a temporary inbox: what a listing takes for an arrival.
final class InboxPollerTests: XCTestCase {
    var inbox = ""
    var queue: WorkQueue!
    var poller: InboxPoller!

    override func setUpWithError() throws {
        inbox = "/tmp/mnistd-poller-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        queue = WorkQueue(capacity: 64)
        poller = InboxPoller(inbox: inbox, queue: queue, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, intervalSeconds: 0.2) {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            return LeaseStamp(now)
        }
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: inbox)
    }

    func waiting() -> [String] {
        if case .files(let names) = queue.take(limit: 64, waitingAtMost: 0) { return names }
        return []
    }

    func testAFileIsTakenOnceTwoListingsFindItTheSame() throws {
        FileManager.default.createFile(atPath: "\(inbox)/.digit.png.tmp", contents: Data("x".utf8))
        XCTAssertEqual(rename("\(inbox)/.digit.png.tmp", "\(inbox)/digit.png"), 0)
        FileManager.default.createFile(atPath: "\(inbox)/.hidden.png", contents: Data("x".utf8))
        XCTAssertTrue(poller.look(), "new: looked at again soon")
        XCTAssertEqual(waiting(), [])
        XCTAssertFalse(poller.look())
        XCTAssertEqual(waiting(), ["digit.png"])
        XCTAssertFalse(poller.look(), "an unchanged folder")
    }

    /// A file written a while before it was renamed in is taken at the first listing that sees it.
    func testAFileLeftAloneLongEnoughIsTakenAtTheFirstListing() throws {
        FileManager.default.createFile(atPath: "\(inbox)/.old.png.tmp", contents: Data("x".utf8))
        var times = [timespec(tv_sec: time(nil) - 10, tv_nsec: 0), timespec(tv_sec: time(nil) - 10, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, "\(inbox)/.old.png.tmp", &times, 0), 0)
        XCTAssertEqual(rename("\(inbox)/.old.png.tmp", "\(inbox)/old.png"), 0)
        _ = poller.look()
        XCTAssertEqual(waiting(), ["old.png"])
    }

    /// A writer that breaks the contract and writes in place: nothing is taken while its size
    /// or modification time changes between listings.
    func testAFileStillBeingWrittenWaits() throws {
        let fd = open("\(inbox)/slow.png", O_WRONLY | O_CREAT | O_EXCL, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        for _ in 0..<5 {
            XCTAssertEqual(write(fd, "chunk", 5), 5)
            XCTAssertTrue(poller.look())
            XCTAssertEqual(waiting(), [])
        }
        close(fd)
        XCTAssertFalse(poller.look())
        XCTAssertEqual(waiting(), ["slow.png"])
    }

    func testTheServiceFindsAFileWithinTheIntervalAndTheSettlingTime() throws {
        let thread = WorkerThread(name: "poller") { [poller] in poller!.run() }
        defer {
            poller.stop()
            thread.join()
        }
        usleep(50_000)
        let dropped = Date()
        FileManager.default.createFile(atPath: "\(inbox)/.a.tmp", contents: Data("x".utf8))
        XCTAssertEqual(rename("\(inbox)/.a.tmp", "\(inbox)/a.png"), 0)
        let work = queue.take(limit: 64, waitingAtMost: 2)
        XCTAssertEqual(work, .files(["a.png"]))
        XCTAssertLessThan(Date().timeIntervalSince(dropped), poller.intervalSeconds + poller.stableSeconds + 0.1)
    }

    func testWatchingIsChosenByTheInboxsFilesystem() {
        let ext4: Int64 = 0xEF53, nfs: Int64 = 0x6969, fuse: Int64 = 0x6573_5546
        XCTAssertEqual(WatchMode.auto.choice(filesystemType: ext4).polling, false)
        XCTAssertEqual(WatchMode.auto.choice(filesystemType: nfs).polling, true)
        XCTAssertEqual(WatchMode.auto.choice(filesystemType: fuse).inotify, true, "kept for what this host writes")
        XCTAssertTrue(WatchMode.auto.choice(filesystemType: fuse).reason.contains("FUSE"))
        XCTAssertEqual(WatchMode.poll.choice(filesystemType: ext4).inotify, false)
        XCTAssertEqual(WatchMode.inotify.choice(filesystemType: nfs).polling, false)
    }
}
