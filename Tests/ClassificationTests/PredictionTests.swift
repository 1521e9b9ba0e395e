@testable import Classification
import Formats
import NeuralNet
import TestSupport
import XCTest

final class PredictionTests: XCTestCase {
    let row: [Float] = [0.05, 0.05, 0.7, 0.05, 0.05, 0.02, 0.02, 0.02, 0.02, 0.02]

    func testStatusIsOkUncertainOrEmpty() {
        let ok = Prediction(probabilities: row[...], hasInk: true, minimumConfidence: nil)
        XCTAssertEqual(ok, Prediction(probabilities: row[...], hasInk: true, minimumConfidence: 0.7), "the minimum itself passes")
        XCTAssertEqual(ok.label, 2)
        XCTAssertEqual(ok.status, .ok)
        XCTAssertEqual(ok.confidence, 0.7)
        let uncertain = Prediction(probabilities: row[...], hasInk: true, minimumConfidence: 0.75)
        XCTAssertNil(uncertain.label)
        XCTAssertEqual(uncertain.status, .uncertain)
        XCTAssertEqual(uncertain.confidence, 0.7)
        let empty = Prediction(probabilities: row[...], hasInk: false, minimumConfidence: nil)
        XCTAssertNil(empty.label)
        XCTAssertEqual(empty.status, .empty)
    }

    func testWithTheRejectOptionAnImageUnlikeTheTrainingOnesIsUncertain() throws {
        var network = Network(kind: .mlpSeed, seed: 1)
        network.temperature = 0.05   // near one-hot probabilities: confidence alone passes everything
        let profile = InputProfile(boxHeight: 20, boxWidth: 20, coverage: 0.02...0.3, mass: 20...230)
        let model = try LoadedModel(weights: WeightsFile(network: network, inputProfile: profile), path: "")
        var digitLike = [UInt8](repeating: 0, count: 784), frameFilling = digitLike
        for y in 4..<24 { for x in 10..<18 { digitLike[y * 28 + x] = 255 } }    // 20×8 box, 20% covered
        for y in 0..<28 { for x in 0..<28 where (x + y) % 3 == 0 { frameFilling[y * 28 + x] = 255 } } // 28×28 box
        let input = DecodedInput(kind: .idx, pixels: digitLike + frameFilling, hasInk: [true, true], byteCount: 2 * 784 + 16)
        let probabilities = classifierProbabilities(model, input)
        XCTAssertGreaterThan(probabilities[0..<10].max()!, 0.5, "confident enough")
        XCTAssertGreaterThan(probabilities[10..<20].max()!, 0.5, "confident enough")
        let judged = try Prediction.judge(probabilities[...], of: input, named: "two.idx", model: model, minimumConfidence: 0.5)
        XCTAssertEqual(judged.map(\.status), [.ok, .uncertain])
        XCTAssertEqual(try Prediction.judge(probabilities[...], of: input, named: "two.idx", model: model, minimumConfidence: nil).map(\.status), [.ok, .ok],
                       "without the reject option every inked image is answered")
    }

    func classifierProbabilities(_ model: LoadedModel, _ input: DecodedInput) -> [Float] {
        Classifier().probabilities(model, pixels: input.pixels)
    }

    func testCSVRowsKeepProbabilitiesAndLeaveTheLabelOfAnUnansweredImageEmpty() {
        let rows = row + row.reversed()
        let predictions = [Prediction(probabilities: rows[0..<10], hasInk: true, minimumConfidence: nil),
                           Prediction(probabilities: rows[10..<20], hasInk: false, minimumConfidence: nil)]
        var csv = CSVWriter(header: PredictionCSV.header(classes: 10))
        PredictionCSV.appendRows(to: &csv, source: "two, digits.idx", predictions: predictions, probabilities: rows[...],
                                 classes: 10, model: "cnn-1")
        let lines = csv.text.split(separator: "\r\n").map(String.init)
        XCTAssertEqual(lines[0], "source,index,label,status,confidence,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,model")
        XCTAssertEqual(lines[1], "\"two, digits.idx\",0,2,ok,0.700000,0.050000,0.050000,0.700000,0.050000,0.050000,0.020000,0.020000,0.020000,0.020000,0.020000,cnn-1")
        XCTAssertEqual(lines[2], "\"two, digits.idx\",1,,empty,0.700000,0.020000,0.020000,0.020000,0.020000,0.020000,0.050000,0.050000,0.700000,0.050000,0.050000,cnn-1")
    }

