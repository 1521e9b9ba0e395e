import Foundation
import NeuralNet
import XCTest

final class WeightsFileTests: XCTestCase {
    func sample() -> WeightsFile {
        WeightsFile(network: Network(kind: .cnn, seed: 9), metadata: ["dataset": "mnist", "epochs": "3"])
    }

    func testRoundTripKeepsEverything() throws {
        let original = sample()
        let decoded = try WeightsFile(decoding: original.encoded(), source: "x.weights")
        XCTAssertEqual(decoded.network.parameters, original.network.parameters)
        XCTAssertEqual(decoded.network.kind, .cnn)
        XCTAssertEqual(decoded.network.architecture, ModelKind.cnn.architecture)
        XCTAssertEqual(decoded.metadata, original.metadata)
        XCTAssertEqual(decoded.modelID, original.modelID)
        XCTAssertTrue(original.modelID.hasPrefix("cnn-"))
    }

    func testEveryTruncationIsAnErrorNotACrash() {
        let bytes = sample().encoded()
        let lengths = Array(0..<64) + Array(stride(from: 64, to: bytes.count, by: 997)) + [bytes.count - 1]
        for length in lengths {
            XCTAssertThrowsError(try WeightsFile(decoding: Array(bytes[0..<length]), source: "cut.weights"), "length \(length)") { error in
                XCTAssertTrue("\(error)".hasPrefix("cut.weights: "), "\(error)")
            }
            // Sealed again with a right checksum, the cut reaches the parser's own checks.
            let sealed = resealed(Array(bytes[0..<length]) + [0, 0, 0, 0])
            XCTAssertThrowsError(try WeightsFile(decoding: sealed, source: "sealed.weights"), "length \(length)") { error in
                XCTAssertTrue("\(error)".hasPrefix("sealed.weights: "), "\(error)")
                XCTAssertFalse("\(error)".contains("checksum mismatch"), "length \(length): \(error)")
            }
        }
    }

    func testCorruptedByteFailsTheChecksum() {
        var bytes = sample().encoded()
        bytes[bytes.count / 2] ^= 0x40
        XCTAssertThrowsError(try WeightsFile(decoding: bytes, source: "bad.weights")) { error in
            XCTAssertEqual("\(error)", "bad.weights: checksum mismatch: the file is truncated or corrupted")
        }
    }

    func testBadMagicAndFutureVersion() {
        XCTAssertThrowsError(try WeightsFile(decoding: Array("PNG not weights at all".utf8), source: "a")) { error in
            XCTAssertEqual("\(error)", "a: not an mnistd weights file (bad magic number)")
        }
        var bytes = sample().encoded()
        bytes[8] = 2
        XCTAssertThrowsError(try WeightsFile(decoding: resealed(bytes), source: "b")) { error in
            XCTAssertEqual("\(error)", "b: format version 2 is not supported (this build reads version 1)")
        }
    }

    /// A file whose tensors do not fit the architecture it declares.
    func testWrongArchitectureIsRefused() throws {
        let file = sample()
        var bytes = file.encoded()
        let text = Array(file.network.architecture.utf8)
        let patched = Array(file.network.architecture.replacingOccurrences(of: "dense 128", with: "dense 127").utf8)
        let start = try XCTUnwrap(bytes.firstRange(of: text)).lowerBound
        bytes.replaceSubrange(start..<start + text.count, with: patched)
        XCTAssertThrowsError(try WeightsFile(decoding: resealed(bytes), source: "c")) { error in
            XCTAssertTrue("\(error)".contains("wrong architecture: found tensor layer7.weight [512, 128], expected layer7.weight [512, 127]"), "\(error)")
        }
    }

    func testUnknownKindAndNonFiniteWeights() throws {
        var bytes = sample().encoded()
        let kind = Array("kind=cnn".utf8)
        let start = try XCTUnwrap(bytes.firstRange(of: kind)).lowerBound
        bytes.replaceSubrange(start..<start + kind.count, with: Array("kind=rnn".utf8))
        XCTAssertThrowsError(try WeightsFile(decoding: resealed(bytes), source: "d")) { error in
            XCTAssertTrue("\(error)".contains("unknown model kind \"rnn\""), "\(error)")
        }
        var network = try Network(kind: .mlpSeed, architecture: ModelKind.mlpSeed.architecture, parameters: nil)
        var values = network.parameters
        values[5] = .nan
        network = try Network(kind: .mlpSeed, architecture: ModelKind.mlpSeed.architecture, parameters: values)
        XCTAssertThrowsError(try WeightsFile(decoding: WeightsFile(network: network).encoded(), source: "e")) { error in
            XCTAssertEqual("\(error)", "e: weights contain NaN or infinity")
        }
    }

    func testAnArchitectureLargerThanTheFileIsRefusedBeforeAllocating() throws {
        var bytes = WeightsFile(network: Network(kind: .mlpSeed, seed: 1)).encoded()
        let architecture = Array("dense 128".utf8)
        let start = try XCTUnwrap(bytes.firstRange(of: architecture)).lowerBound
        // Same length, five times the parameters the 400 KB file holds.
        bytes.replaceSubrange(start..<start + architecture.count, with: Array("dense 655".utf8))
        XCTAssertThrowsError(try WeightsFile(decoding: resealed(bytes), source: "big.weights")) { error in
            XCTAssertTrue("\(error)".contains("needs more values than the file's"), "\(error)")
        }
    }
}
