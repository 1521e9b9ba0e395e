/// 2×2 max pooling with stride 2 over `planes` planes of height × width (odd edges dropped).
/// y is (planes, H/2, W/2); `winners` records, per output, the flat input index that won,
/// which is all backward needs.
public func maxPoolForward(
    _ y: UnsafeMutablePointer<Float>, _ winners: UnsafeMutablePointer<Int32>,
    _ x: UnsafePointer<Float>, planes: Int, height: Int, width: Int
) {
    let oh = height / 2, ow = width / 2
    for p in 0..<planes {
        let plane = p * height * width
        for i in 0..<oh {
            for j in 0..<ow {
                let topLeft = plane + 2 * i * width + 2 * j
                var best = topLeft
                if x[topLeft + 1] > x[best] { best = topLeft + 1 }
                if x[topLeft + width] > x[best] { best = topLeft + width }
                if x[topLeft + width + 1] > x[best] { best = topLeft + width + 1 }
                let o = (p * oh + i) * ow + j
                y[o] = x[best]
                winners[o] = Int32(best)
            }
        }
    }
}

/// dx[winner] += dy for every pooled output (dx is the input-sized gradient).
public func maxPoolBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ winners: UnsafePointer<Int32>, outputCount: Int) {
    for o in 0..<outputCount { dx[Int(winners[o])] += dy[o] }
}
