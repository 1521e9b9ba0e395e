import Foundation
@testable import NeuralNet
import XCTest

final class CalibrationTests: XCTestCase {
    func testECEIsTheCountWeightedGapPerBin() {
        // Two classes. Bin (0.6, 0.667]: 4 predictions at 0.65, 2 right → gap 0.15.
        // Bin (0.933, 1]: 6 predictions at 0.95, all right → gap 0.05. ECE = (4·0.15 + 6·0.05)/10.
        var probabilities: [Float] = [], labels: [Int32] = []
        for i in 0..<4 { probabilities += [0.65, 0.35]; labels.append(i < 2 ? 0 : 1) }
        for _ in 0..<6 { probabilities += [0.05, 0.95]; labels.append(1) }
        let bins = ReliabilityBins(probabilities: probabilities, labels: labels, classes: 2)
        XCTAssertEqual(bins.bins.count, 15)
        XCTAssertEqual(bins.bins.map(\.count).reduce(0, +), 10)
        XCTAssertEqual(bins.bins[9].count, 4)
        XCTAssertEqual(bins.bins[9].accuracy, 0.5)
        XCTAssertEqual(bins.bins[14].count, 6)
        XCTAssertEqual(bins.expectedCalibrationError, (4 * 0.15 + 6 * 0.05) / 10, accuracy: 1e-6)
    }

    func testUnlabeledRowsAreLeftOutAndPerfectConfidenceFallsInTheLastBin() {
        let bins = ReliabilityBins(probabilities: [1, 0, 0.5, 0.5, 0, 1], labels: [0, -1, 1], classes: 2)
        XCTAssertEqual(bins.bins.map(\.count).reduce(0, +), 2)
        XCTAssertEqual(bins.bins[14].count, 2)
        XCTAssertEqual(bins.expectedCalibrationError, 0)
    }

    /// Labels drawn from softmax(z / 2.5): the fitted temperature must find 2.5 again.
    func testFitRecoversTheTemperatureThatMadeTheLabels() {
        var random = SeededRandom(seed: 25)
        let classes = 10, count = 20_000, truth: Float = 2.5
        var logits: [Float] = [], labels: [Int32] = []
        for _ in 0..<count {
            let row = (0..<classes).map { _ in Float.random(in: -6...6, using: &random) }
            let probabilities = softmax(row, temperature: truth, classes: classes)
            var draw = Float.random(in: 0..<1, using: &random), label = classes - 1
            for (k, p) in probabilities.enumerated() {
                draw -= p
                if draw < 0 { label = k; break }
            }
            logits += row
            labels.append(Int32(label))
        }
        let fitted = TemperatureScaling.fit(logits: logits, labels: labels, classes: classes)
        XCTAssertEqual(fitted, truth, accuracy: 0.1)
        // Scaling by the fitted temperature leaves the labels' probabilities calibrated.
        let before = ReliabilityBins(probabilities: softmax(logits, temperature: 1, classes: classes), labels: labels, classes: classes)
        let after = ReliabilityBins(probabilities: softmax(logits, temperature: fitted, classes: classes), labels: labels, classes: classes)
        XCTAssertGreaterThan(before.expectedCalibrationError, 0.1, "overconfident at temperature 1")
        XCTAssertLessThan(after.expectedCalibrationError, 0.02)
    }

    func testCalibrationChangesConfidenceNotPredictions() throws {
        let data = LabeledImages(shape: FeatureShape(channels: 1, height: 28, width: 28),
                                 bytes: (0..<20 * 784).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) },
                                 labels: (0..<20).map { UInt8($0 % 10) })
        var network = Network(kind: .cnn, seed: 4)
        let plain = Evaluation(network: network, data: data)
        network.temperature = 3
        let scaled = Evaluation(network: network, data: data)
        XCTAssertEqual(plain.predictions, scaled.predictions)
        XCTAssertEqual(plain.logits, scaled.logits)
        // Against softmax written out here in Double, not the one the code calls.
        for (got, expected) in zip(scaled.probabilities, naiveSoftmax(plain.logits, temperature: 3, classes: 10)) {
            XCTAssertEqual(Double(got), expected, accuracy: 1e-6)
        }
        // The network's own probabilities (the daemon's path) give the same bits.
        let direct = data.pixels(0..<data.count).withUnsafeBufferPointer { network.probabilities(for: $0.baseAddress!, count: data.count) }
        XCTAssertEqual(direct, scaled.probabilities)
        XCTAssertLessThan(scaled.probabilities.max()!, plain.probabilities.max()!)

        let calibration = Calibration(fitting: plain, labels: data.labels)
        XCTAssertTrue(TemperatureScaling.range.contains(calibration.temperature))
        XCTAssertLessThanOrEqual(calibration.errorAfter, calibration.errorBefore + 1e-9)
        XCTAssertEqual(calibration.metadata["calibration_images"], "20")
    }

    func testTemperatureSurvivesTheWeightsFileAndChangesTheModelID() throws {
        var network = Network(kind: .mlpSeed, seed: 2)
        let plain = WeightsFile(network: network)
        network.temperature = 1.2345678
        let calibrated = WeightsFile(network: network, metadata: ["temperature": "ignored: the network's own wins"])
        let decoded = try WeightsFile(decoding: calibrated.encoded(), source: "t.weights")
        XCTAssertEqual(decoded.network.temperature, 1.2345678)
        XCTAssertNil(decoded.metadata["temperature"], "the temperature is the network's, not free-form metadata")
        XCTAssertNotEqual(calibrated.modelID, plain.modelID)
        XCTAssertEqual(decoded.modelID, calibrated.modelID)
        XCTAssertEqual(try WeightsFile(decoding: plain.encoded(), source: "p").network.temperature, 1)

        // Same length as the original value, so the metadata's length field still holds.
        for bad in ["0.0000000", "-1.234567", "nan      ", "abcdefghi", "1.0e+9000", "20.000001"] {
            var bytes = calibrated.encoded()
            let line = Array("temperature=1.2345678".utf8)
            let start = try XCTUnwrap(bytes.firstRange(of: line)).lowerBound
            bytes.replaceSubrange(start..<start + line.count, with: Array("temperature=\(bad)".utf8))
            XCTAssertThrowsError(try WeightsFile(decoding: resealed(bytes), source: "b")) { error in
                XCTAssertTrue("\(error)".hasPrefix("b: temperature \"\(bad)\" is not a number in"), "\(error)")
            }
        }
    }

    func testHistoryRoundTripsThroughText() {
        let reports = [
            EpochReport(epoch: 1, trainLoss: 0.5, trainAccuracy: 0.9, testLoss: 0.25, testAccuracy: 0.95, elapsedSeconds: 12.5),
            EpochReport(epoch: 2, trainLoss: 0.125, trainAccuracy: 0.97, testLoss: nil, testAccuracy: nil, elapsedSeconds: 25),
        ]
        XCTAssertEqual(EpochReport.parseHistory(EpochReport.historyText(reports)), reports)
        XCTAssertNil(EpochReport.parseHistory(""))
        XCTAssertNil(EpochReport.parseHistory("1:2:3"))
    }

    func testFirstLayerFiltersOfBothModels() throws {
        let cnn = Network(kind: .cnn, seed: 1)
        let (side, filters) = try XCTUnwrap(cnn.firstLayerFilters)
        XCTAssertEqual(side, 5)
        XCTAssertEqual(filters.count, 16)
        XCTAssertEqual(filters[1], Array(cnn.parameters[25..<50]), "kernel 1 of [channels, 5, 5, 1]")
        let mlp = Network(kind: .mlpSeed, seed: 1)
        let (mlpSide, units) = try XCTUnwrap(mlp.firstLayerFilters)
        XCTAssertEqual(mlpSide, 28)
        XCTAssertEqual(units.count, 128)
        XCTAssertEqual(units[3][2], mlp.parameters[2 * 128 + 3], "unit 3's weight on pixel 2 of [784, 128]")
    }
}

