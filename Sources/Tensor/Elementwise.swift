#if canImport(Glibc)
import Glibc
#endif

// Pointwise kernels. Forward and backward of each activation sit together; backward
// accumulates into the input gradient (`+=`), so callers zero gradients once per step.

/// out = max(0, x), n values.
public func reluForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int) {
    let outBox = UncheckedSendable(out)
    parallelRanges(n) { range in
        for i in range { outBox.value[i] = max(x[i], 0) }
    }
}

/// dx += dout · [out > 0], n values.
public func reluBackward(_ dx: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ out: UnsafePointer<Float>, count n: Int) {
    let dxBox = UncheckedSendable(dx)
    parallelRanges(n) { range in
        for i in range { dxBox.value[i] += out[i] > 0 ? dout[i] : 0 }
    }
}

/// out = tanh(x), n values.
public func tanhForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int) {
    let outBox = UncheckedSendable(out)
    parallelRanges(n, minimumPerThread: 4096) { range in
        let out = UnsafeMutableRawPointer(outBox.value), input = UnsafeRawPointer(x)
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            out.storeBytes(of: fastTanh(input.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)),
                           toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        for i in i..<range.upperBound { outBox.value[i] = fastTanh(SIMD8(repeating: x[i]))[0] }
    }
}

/// dx += dout · (1 − out²), n values.
public func tanhBackward(_ dx: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ out: UnsafePointer<Float>, count n: Int) {
    let dxBox = UncheckedSendable(dx)
    parallelRanges(n, minimumPerThread: 4096) { range in
        for i in range { dxBox.value[i] += dout[i] * (1 - out[i] * out[i]) }
    }
}

/// tanh(x) = (e − 1)/(e + 1) with e = 2^(2x·log₂e), eight lanes at a time: 2^y is 2^round(y)
/// made in the exponent bits times a degree-7 polynomial for 2^f, |f| ≤ ½ (relative error
/// ~2e-9, below float rounding), so |error| < 1e-6 — where Glibc's tanhf and exp2f are
/// calls per value.
@inline(__always)
func fastTanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Clamped by hand: the generic clamped(lowerBound:upperBound:) stays a call.
    var clamped = x
    clamped.replace(with: 15, where: x .> 15)
    clamped.replace(with: -15, where: x .< -15)
    let y = clamped * (2 * 1.442695040888963)
    // Adding 1.5·2²³ rounds y to an integer held in the low mantissa bits (|y| < 44).
    let shifter = SIMD8<Float>(repeating: 12_582_912)
    let shifted = y + shifter
    let f = y - (shifted - shifter)
    // Taylor coefficients of 2^f = e^(f ln 2): (ln 2)^k / k!.
    var p = SIMD8<Float>(repeating: 1.5252734e-5)
    p = p * f + 1.5403530e-4
    p = p * f + 1.3333558e-3
    p = p * f + 9.6181291e-3
    p = p * f + 5.5504109e-2
    p = p * f + 0.24022651
    p = p * f + 0.69314718
    p = p * f + 1
    let whole = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(shifter, to: SIMD8<Int32>.self)
    let exponent = (whole &+ 127) &<< 23
    let e = p * unsafeBitCast(exponent, to: SIMD8<Float>.self)
    return (e - 1) / (e + 1)
}

/// y[i, j] += bias[j] for a rows × columns matrix (a bias per output feature).
public func addRowBias(_ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, columns: Int) {
    for i in 0..<rows {
        let row = y + i * columns
        for j in 0..<columns { row[j] += bias[j] }
    }
}

/// dbias[j] += Σ_i dy[i, j] for a rows × columns matrix.
public func sumRows(into dbias: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, rows: Int, columns: Int) {
    for i in 0..<rows {
        let row = dy + i * columns
        for j in 0..<columns { dbias[j] += row[j] }
    }
}
