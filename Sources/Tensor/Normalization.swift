// Batch normalisation over the rows of a (rows × channels) matrix: channels-last activations
// of a batch, so each column is one channel's values over every image and pixel.

/// Parts the rows are split into for the per-channel sums; fixed so that the summation order,
/// and so the results, do not depend on the number of cores.
let normalizationParts = 4

/// Per-channel sums over the rows in one pass: sums[c] = Σ a[r, c] and products[c] =
/// Σ a[r, c] · b[r, c] (b = a when nil). Parts accumulate in Double, in parallel, and are
/// added in part order.
private func columnSums(
    _ sums: inout [Double], _ products: inout [Double],
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, rows: Int, channels: Int
) {
    let parts = min(normalizationParts, max(rows, 1))
    let partials = UnsafeMutablePointer<Double>.allocate(capacity: 2 * parts * channels)
    partials.initialize(repeating: 0, count: 2 * parts * channels)
    defer { partials.deallocate() }
    let shared = UncheckedSendable(partials)
    parallelFor(parts) { part in
        let sum = shared.value + 2 * part * channels, product = sum + channels
        for row in partRange(part, of: parts, count: rows) {
            let x = a + row * channels, y = (b ?? a) + row * channels
            for c in 0..<channels {
                sum[c] += Double(x[c])
                product[c] += Double(x[c]) * Double(y[c])
            }
        }
    }
    for c in 0..<channels {
        var sum: Double = 0, product: Double = 0
        for part in 0..<parts {
            sum += partials[2 * part * channels + c]
            product += partials[(2 * part + 1) * channels + c]
        }
        sums[c] = sum
        products[c] = product
    }
}

/// Training-mode batch norm: y = γ · x̂ + β with x̂ = (x − mean) / √(var + ε) over the rows.
/// Writes x̂ and 1/√(var + ε) (for backward) and blends the batch mean and unbiased variance
/// into the running averages with weight `momentum`. x, y, normalized are (rows, channels).
public func batchNormTrainingForward(
    _ y: UnsafeMutablePointer<Float>, _ normalized: UnsafeMutablePointer<Float>, _ inverseDeviation: UnsafeMutablePointer<Float>,
    _ runningMean: UnsafeMutablePointer<Float>, _ runningVariance: UnsafeMutablePointer<Float>,
    _ x: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>,
    rows: Int, channels: Int, epsilon: Float, momentum: Float
) {
    // Σx and Σx² in one pass, in Double, so that E[x²] − E[x]² keeps its precision.
    var sums = [Double](repeating: 0, count: channels), squares = sums
    columnSums(&sums, &squares, x, nil, rows: rows, channels: channels)
    var mean = [Float](repeating: 0, count: channels)
    let unbias = rows > 1 ? Float(rows) / Float(rows - 1) : 1
    for c in 0..<channels {
        let batchMean = sums[c] / Double(rows)
        let variance = Float(max(squares[c] / Double(rows) - batchMean * batchMean, 0))
        mean[c] = Float(batchMean)
        runningMean[c] += momentum * (mean[c] - runningMean[c])
        runningVariance[c] += momentum * (variance * unbias - runningVariance[c])
        inverseDeviation[c] = 1 / (variance + epsilon).squareRoot()
    }
    let outputs = UncheckedSendable((y, normalized, inverseDeviation))
    parallelRanges(rows, minimumPerThread: 512) { range in
        let (y, normalized, inverseDeviation) = outputs.value
        for row in range {
            let values = x + row * channels, xhat = normalized + row * channels, out = y + row * channels
            for c in 0..<channels {
                xhat[c] = (values[c] - mean[c]) * inverseDeviation[c]
                out[c] = gamma[c] * xhat[c] + beta[c]
            }
        }
    }
}

/// Inference-mode batch norm with the running averages: y = γ (x − mean) / √(var + ε) + β.
public func batchNormInferenceForward(
    _ y: UnsafeMutablePointer<Float>,
    _ x: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>,
    _ runningMean: UnsafePointer<Float>, _ runningVariance: UnsafePointer<Float>,
    rows: Int, channels: Int, epsilon: Float
) {
    var scale = [Float](repeating: 0, count: channels), shift = scale
    for c in 0..<channels {
        scale[c] = gamma[c] / (runningVariance[c] + epsilon).squareRoot()
        shift[c] = beta[c] - runningMean[c] * scale[c]
    }
    let out = UncheckedSendable(y)
    parallelRanges(rows, minimumPerThread: 512) { range in
        for row in range {
            let values = x + row * channels, target = out.value + row * channels
            for c in 0..<channels { target[c] = values[c] * scale[c] + shift[c] }
        }
    }
}

/// dx += ∂L/∂x, dγ += Σ dy · x̂, dβ += Σ dy for training-mode batch norm:
/// dx = γ / (N √(var + ε)) · (N dy − Σ dy − x̂ Σ dy · x̂).
public func batchNormBackward(
    _ dx: UnsafeMutablePointer<Float>?, _ dgamma: UnsafeMutablePointer<Float>, _ dbeta: UnsafeMutablePointer<Float>,
    _ dy: UnsafePointer<Float>, _ normalized: UnsafePointer<Float>, _ inverseDeviation: UnsafePointer<Float>,
    _ gamma: UnsafePointer<Float>, rows: Int, channels: Int
) {
    var sumsDouble = [Double](repeating: 0, count: channels), productsDouble = sumsDouble
    columnSums(&sumsDouble, &productsDouble, dy, normalized, rows: rows, channels: channels)
    let sumDy = sumsDouble.map(Float.init), sumDyXhat = productsDouble.map(Float.init)
    for c in 0..<channels {
        dbeta[c] += sumDy[c]
        dgamma[c] += sumDyXhat[c]
    }
    guard let dx else { return }
    let inverseRows = 1 / Float(rows)
    let target = UncheckedSendable(dx)
    parallelRanges(rows, minimumPerThread: 512) { range in
        let dx = target.value
        for row in range {
            let g = dy + row * channels, xhat = normalized + row * channels, target = dx + row * channels
            for c in 0..<channels {
                let scale = gamma[c] * inverseDeviation[c]
                target[c] += scale * (g[c] - (sumDy[c] + xhat[c] * sumDyXhat[c]) * inverseRows)
            }
        }
    }
}
