/// A read-only matrix view over strided memory: element (i, j) is at
/// `base[i * rowStride + j * columnStride]`. Transposing swaps the strides, so one GEMM serves
/// A·B, Aᵀ·B and A·Bᵀ without copies beyond the packing every fast GEMM does anyway.
public struct MatrixRef {
    public let base: UnsafePointer<Float>
    public let rows: Int
    public let columns: Int
    public let rowStride: Int
    public let columnStride: Int

    /// A row-major `rows × columns` matrix whose rows are `leadingDimension` floats apart.
    @inline(__always)
    public init(_ base: UnsafePointer<Float>, rows: Int, columns: Int, leadingDimension: Int? = nil) {
        self.base = base
        self.rows = rows
        self.columns = columns
        self.rowStride = leadingDimension ?? columns
        self.columnStride = 1
    }

    @inline(__always)
    init(base: UnsafePointer<Float>, rows: Int, columns: Int, rowStride: Int, columnStride: Int) {
        self.base = base
        self.rows = rows
        self.columns = columns
        self.rowStride = rowStride
        self.columnStride = columnStride
    }

    public var transposed: MatrixRef {
        MatrixRef(base: base, rows: columns, columns: rows, rowStride: columnStride, columnStride: rowStride)
    }

    @inline(__always)
    public subscript(row: Int, column: Int) -> Float {
        base[row * rowStride + column * columnStride]
    }
}

// Register tile of the micro-kernel: 6 rows × 16 columns = 12 AVX2 accumulators, leaving
// registers for two B vectors and one broadcast (16 ymm registers in all).
let tileRows = 6
let tileColumns = 16
// Cache blocking: a packed A block (blockRows × blockDepth) stays in L2, a B panel in L3.
let blockDepth = 256
let blockRows = 96
let blockColumns = 2048

