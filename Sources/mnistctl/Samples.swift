import ArgumentParser
import Formats
import SystemResources

struct Samples: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write example inputs for the inbox from the MNIST test set: PNG digits in several sizes, colours and colour types, and a small IDX batch.")

    @OptionGroup var dataset: DataOptions

    @Option(help: "Directory to write the samples to.", completion: .directory)
    var out: String

    @Option(help: "Images in the IDX batch (the first N of the test set).")
    var batch = 100

    /// Which test image each PNG shows, and how it is drawn.
    static let pictures: [(index: Int, name: String, style: DigitStyle)] = [
        (0, "mnist-28px-gray.png", DigitStyle(ink: (255, 255, 255), paper: (0, 0, 0), width: 28, height: 28, channels: 1)),
        (1, "pencil-on-paper-112px.png", DigitStyle(ink: (30, 30, 30), paper: (250, 250, 245), width: 112, height: 112, channels: 1)),
        (2, "blue-ink-rgb-96x120.png", DigitStyle(ink: (20, 40, 160), paper: (255, 250, 235), width: 96, height: 120, channels: 3)),
        (3, "black-on-transparent-rgba-64px.png", DigitStyle(ink: (0, 0, 0), paper: (0, 0, 0), width: 64, height: 64, channels: 4)),
        (4, "white-on-transparent-gray-alpha-50px.png", DigitStyle(ink: (255, 255, 255), paper: (0, 0, 0), width: 50, height: 50, channels: 2)),
        (8, "chalk-on-blackboard-rgb-200px.png", DigitStyle(ink: (235, 235, 220), paper: (30, 60, 40), width: 200, height: 200, channels: 3)),
    ]

    func run() throws {
        let test = try readMNIST(directory: dataset.data, split: .test)
        guard test.height == 28, test.width == 28, test.count >= max(batch, 9) else {
            throw ValidationError("\(dataset.data): expected at least \(max(batch, 9)) test images of 28×28")
        }
        var index = "file,label\n"
        for picture in Self.pictures {
            let pixels = Array(test.pixels[picture.index * 784..<(picture.index + 1) * 784])
            let name = "digit-\(test.labels[picture.index])-\(picture.name)"
            try writeFileAtomically("\(out)/\(name)", encodePNG(picture.style.render(pixels)))
            index += "\(name),\(test.labels[picture.index])\n"
        }
        let batchName = "first-\(batch)-test-digits-idx3-ubyte.gz"
        try writeIDX(IDXArray(dimensions: [batch, 28, 28], bytes: Array(test.pixels.prefix(batch * 784))),
                     to: "\(out)/\(batchName)", compressed: true)
        index += "\(batchName),\(test.labels.prefix(batch).map(String.init).joined(separator: " "))\n"
        try writeText(index, to: "\(out)/labels.csv")
    }
}
