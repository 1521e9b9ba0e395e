import CPNG

/// An 8-bit image with `channels` interleaved samples per pixel (1 gray, 2 gray + alpha,
/// 3 RGB, 4 RGBA), row-major, no padding.
public struct RasterImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public let samples: [UInt8]

    public init(width: Int, height: Int, channels: Int, samples: [UInt8]) {
        precondition((1...4).contains(channels), "RasterImage: \(channels) channels")
        precondition(samples.count == width * height * channels, "RasterImage: \(samples.count) samples for \(width)×\(height)×\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.samples = samples
    }
}

/// Limits that keep a hostile PNG from taking the process's memory.
public struct PNGLimits: Sendable {
    /// Largest width × height decoded; the header is checked before any pixel is inflated, so a
    /// small file claiming a huge image (a decompression bomb) costs nothing.
    public var maxPixels: Int

    public init(maxPixels: Int = 16_000_000) {
        self.maxPixels = maxPixels
    }
}

private let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

/// True when the bytes start with the PNG signature.
public func isPNG(_ bytes: [UInt8]) -> Bool {
    bytes.count >= pngSignature.count && Array(bytes[0..<pngSignature.count]) == pngSignature
}

/// Decodes a PNG with libpng into 8-bit gray + alpha, whatever its colour type, bit depth,
/// palette, transparency or interlacing (libpng's simplified API does the conversions, and
/// reports errors instead of jumping out of our frames). Samples are read as stored: a digit's
/// ink is coverage, not light for a display, so gamma and colour-space chunks are ignored.
/// `source` names the input in errors.
public func decodePNG(_ bytes: [UInt8], source: String, limits: PNGLimits = PNGLimits()) throws -> RasterImage {
    func fail(_ reason: String, _ kind: FormatError.Kind = .malformed) -> FormatError { FormatError(file: source, reason: reason, kind: kind) }
    guard isPNG(bytes) else { throw nonPNGError(bytes, source: source) }
    let input = try LibpngInput(bytes, source: source)
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    defer { png_image_free(&image) }
    // libpng keeps the pointer from begin_read and reads through it in finish_read: both
    // calls stay inside one closure, where the buffer is guaranteed alive.
    return try input.bytes.withUnsafeBytes { memory in
        guard png_image_begin_read_from_memory(&image, memory.baseAddress, memory.count) != 0 else {
            throw fail("not a valid PNG: \(libpngMessage(image))")
        }
        let width = Int(image.width), height = Int(image.height)
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= limits.maxPixels else {
            throw fail("PNG is over the limit of \(limits.maxPixels) pixels (raise --max-png-pixels to accept it)", .overLimit)
        }
        // libpng inflates the image data to its end, however far past the image that is (a
        // 17 MB file can hold 16 GiB of it), and the simplified API has no limit to set. So the
        // data is inflated here first, to one byte past the image, and a file whose data goes on
        // is refused before libpng reads it: PNG has the data be the filtered image, no more, and
        // nothing could use the rest.
        guard !input.imageDataGoesOnPastTheImage else {
            throw fail("corrupt PNG: its image data goes on past the end of the image")
        }
        image.format = UInt32(PNG_FORMAT_GA)
        var samples = [UInt8](repeating: 0, count: pixels * 2)
        let finished = samples.withUnsafeMutableBytes {
            png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * 2), nil)
        }
        guard finished != 0 else { throw fail("corrupt PNG: \(libpngMessage(image))") }
        return RasterImage(width: width, height: height, channels: 2, samples: samples)
    }
}

/// Encodes an 8-bit image as PNG (gray, gray + alpha, RGB or RGBA by its channel count).
public func encodePNG(_ image: RasterImage) throws -> [UInt8] {
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(image.width)
    png.height = UInt32(image.height)
    png.format = [UInt32(PNG_FORMAT_GRAY), UInt32(PNG_FORMAT_GA), UInt32(PNG_FORMAT_RGB), UInt32(PNG_FORMAT_RGB | PNG_FORMAT_FLAG_ALPHA)][image.channels - 1]
    defer { png_image_free(&png) }
    let stride = Int32(image.width * image.channels)
    var size = 0
    let sized = image.samples.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, stride, nil) }
    guard sized != 0 else { throw FormatError(file: "<png encoder>", reason: libpngMessage(png)) }
    var out = [UInt8](repeating: 0, count: size)
    let written = out.withUnsafeMutableBytes { buffer in
        image.samples.withUnsafeBytes { png_image_write_to_memory(&png, buffer.baseAddress, &size, 0, $0.baseAddress, stride, nil) }
    }
    guard written != 0 else { throw FormatError(file: "<png encoder>", reason: libpngMessage(png)) }
    return Array(out.prefix(size))
}

/// What libpng is given of a PNG: its chunks up to the end of the image data, without gAMA,
/// cHRM, sRGB and iCCP, then IEND. libpng's simplified API reads nothing after the image data
/// (it holds only text and metadata), so neither does this: a tail after IEND, or a second PNG,
/// is not read. A chunk that claims more bytes than the file holds is refused here: libpng would
/// first allocate and fill its buffer.
struct LibpngInput {
    private(set) var bytes: [UInt8]
    /// Where the IDAT chunks lie in `bytes`: one run, as libpng reads them.
    private var imageDataChunks = 0..<0

