import Foundation
import Synchronization
import Tensor
import XCTest

final class ThreadPoolTests: XCTestCase {
    /// Every part of every region runs exactly once, even when a worker is preempted between
    /// claiming a part and checking it belongs to the region: busy threads competing for the
    /// cores make that happen while thousands of short regions of varying sizes follow each other.
    func testEveryPartRunsExactlyOnceUnderPreemption() {
        let stop = Atomic<Bool>(false)
        let competitors = (0..<4).map { _ in
            Thread {
                var x = 0.0
                while !stop.load(ordering: .relaxed) { x += 1 }
                _ = x
            }
        }
        competitors.forEach { $0.start() }
        defer { stop.store(true, ordering: .relaxed) }

        let runs = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { runs.deallocate() }
        let box = UncheckedSendable(runs)
        var wrongRegions = 0
        for region in 0..<2_000_000 {
            let parts = 2 + region % 7
            runs.initialize(repeating: 0, count: parts)
            parallelFor(parts) { part in box.value[part] += 1 }
            if (0..<parts).contains(where: { runs[$0] != 1 }) { wrongRegions += 1 }
        }
        XCTAssertEqual(wrongRegions, 0, "regions in which a part ran twice or never")
    }
}
