import Tensor
#if canImport(Glibc)
import Glibc
#endif

/// What training minimises, always on softmax probabilities of the logits.
public enum LossFunction: String, Sendable {
    /// L = −1/N Σ log p[label]
    case crossEntropy = "cross-entropy"
    /// L = 1/N Σ ‖Y − Ŷ‖², Y one-hot: the seed's loss.
    case squaredError = "squared-error"

    /// The loss of one image, given its probabilities.
    public func value(probabilities p: UnsafePointer<Float>, label: Int, classes: Int) -> Float {
        switch self {
        case .crossEntropy:
            return -logf(max(p[label], 1e-30))
        case .squaredError:
            var sum: Float = 0
            for j in 0..<classes {
                let difference = p[j] - (j == label ? 1 : 0)
                sum += difference * difference
            }
            return sum
        }
    }

    /// Writes softmax probabilities and ∂L/∂logits for a batch; returns the mean loss.
    /// logits, probabilities and dlogits are (B, classes); labels has B entries.
    public func evaluate(
        _ dlogits: UnsafeMutablePointer<Float>, _ probabilities: UnsafeMutablePointer<Float>,
        _ logits: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>, batch: Int, classes: Int
    ) -> Float {
        softmaxRows(probabilities, logits, rows: batch, classes: classes)
        let inverseBatch = 1 / Float(batch)
        var total: Float = 0
        for b in 0..<batch {
            let p = probabilities + b * classes, dz = dlogits + b * classes
            let label = Int(labels[b])
            total += value(probabilities: p, label: label, classes: classes)
            switch self {
            case .crossEntropy:
                for j in 0..<classes { dz[j] = (p[j] - (j == label ? 1 : 0)) * inverseBatch }
            case .squaredError:
                // dL/dp_j = 2(p_j − y_j)/N, then through the softmax Jacobian: dz_i = p_i (g_i − Σ_j g_j p_j).
                var gp: Float = 0
                for j in 0..<classes {
                    dz[j] = 2 * (p[j] - (j == label ? 1 : 0)) * inverseBatch
                    gp += dz[j] * p[j]
                }
                for j in 0..<classes { dz[j] = p[j] * (dz[j] - gp) }
            }
        }
        return total * inverseBatch
    }
}