    init(_ png: [UInt8], source: String) throws {
        bytes = Array(png[..<pngSignature.count])
        bytes.reserveCapacity(png.count + 12)
        var offset = pngSignature.count
        while offset + 12 <= png.count {
            let length = bigEndian32(png, at: offset), type = bigEndian32(png, at: offset + 4)
            if type == ChunkType.iend || (type != ChunkType.idat && !imageDataChunks.isEmpty) { break }
            let end = offset + 12 + length
            guard end <= png.count else {
                throw FormatError(file: source, reason: "truncated PNG: a chunk runs past the end of the file")
            }
            let kept = bytes.count
            if !ChunkType.colourSpace.contains(type) { bytes += png[offset..<end] }
            if type == ChunkType.idat { imageDataChunks = (imageDataChunks.isEmpty ? kept : imageDataChunks.lowerBound)..<bytes.count }
            offset = end
        }
        // An IEND (no data, its type, its CRC) ends what libpng is given, whatever the file had next.
        bytes += [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]
    }

    /// The data of the IDAT chunks in order: together, the zlib stream of the image.
    var imageData: some Sequence<ArraySlice<UInt8>> {
        sequence(state: imageDataChunks.lowerBound) { [bytes, imageDataChunks] offset in
            guard offset < imageDataChunks.upperBound else { return nil }
            let start = offset + 8, end = start + bigEndian32(bytes, at: offset)
            offset = end + 4
            return bytes[start..<end]
        }
    }

    /// Whether the image data inflates to more than the filtered image; what is inflated to
    /// tell stops one byte past it.
    var imageDataGoesOnPastTheImage: Bool {
        inflate(imageData, as: .zlib, maxOutput: filteredImageSize + 1, into: { _ in }) == .outputLimit
    }

    /// What the image data inflates to: each row of the image, or of each Adam7 pass when it is
    /// interlaced, after a filter byte; a pass without pixels has no rows. IHDR is read as libpng
    /// checked it (begin_read refuses a PNG that does not start with a valid one).
    var filteredImageSize: Int {
        let width = bigEndian32(bytes, at: 16), height = bigEndian32(bytes, at: 20)
        let depth = Int(bytes[24]), colourType = bytes[25], interlaced = bytes[28] == 1
        // Colour type bits: 1 a palette (one index a pixel), 2 colour (three samples, not one),
        // 4 alpha (one sample more).
        let samples = colourType & 1 != 0 ? 1 : (colourType & 2 != 0 ? 3 : 1) + (colourType & 4 != 0 ? 1 : 0)
        let passes = interlaced ? adam7Passes : [(x: 0, y: 0, dx: 1, dy: 1)]
        return passes.reduce(0) { total, pass in
            let columns = (width - pass.x + pass.dx - 1) / pass.dx, rows = (height - pass.y + pass.dy - 1) / pass.dy
            return columns > 0 && rows > 0 ? total + rows * ((columns * samples * depth + 7) / 8 + 1) : total
        }
    }
}

/// Each Adam7 pass's first pixel and step, across and down.
private let adam7Passes: [(x: Int, y: Int, dx: Int, dy: Int)] = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]

/// Chunk types as the big-endian numbers they are stored as, compared without making strings.
private enum ChunkType {
    static let idat = code("IDAT")
    static let iend = code("IEND")
    static let colourSpace = ["gAMA", "cHRM", "sRGB", "iCCP"].map(code)

    static func code(_ name: String) -> Int { name.utf8.reduce(0) { $0 << 8 | Int($1) } }
}

/// libpng's reason, without the type of the chunk it was reading, which libpng puts first
/// ("ZQXW: unhandled critical chunk", "Z[01]XW: invalid chunk type"): those are bytes of the
/// file, and errors never quote the file.
private func libpngMessage(_ image: png_image) -> String {
    var message = image.message
    let text = withUnsafeBytes(of: &message) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    if let chunk = text.prefixMatch(of: #/(?:[A-Za-z]|\[[0-9A-F]{2}\]){4}: /#) {
        return "bad chunk (\(text[chunk.range.upperBound...]))"
    }
    return text.isEmpty ? "libpng gave no reason" : text
}

/// Says what a file that is not a PNG looks like, so that a JPEG named `.png` is named as such.
private func nonPNGError(_ bytes: [UInt8], source: String) -> FormatError {
    if bytes.isEmpty { return FormatError(file: source, reason: "not a PNG: the file is empty", kind: .empty) }
    if bytes.starts(with: pngSignature.prefix(min(bytes.count, pngSignature.count))) {
        return FormatError(file: source, reason: "not a PNG: truncated inside the signature (\(bytes.count) bytes)")
    }
    let content = bytes.starts(with: [0xFF, 0xD8, 0xFF]) ? "the file holds JPEG data"
        : bytes.starts(with: Array("GIF8".utf8)) ? "the file holds GIF data" : "no PNG signature at the start of the file"
    return FormatError(file: source, reason: "not a PNG: \(content)", kind: .unsupported)
}
