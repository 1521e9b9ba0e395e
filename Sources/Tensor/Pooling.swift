/// 2×2 max pooling with stride 2 on channels-last images: x is (images, H, W, C), y is
/// (images, H/2, W/2, C), odd edges dropped. `winners` records, per output, the flat input
/// index that won, which is all backward needs; inference passes nil and skips that work.
public func maxPoolForward(
    _ y: UnsafeMutablePointer<Float>, _ winners: UnsafeMutablePointer<Int32>?,
    _ x: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels: Int
) {
    let oh = height / 2, ow = width / 2
    let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    let outputs = UncheckedSendable((y, winners))
    // Written once, instantiated twice: with `tracking` a constant, each copy keeps only its work.
    @inline(__always) func pool(_ range: Range<Int>, tracking: Bool) {
        let (y, winners) = outputs.value
        for b in range {
            for i in 0..<oh {
                for j in 0..<ow {
                    let topLeft = ((b * height + 2 * i) * width + 2 * j) * channels
                    let right = channels, below = width * channels
                    let out = ((b * oh + i) * ow + j) * channels
                    var c = topLeft
                    // Eight channels at a time; a tie keeps the earlier candidate, as the scalar tail does.
                    while c + 8 <= topLeft + channels {
                        var best = load8(x + c), winner = SIMD8<Int32>(repeating: Int32(c)) &+ lanes
                        // Called three times rather than looping over an array of offsets, which
                        // the hot loop would build for every eight channels.
                        @inline(__always) func challenge(_ offset: Int) {
                            let candidate = load8(x + c + offset)
                            let better = candidate .> best
                            best.replace(with: candidate, where: better)
                            if tracking { winner.replace(with: SIMD8<Int32>(repeating: Int32(c + offset)) &+ lanes, where: better) }
                        }
                        challenge(right); challenge(below); challenge(below + right)
                        store8(best, y + out + c - topLeft)
                        if tracking { UnsafeMutableRawPointer(winners! + out + c - topLeft).storeBytes(of: winner, as: SIMD8<Int32>.self) }
                        c += 8
                    }
                    for c in c..<topLeft + channels {
                        var best = c
                        if x[c + right] > x[best] { best = c + right }
                        if x[c + below] > x[best] { best = c + below }
                        if x[c + below + right] > x[best] { best = c + below + right }
                        y[out + c - topLeft] = x[best]
                        if tracking { winners![out + c - topLeft] = Int32(best) }
                    }
                }
            }
        }
    }
    parallelRanges(images, minimumPerThread: 8) { range in
        if winners != nil { pool(range, tracking: true) } else { pool(range, tracking: false) }
    }
}

/// dx[winner] += dy for every pooled output (dx is the input-sized gradient).
public func maxPoolBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ winners: UnsafePointer<Int32>, outputCount: Int) {
    for o in 0..<outputCount { dx[Int(winners[o])] += dy[o] }
}

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// 2×2 max pooling, stride 2, on one channels-last image of bytes (8-bit activations), odd
/// edges dropped: bytes compare as the values they stand for. Sixteen channels at a time (a
/// byte at a time, it was 5% of the daemon's time on an IDX batch).
public func maxPoolBytes(_ y: UnsafeMutablePointer<UInt8>, _ x: UnsafePointer<UInt8>, height: Int, width: Int, channels: Int) {
    let rowLength = width * channels
    for i in 0..<height / 2 {
        for j in 0..<width / 2 {
            let top = x + (2 * i * width + 2 * j) * channels, bottom = top + rowLength
            let out = y + (i * (width / 2) + j) * channels
            var c = 0
            while c + 16 <= channels {
                let upper = larger(load16(top + c), load16(top + c + channels))
                let lower = larger(load16(bottom + c), load16(bottom + c + channels))
                UnsafeMutableRawPointer(out + c).storeBytes(of: larger(upper, lower), as: SIMD16<UInt8>.self)
                c += 16
            }
            for c in c..<channels {
                out[c] = max(max(top[c], top[c + channels]), max(bottom[c], bottom[c + channels]))
            }
        }
    }
}

/// Lane by lane the larger byte (the standard library's pointwiseMax is a generic call per use).
@inline(__always)
private func larger(_ a: SIMD16<UInt8>, _ b: SIMD16<UInt8>) -> SIMD16<UInt8> {
    a.replacing(with: b, where: b .> a)
}

@inline(__always)
private func load16(_ p: UnsafePointer<UInt8>) -> SIMD16<UInt8> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt8>.self)
}
