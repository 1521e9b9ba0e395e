#if canImport(Glibc)
import Glibc
#endif

/// The image operations training augmentation is made of, on one height × width image of ink
/// in [0, 1] in place, with paper (0) outside the frame. Written for a training batch's pace:
/// no allocation, the caller's scratch of height × width floats.
enum ImageFilters {
    @inline(__always)
    static func bilinear(_ image: UnsafePointer<Float>, height: Int, width: Int, x: Float, y: Float) -> Float {
        let x0f = floorf(x), y0f = floorf(y)
        let x0 = Int(x0f), y0 = Int(y0f)
        let fx = x - x0f, fy = y - y0f
        @inline(__always) func pixel(_ px: Int, _ py: Int) -> Float {
            px >= 0 && px < width && py >= 0 && py < height ? image[py * width + px] : 0
        }
        let top = pixel(x0, y0) * (1 - fx) + pixel(x0 + 1, y0) * fx
        let bottom = pixel(x0, y0 + 1) * (1 - fx) + pixel(x0 + 1, y0 + 1) * fx
        return top * (1 - fy) + bottom * fy
    }

    /// Gaussian blur of `sigma` pixels, rows then columns; the weights that would fall outside
    /// the frame are left out and the rest renormalised, so a stroke at the edge keeps its ink.
    static func blur(_ image: UnsafeMutablePointer<Float>, sigma: Float, height: Int, width: Int,
                     scratch: UnsafeMutablePointer<Float>) {
        withGaussian(sigma: sigma, longestLine: max(height, width)) { kernel, reach in
            for y in 0..<height {
                for x in 0..<width {
                    scratch[y * width + x] = smoothed(image + y * width, at: x, length: width, step: 1, kernel, reach)
                }
            }
            for x in 0..<width {
                for y in 0..<height {
                    image[y * width + x] = smoothed(scratch + x, at: y, length: height, step: width, kernel, reach)
                }
            }
        }
    }

