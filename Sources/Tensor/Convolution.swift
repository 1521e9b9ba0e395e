// 2-D convolution through im2col + GEMM on channels-last activations ("NHWC": image, row,
// column, channel). Channels-last makes each patch row a contiguous run of K·C values, so the
// unfolding copies long runs instead of K-wide slivers, and the GEMM's wide side is the pixels.
// Work is split over the images of the batch: each part unfolds a few images at a time into a
// cache-sized buffer and runs single-threaded GEMMs on it, so the unfolded matrix (25× the
// input for a 5×5 kernel) never travels through main memory.

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
    public var outputPlane: Int { outputHeight * outputWidth }
    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    public var patchSize: Int { inputChannels * kernel * kernel }
    public var weightCount: Int { outputChannels * patchSize }

    /// Images unfolded at a time: enough for wide GEMMs, few enough to stay in L2/L3 (~1 MB).
    var imagesPerChunk: Int { max(1, (1 << 18) / (patchSize * outputPlane)) }
}

/// Parts the batch is split into. Fixed (not the core count) so that the order in which
/// per-part weight gradients are summed, and so the trained weights, are the same on every machine.
let batchParts = 4

/// Walks the im2col matrix of `images` row segment by row segment: for each output pixel and
/// kernel row, body gets the segment's offset in cols (K·C values), the offset in x of the
/// input pixel under its first kernel column (nil when that kernel row lies in the padding),
/// and the range of the segment that lies inside the image. im2col and col2im share it, so
/// the two stay exact adjoints.
@inline(__always)
private func forEachPatchSegment(
    _ s: ConvolutionShape, images: Range<Int>,
    _ body: (_ colsOffset: Int, _ inputOffset: Int?, _ inside: Range<Int>) -> Void
) {
    let c = s.inputChannels, k = s.kernel
    var colsOffset = 0
    for b in images {
        for oy in 0..<s.outputHeight {
            for ox in 0..<s.outputWidth {
                // Kernel columns whose input column ox + kw − padding lies inside the image.
                let firstKw = max(0, s.padding - ox), endKw = max(firstKw, min(k, s.width + s.padding - ox))
                for kh in 0..<k {
                    let iy = oy + kh - s.padding
                    let inside = iy >= 0 && iy < s.height
                    body(colsOffset, inside ? ((b * s.height + iy) * s.width + ox - s.padding) * c : nil,
                         inside ? firstKw * c..<endKw * c : 0..<0)
                    colsOffset += k * c
                }
            }
        }
    }
}

/// cols is (n·OH·OW, K·K·C) for the n = images.count images of x, row (b, oy, ox) holding the
/// patch under output pixel (oy, ox) of image images.lowerBound + b, ordered (kh, kw, c).
/// x is (batch, H, W, C).
public func im2col(_ cols: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ s: ConvolutionShape, images: Range<Int>) {
    let segment = s.kernel * s.inputChannels
    let colsEnd = images.count * s.outputPlane * s.patchSize
    let inputEnd = images.upperBound * s.height * s.width * s.inputChannels
    forEachPatchSegment(s, images: images) { colsOffset, inputOffset, inside in
        let out = cols + colsOffset
        guard let inputOffset else {
            out.update(repeating: 0, count: segment)
            return
        }
        for i in 0..<inside.lowerBound { out[i] = 0 }
        let from = inputOffset + inside.lowerBound, to = colsOffset + inside.lowerBound
        if inside.count <= 8, from + 8 <= inputEnd, to + 8 <= colsEnd {
            // A short run (a one-channel layer's 5 pixels) moves as one 8-wide vector; what it
            // writes past the run is overwritten next, by this segment's trailing zeros or the
            // following segment, since segments are visited in order.
            UnsafeMutableRawPointer(cols + to).storeBytes(
                of: UnsafeRawPointer(x + from).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
        } else {
            copyFloats(cols + to, x + from, count: inside.count)
        }
        for i in inside.upperBound..<segment { out[i] = 0 }
    }
}

/// Copies a short run of floats in vector-sized pieces: im2col's runs are a kernel row of
/// K·C values (5 for a first layer reading one channel), too short for memcpy's call to pay.
@inline(__always)
private func copyFloats(_ target: UnsafeMutablePointer<Float>, _ source: UnsafePointer<Float>, count: Int) {
    let to = UnsafeMutableRawPointer(target), from = UnsafeRawPointer(source)
    var i = 0
    while i + 8 <= count {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self), toByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    if i + 4 <= count {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self), toByteOffset: i * 4, as: SIMD4<Float>.self)
        i += 4
    }
    while i < count {
        target[i] = source[i]
        i += 1
    }
}

/// dx += the patches of dcols added back onto their images: the adjoint of `im2col`.
public func col2im(_ dx: UnsafeMutablePointer<Float>, _ dcols: UnsafePointer<Float>, _ s: ConvolutionShape, images: Range<Int>) {
    forEachPatchSegment(s, images: images) { colsOffset, inputOffset, inside in
        guard let inputOffset else { return }
        let target = dx + inputOffset, gradient = dcols + colsOffset
        for i in inside { target[i] += gradient[i] }
    }
}

