import Classification
import Foundation
@testable import FuzzTargets
import TestSupport
import XCTest

/// Replays the fuzzing corpus (Tests/FuzzCorpus/<target>), and for the inputs target the
/// samples and the shared PNG test files, through each fuzz target: none may crash, hang or
/// run away with memory.
final class UntrustedInputTests: XCTestCase {
    func testCorpusReplaysCleanlyThroughEachTarget() throws {
        let clock = ContinuousClock()
        XCTAssertGreaterThan(residentMegabytes(), 0, "the memory bound below reads /proc/self/status")
        for target in UntrustedInput.Target.allCases {
            var directories = ["Tests/FuzzCorpus/\(target.rawValue)"]
            if target == .inputs { directories += ["samples", "../shared/testdata/png/pngsuite", "../shared/testdata/png/crashers"] }
            var replayed = 0
            for directory in directories {
                let path = repositoryRoot + "/" + directory
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                    XCTAssertTrue(directory.hasPrefix("../shared/"), "\(path): the repository's own corpus is missing")
                    print("UntrustedInputTests: \(path) is absent; its files were not replayed")
                    continue
                }
                for name in names.sorted() {
                    let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path + "/" + name), "\(path)/\(name) cannot be read")
                    let started = clock.now
                    UntrustedInput.exercise(Array(bytes), as: target)
                    // Debug build: the largest seeds take well under a second.
                    XCTAssertLessThan(clock.now - started, .seconds(10), "\(target): \(path)/\(name) took too long")
                    XCTAssertLessThan(residentMegabytes(), 2048, "\(target): \(path)/\(name) left the process this large")
                    replayed += 1
                }
            }
            XCTAssertGreaterThanOrEqual(replayed, 6, "\(target): corpus missing")
        }
    }

    /// The process's resident memory (VmRSS), in MB.
    func residentMegabytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
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
