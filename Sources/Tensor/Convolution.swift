// 2-D convolution through im2col + GEMM. Activations are stored channel-major over the batch
// ("CNHW": channel, image, row, column), so the GEMM output of one layer is directly the input
// layout of the next and the batch folds into the GEMM's wide side.

/// Geometry of one convolution: square kernel, equal padding on every side, stride 1.
public struct ConvolutionShape: Equatable, Sendable {
    public var inputChannels: Int
    public var outputChannels: Int
    public var height: Int
    public var width: Int
    public var kernel: Int
    public var padding: Int

    public init(inputChannels: Int, outputChannels: Int, height: Int, width: Int, kernel: Int, padding: Int) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.height = height
        self.width = width
        self.kernel = kernel
        self.padding = padding
    }

    public var outputHeight: Int { height + 2 * padding - kernel + 1 }
    public var outputWidth: Int { width + 2 * padding - kernel + 1 }
    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    public var patchSize: Int { inputChannels * kernel * kernel }
    public var weightCount: Int { outputChannels * patchSize }
}

/// cols is (C·K·K, B·OH·OW): column (b, oh, ow) holds the patch under output pixel (oh, ow) of image b.
/// x is (C, B, H, W).
public func im2col(_ cols: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ s: ConvolutionShape, batch: Int) {
    let oh = s.outputHeight, ow = s.outputWidth
    let columns = batch * oh * ow
    let rowsPerChannel = s.kernel * s.kernel
    parallelFor(min(kernelThreadCount, s.patchSize)) { part in
        let rowCount = (s.patchSize + kernelThreadCount - 1) / kernelThreadCount
        let firstRow = part * rowCount
        for row in firstRow..<min(firstRow + rowCount, s.patchSize) {
            let c = row / rowsPerChannel, kh = row % rowsPerChannel / s.kernel, kw = row % s.kernel
            var out = cols + row * columns
            // Output columns ow whose input column ow + kw − padding lies inside the image.
            let firstValid = max(0, s.padding - kw), endValid = min(ow, s.width + s.padding - kw)
            for b in 0..<batch {
                let image = x + (c * batch + b) * s.height * s.width
                for y in 0..<oh {
                    let iy = y + kh - s.padding
                    if iy < 0 || iy >= s.height || firstValid >= endValid {
                        out.update(repeating: 0, count: ow)
                    } else {
                        let source = image + iy * s.width + kw - s.padding
                        for j in 0..<firstValid { out[j] = 0 }
                        for j in firstValid..<endValid { out[j] = source[j] }
                        for j in endValid..<ow { out[j] = 0 }
                    }
                    out += ow
                }
            }
        }
    }
}

/// dx += the patches of dcols folded back onto the image: the adjoint of `im2col`.
/// dcols is (C·K·K, B·OH·OW), dx is (C, B, H, W).
public func col2im(_ dx: UnsafeMutablePointer<Float>, _ dcols: UnsafePointer<Float>, _ s: ConvolutionShape, batch: Int) {
    let oh = s.outputHeight, ow = s.outputWidth
    let columns = batch * oh * ow
    let rowsPerChannel = s.kernel * s.kernel
    // Parallel over input channels: each channel's rows only touch that channel's planes.
    parallelFor(min(kernelThreadCount, s.inputChannels)) { part in
        for c in stride(from: part, to: s.inputChannels, by: kernelThreadCount) {
            for row in c * rowsPerChannel..<(c + 1) * rowsPerChannel {
                let kh = row % rowsPerChannel / s.kernel, kw = row % s.kernel
                var grad = dcols + row * columns
                let firstValid = max(0, s.padding - kw), endValid = min(ow, s.width + s.padding - kw)
                for b in 0..<batch {
                    let image = dx + (c * batch + b) * s.height * s.width
                    for y in 0..<oh {
                        let iy = y + kh - s.padding
                        if iy >= 0 && iy < s.height && firstValid < endValid {
                            let target = image + iy * s.width + kw - s.padding
                            for j in firstValid..<endValid { target[j] += grad[j] }
                        }
                        grad += ow
                    }
                }
            }
        }
    }
}

/// y = w ⊛ x + bias. x is (C, B, H, W), w is (OC, C, K, K), bias is (OC), y is (OC, B, OH, OW).
/// cols receives the im2col matrix, which backward needs again.
public func convolutionForward(
    _ y: UnsafeMutablePointer<Float>, _ cols: UnsafeMutablePointer<Float>,
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
    _ s: ConvolutionShape, batch: Int
) {
    let columns = batch * s.outputHeight * s.outputWidth
    im2col(cols, x, s, batch: batch)
    gemm(y, ldc: columns,
         MatrixRef(w, rows: s.outputChannels, columns: s.patchSize),
         MatrixRef(UnsafePointer(cols), rows: s.patchSize, columns: columns),
         accumulate: false)
    addChannelBias(y, bias, channels: s.outputChannels, planeSize: columns)
}

/// dx += ∂L/∂x, dw += ∂L/∂w, dbias += ∂L/∂bias, given dy and what forward cached (cols).
/// dx may be nil for the first layer, whose input needs no gradient. dcols is scratch of cols' size.
public func convolutionBackward(
    _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>, _ dbias: UnsafeMutablePointer<Float>,
    _ dy: UnsafePointer<Float>, _ cols: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    _ dcols: UnsafeMutablePointer<Float>,
    _ s: ConvolutionShape, batch: Int
) {
    let columns = batch * s.outputHeight * s.outputWidth
    let dyMatrix = MatrixRef(dy, rows: s.outputChannels, columns: columns)
    gemm(dw, ldc: s.patchSize, dyMatrix, MatrixRef(cols, rows: s.patchSize, columns: columns).transposed, accumulate: true)
    sumChannels(into: dbias, dy, channels: s.outputChannels, planeSize: columns)
    guard let dx else { return }
    gemm(dcols, ldc: columns, MatrixRef(w, rows: s.outputChannels, columns: s.patchSize).transposed, dyMatrix, accumulate: false)
    col2im(dx, dcols, s, batch: batch)
}

/// Direct six-loop convolution, the reference `convolutionForward` is tested against.
public func convolutionNaive(
    _ y: UnsafeMutablePointer<Float>,
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
    _ s: ConvolutionShape, batch: Int
) {
    let oh = s.outputHeight, ow = s.outputWidth
    for o in 0..<s.outputChannels {
        for b in 0..<batch {
            for i in 0..<oh {
                for j in 0..<ow {
                    var sum = bias[o]
                    for c in 0..<s.inputChannels {
                        for kh in 0..<s.kernel {
                            for kw in 0..<s.kernel {
                                let iy = i + kh - s.padding, ix = j + kw - s.padding
                                guard iy >= 0, iy < s.height, ix >= 0, ix < s.width else { continue }
                                sum += w[((o * s.inputChannels + c) * s.kernel + kh) * s.kernel + kw]
                                    * x[((c * batch + b) * s.height + iy) * s.width + ix]
                            }
                        }
                    }
                    y[((o * batch + b) * oh + i) * ow + j] = sum
                }
            }
        }
    }
}
