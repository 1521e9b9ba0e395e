/// Matrix products whose left operand is mostly zeros — MNIST pixels are ~80% paper — done
/// by multiplying only its non-zeros: a dense GEMM spends four fifths of its work on zeros
/// there. Each part of the result is summed in a fixed order whatever the thread split, so
/// results are deterministic.

/// The share of zeros among `count` values.
public func zeroFraction(_ x: UnsafePointer<Float>, count: Int) -> Float {
    guard count > 0 else { return 0 }
    var zeros = 0
    for i in 0..<count where x[i] == 0 { zeros += 1 }
    return Float(zeros) / Float(count)
}

/// c (m×n, row stride ldc) = a · b, or += with `accumulate`; a is m×k row-major, b k×n row-major.
///
/// Split along k into two halves as well as over rows: part p multiplies a's columns of half
/// p mod 2 by b's rows of that half, so each of two cores reads only its half of b — the rows
/// its share of the weight gradient and of the optimizer step touch too — and b stays in that
/// core's cache from one training step to the next instead of crossing over. The second
/// half's sums are added to the first's, the same order on any number of cores.
public func gemmSparseLeft(
    _ c: UnsafeMutablePointer<Float>, ldc: Int,
    _ a: UnsafePointer<Float>, rows m: Int, inner k: Int,
    _ b: UnsafePointer<Float>, columns n: Int, accumulate: Bool
) {
    let half = k / 2
    let secondHalf = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    defer { secondHalf.deallocate() }
    let rowParts = m >= 16 ? max(1, kernelThreadCount / 2) : 1
    let shared = UncheckedSendable((c, a, b, secondHalf))
    parallelFor(2 * rowParts) { part in
        let (c, a, b, secondHalf) = shared.value
        let inner = part % 2 == 0 ? 0..<half : half..<k
        withNonZeroBuffers(inner.count) { indices, values in
            for i in partRange(part / 2, of: rowParts, count: m) {
                let count = gatherNonZeros(a + i * k + inner.lowerBound, count: inner.count, indices, values)
                if part % 2 == 0 {
                    sparseRowTimesMatrix(c + i * ldc, indices, values, count: count, b, columns: n, accumulate: accumulate)
                } else {
                    sparseRowTimesMatrix(secondHalf + i * n, indices, values, count: count, b + half * n, columns: n, accumulate: false)
                }
            }
        }
    }
    for i in 0..<m {
        let row = c + i * ldc, addend = secondHalf + i * n
        for j in 0..<n { row[j] += addend[j] }
    }
}

/// c (k×n) += aᵀ · d, with a m×k row-major and mostly zeros, d m×n row-major.
public func gemmSparseLeftTransposed(
    _ c: UnsafeMutablePointer<Float>,
    _ a: UnsafePointer<Float>, rows m: Int, inner k: Int,
    _ d: UnsafePointer<Float>, columns n: Int
) {
    let shared = UncheckedSendable((c, a, d))
    parallelRanges(k, minimumPerThread: 32) { columns in
        let (c, a, d) = shared.value
        // Eight columns of a at a time: one vector load per row finds their non-zeros, which
        // go to eight lists, one per column, rows in increasing order.
        withNonZeroBuffers(8 * m) { rows, values in
            var p = columns.lowerBound
            while p < columns.upperBound {
                let width = min(8, columns.upperBound - p)
                var counts = SIMD8<Int32>()
                if width == 8 {
                    for i in 0..<m {
                        let block = UnsafeRawPointer(a + i * k + p).loadUnaligned(as: SIMD8<Float>.self)
                        let ink = block .!= SIMD8<Float>()
                        guard any(ink) else { continue }
                        for lane in 0..<8 {
                            rows[lane * m + Int(counts[lane])] = i
                            values[lane * m + Int(counts[lane])] = block[lane]
                        }
                        counts &+= SIMD8<Int32>().replacing(with: 1, where: ink)
                    }
                } else {
                    for lane in 0..<width {
                        for i in 0..<m where a[i * k + p + lane] != 0 {
                            rows[lane * m + Int(counts[lane])] = i
                            values[lane * m + Int(counts[lane])] = a[i * k + p + lane]
                            counts[lane] += 1
                        }
                    }
                }
                for lane in 0..<width where counts[lane] > 0 {
                    sparseRowTimesMatrix(c + (p + lane) * n, rows + lane * m, values + lane * m, count: Int(counts[lane]),
                                         d, columns: n, accumulate: true)
                }
                p += width
            }
        }
    }
}

/// Room for the non-zeros of one row or column of up to `capacity` values, without the heap.
@inline(__always)
private func withNonZeroBuffers(_ capacity: Int, _ body: (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Float>) -> Void) {
    withUnsafeTemporaryAllocation(of: Int.self, capacity: capacity) { indices in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: capacity) { values in
            body(indices.baseAddress!, values.baseAddress!)
        }
    }
}

