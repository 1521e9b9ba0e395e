@testable import Daemon
import Foundation
import XCTest

/// Replays the fuzzing corpus (Tests/FuzzCorpus), the samples and the shared PNG test files
/// through every parser of outside bytes: none may crash, hang or run away with memory.
final class UntrustedInputTests: XCTestCase {
    func testCorpusReplaysCleanly() throws {
        var root = #filePath
        for _ in 0..<3 { root = (root as NSString).deletingLastPathComponent }
        var replayed = 0
        for directory in ["Tests/FuzzCorpus", "samples", "../shared/testdata/png/pngsuite", "../shared/testdata/png/crashers"] {
            let path = root + "/" + directory
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { continue }
            for name in names.sorted() {
                guard let bytes = FileManager.default.contents(atPath: path + "/" + name) else { continue }
                UntrustedInput.exercise(Array(bytes))
                replayed += 1
            }
        }
        XCTAssertGreaterThan(replayed, 10)
    }
}