/// Runs body(part, images) over the `batchParts` parts of the batch (fewer for a small one),
/// in parallel.
private func forEachPart(batch: Int, _ body: (_ part: Int, _ images: Range<Int>) -> Void) {
    let parts = min(batchParts, batch)
    let perPart = (batch + parts - 1) / parts
    parallelFor(parts) { part in
        let first = part * perPart, end = min(batch, first + perPart)
        guard first < end else { return }
        body(part, first..<end)
    }
}

/// Runs body(part, images, cols) over chunks of the batch, the parts in parallel, each part
/// with its own im2col buffer.
private func forEachChunk(
    _ s: ConvolutionShape, batch: Int,
    _ body: (_ part: Int, _ images: Range<Int>, _ cols: UnsafeMutablePointer<Float>) -> Void
) {
    forEachPart(batch: batch) { part, images in
        let chunk = min(s.imagesPerChunk, images.count)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: s.patchSize * chunk * s.outputPlane)
        defer { cols.deallocate() }
        for start in stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
            body(part, start..<min(images.upperBound, start + chunk), cols)
        }
    }
}

/// y = w ⊛ x + bias. x is (B, H, W, C), w is (OC, K, K, C), bias is (OC), y is (B, OH, OW, OC).
/// Each output channel's weights are one contiguous patch-shaped row, so the weight gradient
/// dyᵀ · cols streams the unfolded input row by row, the fast way for GEMM's packing.
public func convolutionForward(
    _ y: UnsafeMutablePointer<Float>,
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
    _ s: ConvolutionShape, batch: Int
) {
    let pixels = s.outputPlane, oc = s.outputChannels
    let yBox = UncheckedSendable(y)
    let weights = MatrixRef(w, rows: oc, columns: s.patchSize).transposed
    if s.padding == 0 {
        // Without padding every patch lies inside its image: K runs of K·C floats, read in
        // place by the GEMM — no unfolded copy to write and read back.
        let rowLength = s.width * s.inputChannels
        forEachPart(batch: batch) { _, images in
            let out = yBox.value + images.lowerBound * pixels * oc
            let rows = images.count * pixels
            gemmGatheredRows(out, ldc: oc, rows: rows, rowStart: { row in
                let image = images.lowerBound + row / pixels, pixel = row % pixels
                let oy = pixel / s.outputWidth, ox = pixel % s.outputWidth
                return x + ((image * s.height + oy) * s.width + ox) * s.inputChannels
            }, segments: s.kernel, segmentLength: s.kernel * s.inputChannels, segmentStride: rowLength, weights)
            addRowBias(out, bias, rows: rows, columns: oc)
        }
        return
    }
    forEachChunk(s, batch: batch) { _, images, cols in
        let out = yBox.value + images.lowerBound * pixels * oc
        let rows = images.count * pixels
        im2col(cols, x, s, images: images)
        gemm(out, ldc: oc, MatrixRef(UnsafePointer(cols), rows: rows, columns: s.patchSize), weights,
             accumulate: false, parallel: false)
        addRowBias(out, bias, rows: rows, columns: oc)
    }
}

/// dx += ∂L/∂x, dw += ∂L/∂w, dbias += ∂L/∂bias given dy; x is forward's input. dx may be nil
/// for the first layer, whose input needs no gradient.
public func convolutionBackward(
    _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>, _ dbias: UnsafeMutablePointer<Float>,
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    _ s: ConvolutionShape, batch: Int
) {
    let pixels = s.outputPlane, oc = s.outputChannels
    let gradientCount = s.weightCount + oc
    // Each part accumulates its own weight and bias gradients; they are summed in part order.
    let partials = UnsafeMutablePointer<Float>.allocate(capacity: batchParts * gradientCount)
    partials.initialize(repeating: 0, count: batchParts * gradientCount)
    defer { partials.deallocate() }
    let shared = UncheckedSendable((partials, dx))
    forEachChunk(s, batch: batch) { part, images, cols in
        let (partials, dx) = shared.value
        let dwPart = partials + part * gradientCount
        let rows = images.count * pixels
        let dyChunk = dy + images.lowerBound * pixels * oc
        im2col(cols, x, s, images: images)
        gemm(dwPart, ldc: s.patchSize, MatrixRef(dyChunk, rows: rows, columns: oc).transposed,
             MatrixRef(UnsafePointer(cols), rows: rows, columns: s.patchSize), accumulate: true, parallel: false)
        sumRows(into: dwPart + s.weightCount, dyChunk, rows: rows, columns: oc)
        guard let dx else { return }
        // The unfolded input is no longer needed: its buffer receives the patch gradients.
        gemm(cols, ldc: s.patchSize, MatrixRef(dyChunk, rows: rows, columns: oc),
             MatrixRef(w, rows: oc, columns: s.patchSize), accumulate: false, parallel: false)
        col2im(dx, cols, s, images: images)
    }
    for part in 0..<batchParts {
        let partial = partials + part * gradientCount
        for i in 0..<s.weightCount { dw[i] += partial[i] }
        for o in 0..<oc { dbias[o] += partial[s.weightCount + o] }
    }
}

/// Direct six-loop convolution (same layouts), the reference `convolutionForward` is tested against.
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
                                sum += w[((o * s.kernel + kh) * s.kernel + kw) * s.inputChannels + c]
                                    * x[((b * s.height + iy) * s.width + ix) * s.inputChannels + c]
                            }
                        }
                    }
                    y[((b * oh + i) * ow + j) * s.outputChannels + o] = sum
                }
            }
        }
    }
}