    func testInkIsFoundPerImageOfABatchAndInAPNG() throws {
        let decoder = InputDecoder(limits: InputLimits())
        var pixels = [UInt8](repeating: 0, count: 4 * 784)
        pixels[784 + 300] = 255                                   // one dot: ink
        for i in 2 * 784..<3 * 784 { pixels[i] = 200 }            // uniform gray: no ink
        for i in 3 * 784..<4 * 784 { pixels[i] = i % 2 == 0 ? 20 : 40 } // faint texture under the threshold
        let batch = try decoder.decode(bytes: IDXArray(dimensions: [4, 28, 28], bytes: pixels).encoded, name: "b.idx3")
        XCTAssertEqual(batch.hasInk, [false, true, false, false])

        let blank = try encodePNG(RasterImage(width: 90, height: 60, channels: 1, samples: [UInt8](repeating: 255, count: 5400)))
        XCTAssertEqual(try decoder.decode(bytes: blank, name: "blank.png").hasInk, [false])
        let digit = try decoder.decode(path: repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", displayName: "7.png")
        XCTAssertEqual(digit.hasInk, [true])
    }

    func testANameASpreadsheetWouldTakeForAFormulaIsQuoted() {
        for (name, written) in [("=1+1.png", "'=1+1.png"), ("+1.png", "'+1.png"), ("-2.png", "'-2.png"), ("@SUM(1).png", "'@SUM(1).png"),
                                ("\t=1.png", "'\t=1.png"), ("\r=1.png", "'\r=1.png"), ("digit=1.png", "digit=1.png"),
                                ("'quoted.png", "'quoted.png"), ("7.png", "7.png")] {
            var csv = CSVWriter(header: PredictionCSV.header(classes: 10))
            PredictionCSV.appendRows(to: &csv, source: name, predictions: [Prediction(probabilities: row[...], hasInk: true, minimumConfidence: nil)],
                                     probabilities: row[...], classes: 10, model: "cnn-1")
            XCTAssertEqual(parseCSV(csv.text)[1][0], written, name)
        }
        // A quoted formula is a field starting with a quote mark in the file, and `=` once read.
        var csv = CSVWriter(header: PredictionCSV.header(classes: 10))
        PredictionCSV.appendRows(to: &csv, source: "=HYPERLINK(\"http://x\",\"y\").png",
                                 predictions: [Prediction(probabilities: row[...], hasInk: true, minimumConfidence: nil)],
                                 probabilities: row[...], classes: 10, model: "cnn-1")
        XCTAssertEqual(parseCSV(csv.text)[1][0], "'=HYPERLINK(\"http://x\",\"y\").png")
    }

    /// A large input's CSV, formatted in parts on the kernel threads, is byte for byte what one
    /// writer makes: rows in order, each image's index its own, one header.
    func testALargeInputsCSVFormattedInPartsIsTheSameAsInOne() {
        var random = SystemRandomNumberGenerator()
        for count in [1, Verdict.rowsWorthSplitting - 1, Verdict.rowsWorthSplitting, 3001] {
            let probabilities = (0..<count * 10).map { _ in Float.random(in: 0...1, using: &random) }
            let predictions = (0..<count).map {
                Prediction(probabilities: probabilities[$0 * 10..<($0 + 1) * 10], hasInk: $0 % 7 != 0, minimumConfidence: 0.5)
            }
            let verdict = Verdict(predictions: predictions, probabilities: probabilities[...], classes: 10, model: "cnn-0123456789abcdef")
            var whole = CSVWriter(header: PredictionCSV.header(classes: 10))
            verdict.appendRows(to: &whole, source: "=batch.idx3")
            XCTAssertEqual(verdict.csv(source: "=batch.idx3"), whole.bytes, "\(count) images")
        }
    }
}
