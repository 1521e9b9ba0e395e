@testable import Daemon
import Foundation
import TestSupport
import XCTest

/// Replays the fuzzing corpus (Tests/FuzzCorpus/<target>), and for the inputs target the
/// samples and the shared PNG test files, through each fuzz target: none may crash, hang or
/// run away with memory.
final class UntrustedInputTests: XCTestCase {
    func testCorpusReplaysCleanlyThroughEachTarget() throws {
        for target in UntrustedInput.Target.allCases {
            var directories = ["Tests/FuzzCorpus/\(target.rawValue)"]
            if target == .inputs { directories += ["samples", "../shared/testdata/png/pngsuite", "../shared/testdata/png/crashers"] }
            var replayed = 0
            for directory in directories {
                let path = repositoryRoot + "/" + directory
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { continue }
                for name in names.sorted() {
                    guard let bytes = FileManager.default.contents(atPath: path + "/" + name) else { continue }
                    UntrustedInput.exercise(Array(bytes), as: target)
                    replayed += 1
                }
            }
            XCTAssertGreaterThanOrEqual(replayed, 6, "\(target): corpus missing")
        }
    }

    func testHostileWeightsFilesAreRefusedWithTheirReason() throws {
        let cases = [
            "architecture-overflowing-conv": "does not fit input 1x28x28",
            "architecture-larger-than-file": "needs more values than the file's",
            "architecture-huge-activations": "the layers need more than 4194304 values of memory per image",
        ]
        for (name, reason) in cases {
            let path = "\(repositoryRoot)/Tests/FuzzCorpus/weights/\(name).weights"
            XCTAssertThrowsError(try LoadedModel.load(path: path), name) { error in
                XCTAssertTrue("\(error)".hasPrefix(path + ": "), "\(error)")
                XCTAssertTrue("\(error)".contains(reason), "\(error)")
            }
        }
        XCTAssertNoThrow(try LoadedModel.load(path: "\(repositoryRoot)/Tests/FuzzCorpus/weights/conv-batchnorm.weights"))
        // The seed that carries activation ranges loads as an 8-bit model, for the fuzzer to mutate.
        let eightBit = try LoadedModel.load(path: "\(repositoryRoot)/Tests/FuzzCorpus/weights/eight-bit-conv.weights")
        XCTAssertNotNil(eightBit.quantized)
    }
}