/// C (m × n, row-major, rows `ldc` apart) = A · B, or C += A · B when `accumulate`.
/// A is m × k, B is k × n. Packed, register-blocked, and split over the cores when large and
/// `parallel` (callers that already run one GEMM per core pass false).
/// Every element of C is summed in the same order however the work is split, so results do
/// not depend on the number of cores.
public func gemm(
    _ c: UnsafeMutablePointer<Float>, ldc: Int,
    _ a: MatrixRef, _ b: MatrixRef,
    accumulate: Bool, parallel: Bool = true
) {
    let m = a.rows, n = b.columns, k = a.columns
    precondition(b.rows == k, "gemm: inner dimensions differ (\(a.rows)×\(a.columns) · \(b.rows)×\(b.columns))")
    if m == 0 || n == 0 { return }
    if k == 0 {
        if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    let flops = 2 * m * n * k
    let threads = !parallel || flops < 400_000 ? 1 : kernelThreadCount
    if threads == 1 {
        gemmSerial(c, ldc: ldc, a, b, accumulate: accumulate)
        return
    }
    // Split the larger side of C into contiguous strips, aligned to the register tile.
    let cBox = UncheckedSendable(c)
    if n >= m {
        let strip = roundUp((n + threads - 1) / threads, to: tileColumns)
        parallelFor(threads) { part in
            let start = part * strip
            let width = min(strip, n - start)
            guard width > 0 else { return }
            let bPart = MatrixRef(base: b.base + start * b.columnStride, rows: k, columns: width,
                                  rowStride: b.rowStride, columnStride: b.columnStride)
            gemmSerial(cBox.value + start, ldc: ldc, a, bPart, accumulate: accumulate)
        }
    } else {
        let strip = roundUp((m + threads - 1) / threads, to: tileRows)
        parallelFor(threads) { part in
            let start = part * strip
            let height = min(strip, m - start)
            guard height > 0 else { return }
            let aPart = MatrixRef(base: a.base + start * a.rowStride, rows: height, columns: k,
                                  rowStride: a.rowStride, columnStride: a.columnStride)
            gemmSerial(cBox.value + start * ldc, ldc: ldc, aPart, b, accumulate: accumulate)
        }
    }
}

/// The textbook triple loop, kept as the reference the tests hold `gemm` to.
public func gemmNaive(
    _ c: UnsafeMutablePointer<Float>, ldc: Int,
    _ a: MatrixRef, _ b: MatrixRef,
    accumulate: Bool
) {
    for i in 0..<a.rows {
        for j in 0..<b.columns {
            var sum: Float = 0
            for p in 0..<a.columns { sum += a[i, p] * b[p, j] }
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum
        }
    }
}

@inline(__always)
func roundUp(_ value: Int, to multiple: Int) -> Int {
    (value + multiple - 1) / multiple * multiple
}

private func gemmSerial(
    _ c: UnsafeMutablePointer<Float>, ldc: Int,
    _ a: MatrixRef, _ b: MatrixRef,
    accumulate: Bool
) {
    let m = a.rows, k = a.columns
    let blockHeight = min(roundUp(m, to: tileRows), blockRows)
    // Row-major A is read in place: its rows are contiguous streams the prefetcher follows, so
    // packing would only copy it. So is a small transposed A (a few rows of a layer's output
    // read as columns: the six values the micro-kernel takes at each step are adjacent), for
    // which packing one short column at a time cost more than the multiply-adds; a large one
    // is packed into row slivers.
    let readsAInPlace = a.columnStride == 1 || (a.rowStride == 1 && m * k <= 1 << 14)
    let packedA = UnsafeMutablePointer<Float>.allocate(capacity: readsAInPlace ? 0 : blockHeight * min(k, blockDepth))
    defer { packedA.deallocate() }
    // A row-major B of whole slivers is read in place when A has few rows: each packed value
    // would serve only those few rows' multiply-adds, so packing cost a third of a layer's
    // weight gradient (32 rows: dyᵀ · cols).
    let readsBInPlace = b.columnStride == 1 && b.columns % tileColumns == 0 && m <= blockRows

    forEachBlock(of: b, packing: !readsBInPlace) { jc, nc, pc, kc, block, edgeTile in
        let addToC = accumulate || pc > 0
        for ic in stride(from: 0, to: m, by: blockRows) {
            let mc = min(blockRows, m - ic)
            if !readsAInPlace {
                packSlivers(packedA, a, rowStart: ic, count: mc, columnStart: pc, depth: kc, width: tileRows)
            }
            for jr in stride(from: 0, to: nc, by: tileColumns) {
                let cols = min(tileColumns, nc - jr)
                for ir in stride(from: 0, to: mc, by: tileRows) {
                    let rows = min(tileRows, mc - ir)
                    let aSliver = readsAInPlace
                        ? ASliver(rowsAt: a.base + (ic + ir) * a.rowStride + pc * a.columnStride, rowStride: a.rowStride,
                                  step: a.columnStride, rows: rows)
                        : ASliver(rowsAt: packedA + ir * kc, rowStride: 1, step: tileRows, rows: tileRows)
                    var tile = TileAccumulator()
                    tile.add(kc, aSliver, block.sliver(jr), step: block.step)
                    tile.store(c + (ic + ir) * ldc + jc + jr, ldc, rows: rows, columns: cols, accumulate: addToC, edge: edgeTile)
                }
            }
        }
    }
}

/// Runs body over B in blocks of up to `blockColumns` columns (from jc, nc wide) and
/// `blockDepth` rows (from pc, kc deep), each packed into 16-column slivers (sliver j at
/// packedB + j·kc) unless `packing` is false (B row-major, whole slivers: read where it is),
/// with a tile-sized scratch buffer for the edge tiles of C.
@inline(__always)
private func forEachBlock(
    of b: MatrixRef, packing: Bool = true,
    _ body: (_ jc: Int, _ nc: Int, _ pc: Int, _ kc: Int, _ block: BBlock, _ edgeTile: UnsafeMutablePointer<Float>) -> Void
) {
    let k = b.rows, n = b.columns
    let packedB = UnsafeMutablePointer<Float>.allocate(capacity: packing ? min(k, blockDepth) * min(roundUp(n, to: tileColumns), blockColumns) : 0)
    let edgeTile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * tileColumns)
    defer {
        packedB.deallocate()
        edgeTile.deallocate()
    }
    for jc in stride(from: 0, to: n, by: blockColumns) {
        let nc = min(blockColumns, n - jc)
        for pc in stride(from: 0, to: k, by: blockDepth) {
            let kc = min(blockDepth, k - pc)
            if packing {
                packSlivers(packedB, b.transposed, rowStart: jc, count: nc, columnStart: pc, depth: kc, width: tileColumns)
                body(jc, nc, pc, kc, BBlock(base: packedB, sliverScale: kc, step: tileColumns), edgeTile)
            } else {
                body(jc, nc, pc, kc, BBlock(base: b.base + pc * b.rowStride + jc, sliverScale: 1, step: b.rowStride), edgeTile)
            }
        }
    }
}

