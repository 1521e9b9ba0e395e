import Formats
import Tensor

/// GFLOP/s of the GEMM shapes training runs, on one thread and on all, against the peak of
/// the FMA units as a register-only loop measures it.
func benchmarkGEMM() {
    print("\n== GEMM, GFLOP/s (float32)")
    let peak = fmaPeakPerCore()
    print("peak (register-only FMA loop, AVX2 width): \(fixed(peak, 1)) per core, \(fixed(peak * Double(kernelThreadCount), 1)) for \(kernelThreadCount) cores")
    let shapes: [(name: String, m: Int, n: Int, k: Int, transposeA: Bool)] = [
        ("mlp forward x·W1, batch 100", 100, 128, 784, false),
        ("mlp dW1 = xᵀ·dZ1, batch 100", 784, 128, 100, true),
        ("conv2 forward, 3 images", 588, 32, 400, false),
        ("conv2 dW = dyᵀ·cols, 3 images", 32, 400, 588, true),
        ("conv2 dcols = dy·W, 3 images", 588, 400, 32, false),
        ("conv1 forward, 13 images", 10192, 16, 25, false),
        ("square 512", 512, 512, 512, false),
    ]
    print(padded("shape (m×n×k)", 16) + padded("role", 34) + padded("1 thread", 12) + padded("\(kernelThreadCount) threads", 12) + "of peak")
    for shape in shapes {
        let single = measureGEMM(shape.m, shape.n, shape.k, transposeA: shape.transposeA, parallel: false)
        let all = measureGEMM(shape.m, shape.n, shape.k, transposeA: shape.transposeA, parallel: true)
        let share = max(single / peak, all / (peak * Double(kernelThreadCount)))
        print(padded("\(shape.m)×\(shape.n)×\(shape.k)", 16) + padded(shape.name, 34) + padded(fixed(single, 1), 12)
              + padded(fixed(all, 1), 12) + percentage(share))
    }
}

private func measureGEMM(_ m: Int, _ n: Int, _ k: Int, transposeA: Bool, parallel: Bool) -> Double {
    var random = SystemRandomNumberGenerator()
    let a = (0..<m * k).map { _ in Float.random(in: -1...1, using: &random) }
    let b = (0..<k * n).map { _ in Float.random(in: -1...1, using: &random) }
    var c = [Float](repeating: 0, count: m * n)
    var repetitions = 0
    let start = seconds()
    while seconds() - start < 0.4 {
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    let aRef = transposeA ? MatrixRef(ap.baseAddress!, rows: k, columns: m).transposed
                                          : MatrixRef(ap.baseAddress!, rows: m, columns: k)
                    gemm(cp.baseAddress!, ldc: n, aRef, MatrixRef(bp.baseAddress!, rows: k, columns: n),
                         accumulate: true, parallel: parallel)
                }
            }
        }
        repetitions += 1
    }
    return Double(2 * m * n * k * repetitions) / (seconds() - start) / 1e9
}

/// Twelve independent SIMD8 fused multiply-adds per iteration: what the FMA units can do (the
/// best of three runs after one untimed: the clock rises during the first).
func fmaPeakPerCore() -> Double {
    bestOfThree { fmaMultiplyAdds(iterations: 20_000_000) * 2 }
}

/// Multiply-adds of `iterations` rounds of the register-only FMA loop, per second.
private func fmaMultiplyAdds(iterations: Int) -> Double {
    typealias V = SIMD8<Float>
    // Values that stay finite and normal: a ← y + a·x (one fused multiply-add) converges.
    var accumulators = (0..<12).map { V(repeating: Float($0) * 1e-3) }
    let x = V(repeating: 0.5), y = V(repeating: 1e-3)
    let start = seconds()
    accumulators.withUnsafeMutableBufferPointer { acc in
        var a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5]
        var a6 = acc[6], a7 = acc[7], a8 = acc[8], a9 = acc[9], a10 = acc[10], a11 = acc[11]
        for _ in 0..<iterations {
            a0 = y.addingProduct(a0, x); a1 = y.addingProduct(a1, x); a2 = y.addingProduct(a2, x); a3 = y.addingProduct(a3, x)
            a4 = y.addingProduct(a4, x); a5 = y.addingProduct(a5, x); a6 = y.addingProduct(a6, x); a7 = y.addingProduct(a7, x)
            a8 = y.addingProduct(a8, x); a9 = y.addingProduct(a9, x); a10 = y.addingProduct(a10, x); a11 = y.addingProduct(a11, x)
        }
        acc[0] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
    }
    let elapsed = seconds() - start
    if accumulators[0].sum() == .infinity { print("") }
    return Double(iterations * 12 * 8) / elapsed / 1e9
}

/// The best of three calls of `rate`, after one untimed.
private func bestOfThree(_ rate: () -> Double) -> Double {
    _ = rate()
    return (0..<3).map { _ in rate() }.max()!
}

/// Billions of multiply-adds per second on one core from a register-only loop of the 8-bit
/// path's product instructions (on AVX2 vpmaddubsw and vpaddw over a chunk of four quads, then
/// vpmaddwd and vpaddd; vpdpbusd with VNNI), the best of three after one untimed; nil on the
/// portable path, which has no instructions of its own to be measured against.
func eightBitPeakPerCore() -> Double? {
    guard QuantizedKernelPath.automatic.registerOnlyMultiplyAdds(rounds: 1) > 0 else { return nil }
    return bestOfThree {
        let start = seconds()
        let done = QuantizedKernelPath.automatic.registerOnlyMultiplyAdds(rounds: 20_000_000)
        return Double(done) / (seconds() - start) / 1e9
    }
}