    /// `body(kernel, reach)` with kernel[-reach...reach] a Gaussian of `sigma` (not normalised:
    /// `smoothed` divides by the weights it used).
    private static func withGaussian(sigma: Float, longestLine: Int, _ body: (UnsafePointer<Float>, Int) -> Void) {
        let reach = min(Int((3 * sigma).rounded(.up)), longestLine - 1)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * reach + 1) { weights in
            for offset in -reach...reach { weights[offset + reach] = expf(-Float(offset * offset) / (2 * sigma * sigma)) }
            body(UnsafePointer(weights.baseAddress! + reach), reach)
        }
    }

    /// The kernel's weighted mean about pixel `at` of a line of `length` pixels `step` apart,
    /// over the pixels inside the line.
    @inline(__always)
    private static func smoothed(_ line: UnsafePointer<Float>, at: Int, length: Int, step: Int,
                                 _ kernel: UnsafePointer<Float>, _ reach: Int) -> Float {
        var sum: Float = 0, total: Float = 0
        for offset in max(-reach, -at)...min(reach, length - 1 - at) {
            sum += kernel[offset] * line[(at + offset) * step]
            total += kernel[offset]
        }
        return sum / total
    }

    /// Thinner (change < 0) or thicker strokes: the image blended, by |change|, with itself
    /// eroded or dilated by one step — each pixel taking the least or the most ink of itself and
    /// its four neighbours (the frame's outside counts as the pixel itself).
    static func changeStrokeWidth(_ image: UnsafeMutablePointer<Float>, by change: Float, height: Int, width: Int,
                                  scratch: UnsafeMutablePointer<Float>) {
        let thicker = change > 0, weight = abs(change)
        scratch.update(from: image, count: height * width)
        for y in 0..<height {
            for x in 0..<width {
                let at = y * width + x
                let own = scratch[at]
                var extreme = own
                @inline(__always) func meet(_ other: Float) { extreme = thicker ? max(extreme, other) : min(extreme, other) }
                if x > 0 { meet(scratch[at - 1]) }
                if x < width - 1 { meet(scratch[at + 1]) }
                if y > 0 { meet(scratch[at - width]) }
                if y < height - 1 { meet(scratch[at + width]) }
                image[at] = own + weight * (extreme - own)
            }
        }
    }

    /// As seen by a sensor of `side` × `side` cells over the whole frame (each cell the mean of
    /// the pixels whose centres fall in it), then enlarged back bilinearly from the cells' centres.
    static func captureCoarsely(_ image: UnsafeMutablePointer<Float>, side: Int, height: Int, width: Int,
                                scratch: UnsafeMutablePointer<Float>) {
        precondition(side > 0 && side <= min(height, width))
        let cells = scratch
        for cy in 0..<side {
            let top = cy * height / side, bottom = (cy + 1) * height / side
            for cx in 0..<side {
                let left = cx * width / side, right = (cx + 1) * width / side
                var sum: Float = 0
                for y in top..<bottom { for x in left..<right { sum += image[y * width + x] } }
                cells[cy * side + cx] = sum / Float((bottom - top) * (right - left))
            }
        }
        let cellHeight = Float(height) / Float(side), cellWidth = Float(width) / Float(side)
        for y in 0..<height {
            // Positions in cell units, clamped to the outer cells' centres: the edge repeats.
            let cy = min(max((Float(y) + 0.5) / cellHeight - 0.5, 0), Float(side - 1))
            for x in 0..<width {
                let cx = min(max((Float(x) + 0.5) / cellWidth - 0.5, 0), Float(side - 1))
                image[y * width + x] = bilinear(cells, height: side, width: side, x: cx, y: cy)
            }
        }
    }

    /// The elastic field's grid: intervals down and across, each about 3 pixels.
    private static func elasticGrid(height: Int, width: Int) -> (rows: Int, columns: Int) {
        (max(1, (height + 1) / 3), max(1, (width + 1) / 3))
    }

    /// The scratch `elasticField` needs: the rows smoothed at the grid's columns, then the grid.
    static func elasticScratchCount(height: Int, width: Int) -> Int {
        let (rows, columns) = elasticGrid(height: height, width: width)
        return (height + rows + 1) * (columns + 1)
    }

    /// Simard et al. (2003)'s displacement — per pixel uniform in ±1 from the field's own seed,
    /// smoothed by a Gaussian of `sigma` pixels, times `alpha` — smoothed only at the points of
    /// a grid about 3 pixels apart and interpolated between them: a field smooth over 4 pixels
    /// changes little between grid points, and it costs a fifth of smoothing every pixel.
    static func elasticField(dx: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, height: Int, width: Int,
                             _ field: Distortion.ElasticField, scratch: UnsafeMutablePointer<Float>) {
        var random = SeededRandom(seed: field.seed)
        let count = height * width
        let (rows, columns) = elasticGrid(height: height, width: width)
        // Grid point j of n + 1 along a line of `length` pixels lies at pixel j(length − 1)/n.
        func gridPoint(_ j: Int, _ n: Int, _ length: Int) -> Int { j * (length - 1) / n }
        let acrossRows = scratch, grid = scratch + height * (columns + 1)
        withGaussian(sigma: field.sigma, longestLine: max(height, width)) { kernel, reach in
            for component in [dx, dy] {
                for i in 0..<count { component[i] = random.nextSymmetric(1) }
                for y in 0..<height {
                    for j in 0...columns {
                        acrossRows[y * (columns + 1) + j] = smoothed(component + y * width, at: gridPoint(j, columns, width),
                                                                     length: width, step: 1, kernel, reach)
                    }
                }
                for i in 0...rows {
                    for j in 0...columns {
                        grid[i * (columns + 1) + j] = field.alpha * smoothed(acrossRows + j, at: gridPoint(i, rows, height),
                                                                             length: height, step: columns + 1, kernel, reach)
                    }
                }
                for y in 0..<height {
                    let i = min(y * rows / max(1, height - 1), rows - 1)
                    let top = gridPoint(i, rows, height), fy = Float(y - top) / Float(max(1, gridPoint(i + 1, rows, height) - top))
                    for x in 0..<width {
                        let j = min(x * columns / max(1, width - 1), columns - 1)
                        let left = gridPoint(j, columns, width)
                        let fx = Float(x - left) / Float(max(1, gridPoint(j + 1, columns, width) - left))
                        component[y * width + x] = ImageFilters.bilinear(grid, height: rows + 1, width: columns + 1,
                                                                         x: Float(j) + fx, y: Float(i) + fy)
                    }
                }
            }
        }
    }
}
