import Foundation
import TestSupport
import XCTest

/// The LazyFS fixture itself: the power-failure tests are only as good as the filesystem
/// they fail, and a LazyFS that stops answering must fail a test, not hang the run.
final class LazyFSTests: XCTestCase {
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
