import Drawing
import Formats
import Foundation
import NeuralNet
import TestSupport
import XCTest

/// Things that are not digits, dropped into a daemon running with the recommended minimum
/// confidence: which share it declines to answer, against the share of real MNIST test
/// digits it wrongly declines. The figures are printed for the README.
final class OutOfDistributionTests: XCTestCase {
    /// The `--min-confidence` the README recommends.
    static let recommendedMinimum = 0.8

    func testNonDigitsAreRejectedAndRealDigitsAreNot() throws {
        let mnist = try mnistTestSet()
        let fashionDirectory = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: fashionDirectory + "/t10k-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
        }
        let fashion = try readMNIST(directory: fashionDirectory, split: .test)
        let daemon = try DaemonHarness()
        daemon.extraArguments = ["--min-confidence", String(Self.recommendedMinimum)]

        var kinds: [(kind: String, files: [String])] = []
        func stage(_ kind: String, _ name: String, _ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: "\(daemon.staging)/\(name)"))
            if let index = kinds.firstIndex(where: { $0.kind == kind }) { kinds[index].files.append(name) } else { kinds.append((kind, [name])) }
        }
        try stage("MNIST test digits", "mnist-t10k-idx3-ubyte", IDXArray(dimensions: [mnist.count, 28, 28], bytes: mnist.pixels).encoded)
        try stage("Fashion-MNIST", "fashion-t10k-idx3-ubyte", IDXArray(dimensions: [fashion.count, 28, 28], bytes: fashion.pixels).encoded)
        var random = SeededRandom(seed: 42)
        for index in 0..<40 {
            let (width, height) = index % 2 == 0 ? (28, 28) : (96, 80)
            let noise = (0..<width * height).map { _ in UInt8.random(in: 0...255, using: &random) }
            try stage("uniform noise", "noise-\(index).png", encodePNG(RasterImage(width: width, height: height, channels: 1, samples: noise)))
        }
        let papers: [(Int, Int, [UInt8])] = [(28, 28, [0]), (28, 28, [255]), (120, 90, [255]), (64, 64, [128]),
                                             (200, 150, [250, 245, 230]), (50, 70, [180, 200, 255]), (40, 40, [0, 0, 0, 0])]
        for (index, (width, height, colour)) in papers.enumerated() {
            let samples = (0..<width * height).flatMap { _ in colour }
            try stage("blank pages", "blank-\(index).png", encodePNG(RasterImage(width: width, height: height, channels: colour.count, samples: samples)))
        }
        for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
            for scale in [4, 8] {
                var canvas = Canvas(width: 9 * scale, height: 11 * scale)
                canvas.text(String(letter), x: 2 * scale, y: 2 * scale, scale: scale)
                try stage("capital letters", "letter-\(letter)-\(scale).png", canvas.encodedPNG())
            }
        }

        try daemon.start()
        let all = kinds.flatMap(\.files)
        for name in all { XCTAssertEqual(rename("\(daemon.staging)/\(name)", "\(daemon.inbox)/\(name)"), 0) }
        XCTAssertTrue(daemon.waitForOutcomes(all, timeout: 300), daemon.log)
        XCTAssertEqual(daemon.stop(), 0)
        XCTAssertEqual(daemon.entries(daemon.failed), [], daemon.log)

        var shares: [String: Double] = [:]
        var report = "status at --min-confidence \(Self.recommendedMinimum) (share not answered; by confidence threshold):\n"
        for (kind, files) in kinds {
            let rows = files.flatMap { (daemon.csv(for: $0) ?? []).dropFirst() }
            XCTAssertEqual(rows.count, kind == "MNIST test digits" ? mnist.count : kind == "Fashion-MNIST" ? fashion.count : files.count, kind)
            let unanswered = rows.filter { $0[3] != "ok" }
            XCTAssertTrue(unanswered.allSatisfy { $0[2].isEmpty }, "\(kind): an unanswered row has a label")
            shares[kind] = Double(unanswered.count) / Double(rows.count)
            let empty = rows.filter { $0[3] == "empty" }.count
            let confidences = rows.compactMap { Double($0[4]) }
            let sweep = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99].map { threshold in
                "\(threshold): \(percent(Double(confidences.filter { $0 < threshold }.count) / Double(rows.count)))"
            }
            report += "  \(kind): \(rows.count) images, \(percent(shares[kind]!)) not answered (\(empty) empty); below \(sweep.joined(separator: ", "))\n"
        }
        print(report)

        let mnistRows = try XCTUnwrap(daemon.csv(for: "mnist-t10k-idx3-ubyte")).dropFirst()
        let answered = zip(mnistRows, mnist.labels).filter { $0.0[3] == "ok" }
        let correct = answered.filter { $0.0[2] == String($0.1) }.count
        print("MNIST: accuracy on the answered \(answered.count): \(percent(Double(correct) / Double(answered.count)))")

        XCTAssertEqual(shares["blank pages"], 1, "every blank page is empty\n\(report)")
        XCTAssertLessThanOrEqual(shares["MNIST test digits"]!, 0.015, "too many real digits declined\n\(report)")
        XCTAssertGreaterThanOrEqual(shares["uniform noise"]!, 0.95, report)
        // Clothes fill the frame and cover far more of it than any digit: the input profile.
        XCTAssertGreaterThanOrEqual(shares["Fashion-MNIST"]!, 0.95, report)
        // Capitals are digit-like strokes (O, I, S, Z, B…): only the less confident ones go. The
        // models trained on ever more kinds of pen took more of them for digits (30.8%, 26.9%,
        // 19.2% declined at 0.8 by the last three; at 0.9 the last declines 46%, more than the others).
        XCTAssertGreaterThanOrEqual(shares["capital letters"]!, 0.15, report)
        XCTAssertGreaterThan(Double(correct) / Double(answered.count), 0.998, "declining the doubtful leaves the answers surer")
    }

    func percent(_ share: Double) -> String { String(format: "%.1f%%", share * 100) }
}
