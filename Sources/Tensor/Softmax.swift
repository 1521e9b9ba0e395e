#if canImport(Glibc)
import Glibc
#endif

/// probabilities[i, ·] = softmax(logits[i, ·] · inverseTemperature) for `rows` rows of
/// `classes` values, shifted by the row maximum so that large logits cannot overflow.
public func softmaxRows(
    _ probabilities: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>, rows: Int, classes: Int,
    inverseTemperature: Float = 1
) {
    for i in 0..<rows {
        let z = logits + i * classes
        let p = probabilities + i * classes
        var maxLogit = z[0] * inverseTemperature
        for j in 1..<classes { maxLogit = max(maxLogit, z[j] * inverseTemperature) }
        var sum: Float = 0
        for j in 0..<classes {
            p[j] = expf(z[j] * inverseTemperature - maxLogit)
            sum += p[j]
        }
        let inverse = 1 / sum
        for j in 0..<classes { p[j] *= inverse }
    }
}

/// Index of the largest of `count` values (the first one on ties).
public func argmax(_ values: UnsafePointer<Float>, count: Int) -> Int {
    var best = 0
    for j in 1..<count where values[j] > values[best] { best = j }
    return best
}

/// Position of the largest value of a non-empty row, counted from the row's start (the first
/// one on ties): a class, when the row is one image's probabilities.
public func argmax(_ row: ArraySlice<Float>) -> Int {
    row.withUnsafeBufferPointer { argmax($0.baseAddress!, count: $0.count) }
}
