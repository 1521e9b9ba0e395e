@testable import Classification
import Formats
import NeuralNet
import XCTest

/// What the retrainer takes for a dataset, without a daemon: both layouts, the held-out split,
/// and every way a dropped dataset can be unfit, each refused naming the file and the reason.
final class LabeledDatasetTests: XCTestCase {
    var root = ""
    let decoder = InputDecoder(limits: InputLimits())

    override func setUpWithError() throws {
        root = "/tmp/mnistd-dataset-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func write(_ bytes: [UInt8], to name: String) throws {
        let path = "\(root)/\(name)"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A 28×28 digit-like PNG: a bar whose width depends on `variant`, so that images differ
    /// even once normalised (centred and scaled).
    func digitPNG(_ variant: Int) throws -> [UInt8] {
        var samples = [UInt8](repeating: 0, count: 784)
        for row in 6..<22 { for column in 10..<12 + variant % 7 { samples[row * 28 + column] = 255 } }
        return try encodePNG(RasterImage(width: 28, height: 28, channels: 1, samples: samples))
    }

    func writeIDXPair(_ split: String, count: Int, side: Int = 28, labels: [UInt8]? = nil, gzipped: Bool = false) throws {
        let images = IDXArray(dimensions: [count, side, side], bytes: (0..<count * side * side).map { UInt8(truncatingIfNeeded: $0 * 31) }).encoded
        let labelBytes = IDXArray(dimensions: [count], bytes: labels ?? (0..<count).map { UInt8($0 % 10) }).encoded
        try write(gzipped ? gzip(images) : images, to: "\(split)-images-idx3-ubyte" + (gzipped ? ".gz" : ""))
        try write(labelBytes, to: "\(split)-labels-idx1-ubyte")
    }

    func load(maxImages: Int = 1000) throws -> LabeledDataset {
        try LabeledDataset.load(directory: root, name: "digits", classes: 10, decoder: decoder, maxImages: maxImages)
    }

    func assertRefused(maxImages: Int = 1000, naming file: String, _ reason: String, line: UInt = #line) {
        XCTAssertThrowsError(try load(maxImages: maxImages), line: line) { error in
            XCTAssertEqual("\(error)", "\(file): \(reason)", line: line)
        }
    }

    func testClassFoldersAreLabelsAndEveryTenthImageIsHeldOut() throws {
        for index in 0..<20 { try write(digitPNG(index), to: "\(index % 2 == 0 ? 3 : 7)/\(String(format: "%02d", index)).png") }
        try write([1, 2, 3], to: "7/.partial.png.tmp")
        try FileManager.default.createDirectory(atPath: "\(root)/elsewhere", withIntermediateDirectories: true)
        try write(digitPNG(0), to: "elsewhere/x.png")
        XCTAssertEqual(symlink("\(root)/elsewhere", "\(root)/5"), 0, "a linked class folder is not followed")
        let dataset = try load()
        XCTAssertEqual(dataset.train.count + dataset.validation.count, 20, "hidden files and linked folders are not images")
        XCTAssertEqual(dataset.validation.count, 2)
        XCTAssertEqual(dataset.validationSource, "every tenth image, held out")
        // Folders are read in order, files sorted: ten 3s (00, 02, … 18), then ten 7s (01, … 19).
        XCTAssertEqual(dataset.validation.labels, [3, 7])
        let heldOut = try [digitPNG(18), digitPNG(19)].flatMap { try decoder.decode(bytes: $0, name: "x.png").pixels }
        XCTAssertTrue(dataset.validation.bytes == heldOut, "the tenth image of each ten is held out")
        XCTAssertEqual(dataset.train.labels, [Int32](repeating: 3, count: 9) + [Int32](repeating: 7, count: 9))
        XCTAssertEqual(dataset.train.shape, FeatureShape(channels: 1, height: 28, width: 28))
    }

    func testAnIDXPairTrainsAndItsT10kPairValidates() throws {
        try writeIDXPair("train", count: 30, gzipped: true)
        let heldOut = try load()
        XCTAssertEqual([heldOut.train.count, heldOut.validation.count], [27, 3])
        try writeIDXPair("t10k", count: 5)
        let withTest = try load()
        XCTAssertEqual([withTest.train.count, withTest.validation.count], [30, 5])
        XCTAssertEqual(withTest.validationSource, "its t10k files")
        XCTAssertEqual(withTest.validation.labels, [0, 1, 2, 3, 4])
    }

    func testAnUnfitDatasetIsRefusedNamingTheFileAndTheReason() throws {
        assertRefused(naming: root, "not a dataset: no train-images-idx3-ubyte[.gz] and no class folders 0/ … 9/")

        try writeIDXPair("train", count: 4, labels: [1, 2, 12, 4])
        assertRefused(naming: "\(root)/train", "label 12 is outside 0...9")
        try writeIDXPair("train", count: 4, side: 20)
        assertRefused(naming: "\(root)/train", "images are 1x20x20, the model takes 1x28x28")
        try writeIDXPair("train", count: 0)
        assertRefused(naming: "\(root)/train", "the dataset holds no images")
        try writeIDXPair("train", count: 4)
        try write(IDXArray(dimensions: [3], bytes: [1, 2, 3]).encoded, to: "train-labels-idx1-ubyte")
        assertRefused(naming: "\(root)/train-labels-idx1-ubyte",
                      "the number of labels is not the number of images in \(root)/train-images-idx3-ubyte")
        try writeIDXPair("train", count: 30)
        XCTAssertThrowsError(try load(maxImages: 20), "more images than the limit allows") { error in
            XCTAssertTrue("\(error)".hasPrefix("\(root)/train-images-idx3-ubyte: "), "\(error)")
        }
        try FileManager.default.removeItem(atPath: root)
        try setUpWithError()

        try write(IDXArray(dimensions: [1, 28, 28], bytes: [UInt8](repeating: 0, count: 784)).encoded, to: "4/batch.idx")
        assertRefused(naming: "\(root)/4/batch.idx", "class folders hold PNG images only")
        try FileManager.default.removeItem(atPath: "\(root)/4/batch.idx")
        try write(Array("not a picture".utf8), to: "4/notes.png")
        XCTAssertThrowsError(try load()) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(root)/4/notes.png: "), "\(error)")
        }
        try FileManager.default.removeItem(atPath: "\(root)/4/notes.png")
        for index in 0..<6 { try write(digitPNG(index), to: "4/\(index).png") }
        assertRefused(maxImages: 5, naming: root, "more than 5 images (raise --max-dataset-images to accept it)")
    }
}