/// A block of B as the micro-kernel reads it: the 16 columns from jr start at sliver(jr), and
/// each row further on is `step` floats on (16 when packed, B's row stride in place).
struct BBlock {
    let base: UnsafePointer<Float>
    let sliverScale: Int
    let step: Int

    @inline(__always)
    func sliver(_ jr: Int) -> UnsafePointer<Float> { base + jr * sliverScale }
}

/// Packs rows `rowStart..<+count` × columns `columnStart..<+depth` of m into slivers of
/// `width` rows, each stored column by column (`width` values per column), the last one
/// zero-padded. A is packed this way directly, B as its transpose (its columns are Bᵀ's rows).
@inline(__always)
private func packSlivers(
    _ packed: UnsafeMutablePointer<Float>, _ m: MatrixRef,
    rowStart: Int, count: Int, columnStart: Int, depth: Int, width: Int
) {
    var out = packed
    for i0 in stride(from: 0, to: count, by: width) {
        let rows = min(width, count - i0)
        let origin = m.base + (rowStart + i0) * m.rowStride + columnStart * m.columnStride
        if m.rowStride == 1 {
            // Each column of the sliver is contiguous in memory.
            for p in 0..<depth {
                let column = origin + p * m.columnStride, target = out + p * width
                for r in 0..<rows { target[r] = column[r] }
                for r in rows..<width { target[r] = 0 }
            }
        } else {
            for r in 0..<rows {
                let row = origin + r * m.rowStride
                for p in 0..<depth { out[p * width + r] = row[p * m.columnStride] }
            }
            for r in rows..<width {
                for p in 0..<depth { out[p * width + r] = 0 }
            }
        }
        out += width * depth
    }
}

/// Six rows of A for the micro-kernel: row r, element p is at rows[r] + p · step.
/// Packed slivers have step 6; rows read in place have step 1. Rows past the matrix's end
/// repeat row 0, so every load stays in bounds (their results are discarded).
struct ASliver {
    let row0, row1, row2, row3, row4, row5: UnsafePointer<Float>
    let step: Int

    @inline(__always)
    init(rowsAt base: UnsafePointer<Float>, rowStride: Int, step: Int, rows: Int) {
        func row(_ r: Int) -> UnsafePointer<Float> { r < rows ? base + r * rowStride : base }
        self.init(row(0), row(1), row(2), row(3), row(4), row(5), step: step)
    }

    @inline(__always)
    init(_ row0: UnsafePointer<Float>, _ row1: UnsafePointer<Float>, _ row2: UnsafePointer<Float>,
         _ row3: UnsafePointer<Float>, _ row4: UnsafePointer<Float>, _ row5: UnsafePointer<Float>, step: Int) {
        (self.row0, self.row1, self.row2, self.row3, self.row4, self.row5) = (row0, row1, row2, row3, row4, row5)
        self.step = step
    }

    /// The same rows, `count` elements further on.
    @inline(__always)
    func advanced(by count: Int) -> ASliver {
        let offset = count * step
        return ASliver(row0 + offset, row1 + offset, row2 + offset, row3 + offset, row4 + offset, row5 + offset, step: step)
    }
}

