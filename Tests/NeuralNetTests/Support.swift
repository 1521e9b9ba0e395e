import Formats
import NeuralNet
import SystemResources
import XCTest

/// `../shared/datasets/mnist` next to the repository, or nil (with the reason) when absent.
func sharedMNISTDirectory() throws -> String {
    let file = #filePath
    var root = file
    for _ in 0..<3 { root = String(root[..<root.lastIndex(of: "/")!]) }
    let directory = root + "/../shared/datasets/mnist"
    do {
        _ = try readFile(directory + "/t10k-labels-idx1-ubyte.gz", maxBytes: 1 << 20)
    } catch {
        throw XCTSkip("MNIST not found at \(directory) (\(error)); these tests need the shared datasets")
    }
    return directory
}

func loadMNIST(_ split: DatasetSplit) throws -> LabeledImages {
    let raw = try readMNIST(directory: try sharedMNISTDirectory(), split: split)
    return LabeledImages(shape: FeatureShape(channels: 1, height: raw.height, width: raw.width), bytes: raw.pixels, labels: raw.labels)
}

/// Recomputes the trailing checksum after a deliberate edit.
func resealed(_ bytes: [UInt8]) -> [UInt8] {
    var body = Array(bytes.dropLast(4))
    let crc = CRC32.checksum(body)
    body += [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)]
    return body
}
