import CQuantizedKernels

/// Which code runs the 8-bit products: the same bits either way (integer sums are exact and the
/// requantisation rounds identically), so tests compare the paths and users need not care.
public enum QuantizedKernelPath: Sendable {
    /// AVX-512 VNNI where the CPU has it, else AVX-VNNI, else AVX2, else portable.
    case automatic
    case portable
    /// AVX-512 VNNI.
    case vnni
    /// The same instruction on 256-bit registers (CPUs with AVX-VNNI but no AVX-512).
    case avxVNNI
    case avx2

    var cValue: qk_path {
        switch self {
        case .automatic: QK_AUTOMATIC
        case .portable: QK_PORTABLE
        case .vnni: QK_VNNI
        case .avxVNNI: QK_AVX_VNNI
        case .avx2: QK_AVX2
        }
    }

    /// Every path, slowest first.
    public static let all: [QuantizedKernelPath] = [.portable, .avx2, .avxVNNI, .vnni]

    /// The paths this CPU can run, slowest first.
    public static var available: [QuantizedKernelPath] {
        all.filter { path in
            switch path {
            case .avx2: qk_avx2_available() != 0
            case .avxVNNI: qk_avx_vnni_available() != 0
            case .vnni: qk_vnni_available() != 0
            case .portable, .automatic: true
            }
        }
    }

    /// The multiply-adds `rounds` rounds of this path's product instructions do on registers
    /// alone (0 for the portable path, or one this CPU lacks): divided by the time they take,
    /// the most the path can reach on a core.
    public func registerOnlyMultiplyAdds(rounds: Int) -> Int {
        Int(qk_peak_multiply_adds(cValue, Int64(rounds)))
    }

    /// What `.automatic` runs here, for benchmarks and logs.
    public static var automaticName: String {
        switch qk_automatic_path() {
        case QK_VNNI: "AVX-512 VNNI"
        case QK_AVX_VNNI: "AVX-VNNI"
        case QK_AVX2: "AVX2"
        default: "portable C"
        }
    }

    /// The same in a word, for labels: avx512_vnni, avx_vnni, avx2 or portable.
    public static var automaticIdentifier: String {
        switch qk_automatic_path() {
        case QK_VNNI: "avx512_vnni"
        case QK_AVX_VNNI: "avx_vnni"
        case QK_AVX2: "avx2"
        default: "portable"
        }
    }
}

/// The left operand of an 8-bit product, read in place: each row is `segments` runs of bytes
/// (a convolution's kernel rows within an image, channels last), or one run (a matrix row).
public struct QuantizedRows {
    var layout: qk_rows

    /// Row m is output pixel (m / outputWidth, m % outputWidth) of a stride-1, unpadded
    /// convolution over one (height, width, channels) image at `image`.
    public init(convolutionOver image: UnsafePointer<UInt8>, width: Int, channels: Int, kernel: Int, outputWidth: Int) {
        layout = qk_rows(base: image, rows_per_line: outputWidth, line_stride: width * channels, row_stride: channels,
                         segment_count: kernel, segment_stride: width * channels,
                         segment_quads: quadCount(kernel * channels))
    }

    /// Rows of `length` bytes, `stride` apart.
    public init(matrix: UnsafePointer<UInt8>, stride: Int, length: Int) {
        layout = qk_rows(base: matrix, rows_per_line: 1, line_stride: stride, row_stride: 0,
                         segment_count: 1, segment_stride: 0, segment_quads: quadCount(length))
    }

    /// The bytes a row may read past its runs' real length (they meet zero weights): a buffer
    /// holding the rows needs this much readable slack after its end.
    public static let readSlack = 3
}

/// How many 4-byte groups hold `count` bytes.
@inline(__always) func quadCount(_ count: Int) -> Int { (count + 3) / 4 }