/// C (m × n, rows `ldc` apart) = A · B, where row i of A is not stored but gathered from
/// `segments` runs of `segmentLength` contiguous floats, run s starting at
/// `rowStart(i) + s · segmentStride`: an unpadded convolution's patches read in place from
/// channels-last input (a run per kernel row), with no unfolded copy. Single-threaded; sums
/// every element of C in the order `gemm` does, so the result is the same to the bit.
func gemmGatheredRows(
    _ c: UnsafeMutablePointer<Float>, ldc: Int, rows m: Int,
    rowStart: (Int) -> UnsafePointer<Float>, segments: Int, segmentLength: Int, segmentStride: Int,
    _ b: MatrixRef
) {
    let k = segments * segmentLength
    precondition(b.rows == k, "gemmGatheredRows: \(k) gathered columns against \(b.rows) rows of B")
    guard m > 0, b.columns > 0, k > 0 else { return }
    forEachBlock(of: b) { jc, nc, pc, kc, block, edgeTile in
        for ir in stride(from: 0, to: m, by: tileRows) {
            let rows = min(tileRows, m - ir)
            func start(_ r: Int) -> UnsafePointer<Float> { rowStart(ir + (r < rows ? r : 0)) }
            let patch = ASliver(start(0), start(1), start(2), start(3), start(4), start(5), step: 1)
            for jr in stride(from: 0, to: nc, by: tileColumns) {
                var tile = TileAccumulator()
                // Patch columns pc..<pc + kc, a run of contiguous floats at a time.
                var p = pc
                while p < pc + kc {
                    let segment = p / segmentLength, within = p % segmentLength
                    let run = min(segmentLength - within, pc + kc - p)
                    tile.add(run, patch.advanced(by: segment * segmentStride + within), block.sliver(jr) + (p - pc) * tileColumns,
                             step: tileColumns)
                    p += run
                }
                tile.store(c + ir * ldc + jc + jr, ldc, rows: rows, columns: min(tileColumns, nc - jr), accumulate: pc > 0, edge: edgeTile)
            }
        }
    }
}

/// A 6×16 tile of C summed in twelve SIMD8 registers: the micro-kernel's state, so that a
/// convolution can feed it a patch's rows piece by piece, in the order GEMM would.
struct TileAccumulator {
    typealias V = SIMD8<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()

    /// Adds A[6×kc] · B[kc×16], B's rows `step` floats apart (16 when packed).
    @inline(__always)
    mutating func add(_ kc: Int, _ a: ASliver, _ b: UnsafePointer<Float>, step: Int) {
        var p = 0
        var bp = UnsafeRawPointer(b)
        for _ in 0..<kc {
            let b0 = bp.loadUnaligned(as: V.self)
            let b1 = (bp + 32).loadUnaligned(as: V.self)
            var x = V(repeating: a.row0[p])
            c00.addProduct(x, b0); c01.addProduct(x, b1)
            x = V(repeating: a.row1[p])
            c10.addProduct(x, b0); c11.addProduct(x, b1)
            x = V(repeating: a.row2[p])
            c20.addProduct(x, b0); c21.addProduct(x, b1)
            x = V(repeating: a.row3[p])
            c30.addProduct(x, b0); c31.addProduct(x, b1)
            x = V(repeating: a.row4[p])
            c40.addProduct(x, b0); c41.addProduct(x, b1)
            x = V(repeating: a.row5[p])
            c50.addProduct(x, b0); c51.addProduct(x, b1)
            p += a.step
            bp += step * 4
        }
    }

    /// The first `rows` × `columns` of the tile into C (C = tile, or C += tile when
    /// `accumulate`); a partial tile goes through `edge`, a 6×16 scratch buffer.
    @inline(__always)
    func store(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, columns: Int, accumulate: Bool,
               edge: UnsafeMutablePointer<Float>) {
        if rows == tileRows && columns == tileColumns { return store(c, ldc, accumulate) }
        for r in 0..<rows {
            for column in 0..<columns { edge[r * tileColumns + column] = c[r * ldc + column] }
        }
        store(edge, tileColumns, accumulate)
        for r in 0..<rows {
            for column in 0..<columns { c[r * ldc + column] = edge[r * tileColumns + column] }
        }
    }

    /// C = the tile, or C += the tile when `accumulate`.
    @inline(__always)
    func store(_ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
        @inline(__always) func row(_ r: Int, _ v0: V, _ v1: V) {
            let p = UnsafeMutableRawPointer(c + r * ldc)
            if accumulate {
                p.storeBytes(of: p.loadUnaligned(as: V.self) + v0, as: V.self)
                (p + 32).storeBytes(of: (p + 32).loadUnaligned(as: V.self) + v1, as: V.self)
            } else {
                p.storeBytes(of: v0, as: V.self)
                (p + 32).storeBytes(of: v1, as: V.self)
            }
        }
        row(0, c00, c01); row(1, c10, c11); row(2, c20, c21)
        row(3, c30, c31); row(4, c40, c41); row(5, c50, c51)
    }
}
