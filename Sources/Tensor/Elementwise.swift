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
        for i in range { outBox.value[i] = fastTanh(x[i]) }
    }
}

/// dx += dout · (1 − out²), n values.
public func tanhBackward(_ dx: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ out: UnsafePointer<Float>, count n: Int) {
    let dxBox = UncheckedSendable(dx)
    parallelRanges(n, minimumPerThread: 4096) { range in
        for i in range { dxBox.value[i] += dout[i] * (1 - out[i] * out[i]) }
    }
}

/// tanh through exp: |error| < 1e-6, and it vectorises where Glibc's tanhf does not.
@inline(__always)
func fastTanh(_ x: Float) -> Float {
    let clamped = min(max(x, -15), 15)
    let e = exp2f(2 * clamped * 1.442695040888963)
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
