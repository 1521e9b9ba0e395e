#if canImport(Glibc)
import Glibc
#endif
import Formats
import SystemResources

/// Limits on what one input may cost; each refusal names the limit and the flag that raises it.
public struct InputLimits: Sendable, Equatable {
    public var maxFileBytes: Int
    public var maxPNGPixels: Int
    public var maxIDXImages: Int

    public init(maxFileBytes: Int = 64 << 20, maxPNGPixels: Int = 16_000_000, maxIDXImages: Int = 100_000) {
        self.maxFileBytes = maxFileBytes
        self.maxPNGPixels = maxPNGPixels
        self.maxIDXImages = maxIDXImages
    }
}

/// An input's digits, ready for the network.
public struct DecodedInput: Sendable {
    public enum Kind: String, Sendable {
        case png
        case idx
    }

    public let kind: Kind
    /// count × 28 × 28 bytes, 255 = ink.
    public let pixels: [UInt8]
    /// Per image: false for a blank or uniform picture, which has nothing to classify.
    public let hasInk: [Bool]
    /// The size of the file it was read from.
    public let byteCount: Int

    public var count: Int { pixels.count / (DigitNormalization.side * DigitNormalization.side) }
}

/// Reads an input file and recognises it by its content (the name only helps say what a
/// broken file was meant to be): a PNG becomes one normalised digit, an IDX batch N digits.
public struct InputDecoder: Sendable {
    public let limits: InputLimits

    public init(limits: InputLimits) { self.limits = limits }

    /// `path` is read without following links; errors name `displayName`.
    public func decode(path: String, displayName: String) throws -> DecodedInput {
        let bytes: [UInt8]
        do {
            bytes = try readFile(path, maxBytes: limits.maxFileBytes, followSymlinks: false)
        } catch let error as FileSystemError {
            guard error.code == EFBIG else { throw FormatError(file: displayName, reason: error.reason, kind: .unreadable) }
            throw FormatError(file: displayName, reason: error.reason + " (raise --max-file-bytes to accept it)", kind: .overLimit)
        }
        return try decode(bytes: consume bytes, name: displayName)
    }

    public func decode(bytes: consuming [UInt8], name: String) throws -> DecodedInput {
        let byteCount = bytes.count
        if isPNG(bytes) || (!looksLikeIDX(bytes) && Self.isPNGName(name)) {
            let image = try decodePNG(bytes, source: name, limits: PNGLimits(maxPixels: limits.maxPNGPixels))
            let digit = DigitNormalization.normalize(image)
            return DecodedInput(kind: .png, pixels: digit.pixels, hasInk: [digit.hasInk], byteCount: byteCount)
        }
        if looksLikeIDX(bytes) || Self.isIDXName(name) {
            return try decodeIDX(consume bytes, name: name, byteCount: byteCount)
        }
        if bytes.isEmpty { throw FormatError(file: name, reason: "the file is empty", kind: .empty) }
        // Its first bytes would say what it is, but this may be any file a socket peer names,
        // and the daemon hands out predictions, not contents.
        throw FormatError(file: name, reason: "neither a PNG nor an IDX image file", kind: .unsupported)
    }

    private func decodeIDX(_ bytes: consuming [UInt8], name: String, byteCount: Int) throws -> DecodedInput {
        let side = DigitNormalization.side
        // The data limit is the image limit's: a batch of N×28×28 is over one when over the other.
        let idxLimits = IDXLimits(maxFileBytes: limits.maxFileBytes, maxDataBytes: limits.maxIDXImages * side * side)
        let array: IDXArray
        do {
            array = try parseIDX(consume bytes, source: name, limits: idxLimits)
        } catch let error as FormatError where error.kind == .overLimit {
            throw FormatError(file: name, reason: "holds more than \(limits.maxIDXImages) images, over the limit (raise --max-idx-images to accept it)",
                              kind: .overLimit)
        }
        let dimensions = array.dimensions
        guard dimensions.count == 3, dimensions[1] == side, dimensions[2] == side else {
            throw FormatError(file: name, reason: "expected N×28×28 images, found another shape", kind: .unsupported)
        }
        let imageSize = side * side
        let hasInk = (0..<dimensions[0]).map { DigitNormalization.hasInk(array.bytes[$0 * imageSize..<($0 + 1) * imageSize]) }
        return DecodedInput(kind: .idx, pixels: array.bytes, hasInk: hasInk, byteCount: byteCount)
    }

    private func looksLikeIDX(_ bytes: [UInt8]) -> Bool {
        isGzip(bytes) || (bytes.count >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08)
    }

    static func isPNGName(_ name: String) -> Bool { name.lowercased().hasSuffix(".png") }

    static func isIDXName(_ name: String) -> Bool {
        let lowercased = name.lowercased()
        let base = lowercased.hasSuffix(".gz") ? String(lowercased.dropLast(3)) : lowercased
        return base.hasSuffix("-idx3-ubyte") || base.hasSuffix(".idx3") || base.hasSuffix(".idx")
    }
}
