@testable import Daemon
import SystemResources
import XCTest

final class WorkQueueTests: XCTestCase {
    func testDeduplicatesAndKeepsOrder() {
        let queue = WorkQueue(capacity: 10)
        for name in ["a", "b", "a", "c"] { queue.offer(name) }
        XCTAssertEqual(queue.depth, 3)
        XCTAssertEqual(queue.take(limit: 2), .files(["a", "b"]))
        queue.offer("a")
        XCTAssertEqual(queue.take(limit: 5), .files(["c", "a"]))
    }

    func testOverflowOwesARescanInsteadOfBlocking() {
        let queue = WorkQueue(capacity: 2)
        XCTAssertTrue(queue.offer("a"))
        XCTAssertTrue(queue.offer("b"))
        XCTAssertFalse(queue.offer("c"))
        XCTAssertEqual(queue.take(limit: 10), .files(["a", "b"]))
        XCTAssertEqual(queue.take(limit: 10), .rescan)
    }

    func testCloseWakesAWaitingTaker() {
        let queue = WorkQueue(capacity: 2)
        let taken = expectation(description: "take returns nil")
        let thread = WorkerThread(name: "taker") {
            if queue.take(limit: 1) == nil { taken.fulfill() }
        }
        usleep(50_000)
        queue.close()
        wait(for: [taken], timeout: 5)
        thread.join()
    }
}