/// Writes the positions and values of the non-zeros among `count` contiguous values; returns
/// how many. Eight at a time: a block of paper is skipped with one comparison; in the others
/// every lane is written and the count advances only past ink, so no branch depends on a pixel.
@inline(__always)
private func gatherNonZeros(
    _ x: UnsafePointer<Float>, count: Int, _ indices: UnsafeMutablePointer<Int>, _ values: UnsafeMutablePointer<Float>
) -> Int {
    typealias V = SIMD8<Float>
    let laneBits = SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128)
    var found = 0
    var start = 0
    let raw = UnsafeRawPointer(x)
    while start + 8 <= count {
        let block = raw.loadUnaligned(fromByteOffset: start * 4, as: V.self)
        // One bit per inked lane, in a register: testing lanes of the mask itself compiles to
        // a loop over a copy of it on the stack.
        let bits = (unsafeBitCast(block .!= V(), to: SIMD8<Int32>.self) & laneBits).wrappedSum()
        if bits != 0 {
            @inline(__always) func take(_ lane: Int) {
                indices[found] = start + lane
                values[found] = x[start + lane]
                found &+= Int((bits >> lane) & 1)
            }
            take(0); take(1); take(2); take(3); take(4); take(5); take(6); take(7)
        }
        start += 8
    }
    for position in start..<count where x[position] != 0 {
        indices[found] = position
        values[found] = x[position]
        found += 1
    }
    return found
}

/// row (n values) (+)= Σ_j values[j] · matrix[indices[j], ·], in order of j. Blocks of 64
/// columns stay in eight SIMD registers across the whole sum.
@inline(__always)
private func sparseRowTimesMatrix(
    _ row: UnsafeMutablePointer<Float>, _ indices: UnsafePointer<Int>, _ values: UnsafePointer<Float>, count: Int,
    _ matrix: UnsafePointer<Float>, columns n: Int, accumulate: Bool
) {
    typealias V = SIMD8<Float>
    let out = UnsafeMutableRawPointer(row)
    var j0 = 0
    while j0 + 64 <= n {
        var s0 = V(), s1 = V(), s2 = V(), s3 = V(), s4 = V(), s5 = V(), s6 = V(), s7 = V()
        if accumulate {
            s0 = out.loadUnaligned(fromByteOffset: j0 * 4, as: V.self)
            s1 = out.loadUnaligned(fromByteOffset: j0 * 4 + 32, as: V.self)
            s2 = out.loadUnaligned(fromByteOffset: j0 * 4 + 64, as: V.self)
            s3 = out.loadUnaligned(fromByteOffset: j0 * 4 + 96, as: V.self)
            s4 = out.loadUnaligned(fromByteOffset: j0 * 4 + 128, as: V.self)
            s5 = out.loadUnaligned(fromByteOffset: j0 * 4 + 160, as: V.self)
            s6 = out.loadUnaligned(fromByteOffset: j0 * 4 + 192, as: V.self)
            s7 = out.loadUnaligned(fromByteOffset: j0 * 4 + 224, as: V.self)
        }
        for j in 0..<count {
            let v = V(repeating: values[j])
            let b = UnsafeRawPointer(matrix + indices[j] * n + j0)
            s0.addProduct(v, b.loadUnaligned(as: V.self))
            s1.addProduct(v, b.loadUnaligned(fromByteOffset: 32, as: V.self))
            s2.addProduct(v, b.loadUnaligned(fromByteOffset: 64, as: V.self))
            s3.addProduct(v, b.loadUnaligned(fromByteOffset: 96, as: V.self))
            s4.addProduct(v, b.loadUnaligned(fromByteOffset: 128, as: V.self))
            s5.addProduct(v, b.loadUnaligned(fromByteOffset: 160, as: V.self))
            s6.addProduct(v, b.loadUnaligned(fromByteOffset: 192, as: V.self))
            s7.addProduct(v, b.loadUnaligned(fromByteOffset: 224, as: V.self))
        }
        out.storeBytes(of: s0, toByteOffset: j0 * 4, as: V.self)
        out.storeBytes(of: s1, toByteOffset: j0 * 4 + 32, as: V.self)
        out.storeBytes(of: s2, toByteOffset: j0 * 4 + 64, as: V.self)
        out.storeBytes(of: s3, toByteOffset: j0 * 4 + 96, as: V.self)
        out.storeBytes(of: s4, toByteOffset: j0 * 4 + 128, as: V.self)
        out.storeBytes(of: s5, toByteOffset: j0 * 4 + 160, as: V.self)
        out.storeBytes(of: s6, toByteOffset: j0 * 4 + 192, as: V.self)
        out.storeBytes(of: s7, toByteOffset: j0 * 4 + 224, as: V.self)
        j0 += 64
    }
    while j0 + 8 <= n {
        var s = accumulate ? out.loadUnaligned(fromByteOffset: j0 * 4, as: V.self) : V()
        for j in 0..<count {
            s.addProduct(V(repeating: values[j]), UnsafeRawPointer(matrix + indices[j] * n + j0).loadUnaligned(as: V.self))
        }
        out.storeBytes(of: s, toByteOffset: j0 * 4, as: V.self)
        j0 += 8
    }
    for column in j0..<n {
        var s = accumulate ? row[column] : 0
        for j in 0..<count { s.addProduct(values[j], matrix[indices[j] * n + column]) }
        row[column] = s
    }
}
