/// 2×2 max pooling with stride 2 on channels-last images: x is (images, H, W, C), y is
/// (images, H/2, W/2, C), odd edges dropped. `winners` records, per output, the flat input
/// index that won, which is all backward needs.
public func maxPoolForward(
    _ y: UnsafeMutablePointer<Float>, _ winners: UnsafeMutablePointer<Int32>,
    _ x: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels: Int
) {
    let oh = height / 2, ow = width / 2
    let outputs = UncheckedSendable((y, winners))
    parallelRanges(images, minimumPerThread: 8) { range in
        let (y, winners) = outputs.value
        for b in range {
            for i in 0..<oh {
                for j in 0..<ow {
                    let topLeft = ((b * height + 2 * i) * width + 2 * j) * channels
                    let right = channels, below = width * channels
                    let out = ((b * oh + i) * ow + j) * channels
                    for c in topLeft..<topLeft + channels {
                        var best = c
                        if x[c + right] > x[best] { best = c + right }
                        if x[c + below] > x[best] { best = c + below }
                        if x[c + below + right] > x[best] { best = c + below + right }
                        y[out + c - topLeft] = x[best]
                        winners[out + c - topLeft] = Int32(best)
                    }
                }
            }
        }
    }
}

/// dx[winner] += dy for every pooled output (dx is the input-sized gradient).
public func maxPoolBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ winners: UnsafePointer<Int32>, outputCount: Int) {
    for o in 0..<outputCount { dx[Int(winners[o])] += dy[o] }
}