/// Signed 8-bit weights with one scale and offset per output column, packed the way the
/// product kernels read them: for a convolution, the weight of column n at kernel row s and
/// byte j of that row (kx · channels + c); for a dense layer, one run (s = 0).
///
/// The AVX2 path sums byte-pair products in 16 bits, which is exact only when the weights and
/// the input bytes are small enough: the bytes the rows hold must not exceed `inputCeiling`, and
/// the weights must keep every pair's products within 16 bits then (|w| ≤ 63 does with bytes up
/// to 255). From these the packing finds how many quads the kernels may sum before widening.
public struct QuantizedWeights: Sendable {
    public let columns: Int
    public let segments: Int
    public let segmentLength: Int
    private let packed: [Int8]
    /// How many consecutive quads of a kernel row the AVX2 path sums in 16 bits (≥ 1).
    public let chunkQuads: Int
    /// Per column: the factor turning an integer sum into the output's units, and the offset
    /// added after it (padded to whole blocks of 16).
    private let scale: [Float]
    private let offset: [Float]
    /// The largest byte an 8-bit product writes.
    private let outputCeiling: UInt8

    static let lanes = 16

    public init(columns: Int, segments: Int, segmentLength: Int, scale: [Float], offset: [Float],
                inputCeiling: UInt8, outputCeiling: UInt8,
                weight: (_ column: Int, _ segment: Int, _ byte: Int) -> Int8) {
        precondition(scale.count == columns && offset.count == columns)
        self.columns = columns
        self.segments = segments
        self.segmentLength = segmentLength
        self.outputCeiling = outputCeiling
        let blocks = (columns + Self.lanes - 1) / Self.lanes
        let quads = quadCount(segmentLength)
        var packed = [Int8](repeating: 0, count: blocks * segments * quads * Self.lanes * 4)
        for column in 0..<columns {
            let (block, lane) = column.quotientAndRemainder(dividingBy: Self.lanes)
            for segment in 0..<segments {
                for byte in 0..<segmentLength {
                    let quad = segment * quads + byte / 4
                    packed[((block * segments * quads + quad) * Self.lanes + lane) * 4 + byte % 4] = weight(column, segment, byte)
                }
            }
        }
        self.packed = packed
        chunkQuads = packed.withUnsafeBufferPointer {
            qk_chunk_quads($0.baseAddress!, columns, segments, quads, Int32(inputCeiling))
        }
        precondition(chunkQuads >= 1, "weights whose byte-pair products can leave 16 bits for inputs up to \(inputCeiling)")
        let padding = [Float](repeating: 0, count: blocks * Self.lanes - columns)
        self.scale = scale + padding
        self.offset = offset + padding
    }

    /// Rows `rows` of the product, each sum s of column n stored as the byte
    /// clamp(round(s · scale[n] + offset[n]), 0, outputCeiling): a ReLU and the next layer's quantisation.
    public func product(_ a: QuantizedRows, rows: Range<Int>, into out: UnsafeMutablePointer<UInt8>, stride: Int,
                        path: QuantizedKernelPath = .automatic) {
        withArguments(a) { qk_product_u8($0, rows.lowerBound, rows.upperBound, $1, out, stride, path.cValue) }
    }

    /// The same product stored as floats s · scale[n] + offset[n].
    public func product(_ a: QuantizedRows, rows: Range<Int>, into out: UnsafeMutablePointer<Float>, stride: Int,
                        path: QuantizedKernelPath = .automatic) {
        withArguments(a) { qk_product_f32($0, rows.lowerBound, rows.upperBound, $1, out, stride, path.cValue) }
    }

    /// The kernels' two descriptions, rows and weights, once the rows are checked against the weights.
    private func withArguments(_ a: QuantizedRows, _ body: (UnsafePointer<qk_rows>, UnsafePointer<qk_weights>) -> Void) {
        precondition(a.layout.segment_count == segments && a.layout.segment_quads == quadCount(segmentLength),
                     "rows of \(a.layout.segment_count)×\(a.layout.segment_quads) quads for weights of \(segments)×\(quadCount(segmentLength))")
        var layout = a.layout
        packed.withUnsafeBufferPointer { packed in
            scale.withUnsafeBufferPointer { scale in
                offset.withUnsafeBufferPointer { offset in
                    var weights = qk_weights(packed: packed.baseAddress!, columns: columns, chunk_quads: chunkQuads,
                                             scale: scale.baseAddress!, offset: offset.baseAddress!,
                                             ceiling: Float(outputCeiling))
                    body(&layout, &weights)
                }
            }
        }
    }
}