final class InputProfileTests: XCTestCase {
    func testProfileOfTrainingImagesAdmitsThemAndRefusesOthers() throws {
        // 2,000 "digits": vertical bars of varying width inside a 20-row box.
        var bytes: [UInt8] = []
        for i in 0..<2000 {
            var image = [UInt8](repeating: 0, count: 784)
            for y in 4..<24 { for x in 12..<14 + i % 5 { image[y * 28 + x] = 255 } }
            bytes += image
        }
        let images = LabeledImages(shape: FeatureShape(channels: 1, height: 28, width: 28), bytes: bytes, labels: [UInt8](repeating: 1, count: 2000))
        let profile = try XCTUnwrap(InputProfile(of: images))
        XCTAssertEqual(profile.boxHeight, 20)
        XCTAssertEqual(profile.boxWidth, 6)
        XCTAssertEqual(profile.coverage, Float(40) / 784...Float(120) / 784)
        XCTAssertEqual(profile.mass, 40...120)
        for i in 0..<5 { XCTAssertTrue(profile.admits(bytes[i * 784..<(i + 1) * 784], height: 28, width: 28)) }
        var tooWide = [UInt8](repeating: 0, count: 784)
        for y in 4..<8 { for x in 2..<26 { tooWide[y * 28 + x] = 255 } }
        XCTAssertFalse(profile.admits(tooWide[...], height: 28, width: 28), "box wider than any training image's")
        var faint = [UInt8](repeating: 0, count: 784)
        for y in 4..<24 { for x in 12..<16 { faint[y * 28 + x] = 100 } }
        XCTAssertFalse(profile.admits(faint[...], height: 28, width: 28), "no pixel half-inked: coverage below the range")
        XCTAssertNil(InputProfile(of: images.prefix(0)))
    }

    func testTextRoundTripsAndTheWeightsFileKeepsIt() throws {
        let profile = InputProfile(boxHeight: 20, boxWidth: 19, coverage: 0.032...0.306, mass: 28.25...228.5)
        XCTAssertEqual(profile.text, "box=20x19 coverage=0.032..0.306 mass=28.25..228.5")
        XCTAssertEqual(InputProfile(text: profile.text), profile)
        for bad in ["", "box=20x19", "box=20 coverage=0..1 mass=0..1", "box=20x19 coverage=1..0 mass=0..1",
                    "box=20x19 coverage=0..1 mass=0..nan", "box=20x19 coverage=0..1 mass=0..1 extra=1"] {
            XCTAssertNil(InputProfile(text: bad), bad)
        }
        let file = WeightsFile(network: Network(kind: .mlpSeed, seed: 1), inputProfile: profile)
        let decoded = try WeightsFile(decoding: file.encoded(), source: "p.weights")
        XCTAssertEqual(decoded.inputProfile, profile)
        XCTAssertNil(decoded.metadata["input_profile"])
        XCTAssertEqual(decoded.modelID, WeightsFile(network: Network(kind: .mlpSeed, seed: 1)).modelID, "the profile describes data, not weights")
    }
}

/// softmax(z / T) row by row, the textbook way.
func naiveSoftmax(_ logits: [Float], temperature: Double, classes: Int) -> [Double] {
    stride(from: 0, to: logits.count, by: classes).flatMap { start -> [Double] in
        let row = logits[start..<start + classes].map { Double($0) / temperature }
        let top = row.max()!
        let exponentials = row.map { exp($0 - top) }
        let sum = exponentials.reduce(0, +)
        return exponentials.map { $0 / sum }
    }
}
