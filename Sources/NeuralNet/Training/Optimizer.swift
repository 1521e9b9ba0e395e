/// How parameters move given their gradients. Parameters, gradients and moments share one
/// flat layout, so a step is one loop over all of them.
public enum OptimizerSettings: Equatable, Sendable {
    /// Plain (momentum 0) or heavy-ball momentum SGD.
    case sgd(momentum: Float)
    /// Adam with decoupled weight decay (Loshchilov & Hutter).
    case adamW(beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float)
}

/// An optimizer with its per-parameter state.
public struct Optimizer: Sendable {
    public let settings: OptimizerSettings
    private var firstMoments: [Float]
    private var secondMoments: [Float]
    private var step = 0

    public init(_ settings: OptimizerSettings, parameterCount: Int) {
        self.settings = settings
        switch settings {
        case let .sgd(momentum):
            firstMoments = momentum == 0 ? [] : [Float](repeating: 0, count: parameterCount)
            secondMoments = []
        case .adamW:
            firstMoments = [Float](repeating: 0, count: parameterCount)
            secondMoments = [Float](repeating: 0, count: parameterCount)
        }
    }

    /// One update of every parameter from its gradient, at the given learning rate.
    public mutating func update(_ parameters: UnsafeMutablePointer<Float>, _ gradients: UnsafePointer<Float>, count: Int, learningRate: Float) {
        step += 1
        switch settings {
        case let .sgd(momentum):
            if momentum == 0 {
                for i in 0..<count { parameters[i] -= learningRate * gradients[i] }
            } else {
                firstMoments.withUnsafeMutableBufferPointer { velocity in
                    for i in 0..<count {
                        velocity[i] = momentum * velocity[i] + gradients[i]
                        parameters[i] -= learningRate * velocity[i]
                    }
                }
            }
        case let .adamW(beta1, beta2, epsilon, weightDecay):
            let correction1 = 1 - pow(beta1, Float(step)), correction2 = 1 - pow(beta2, Float(step))
            let stepSize = learningRate / correction1
            let inverseRootCorrection2 = 1 / correction2.squareRoot()
            let decay = 1 - learningRate * weightDecay
            firstMoments.withUnsafeMutableBufferPointer { m in
                secondMoments.withUnsafeMutableBufferPointer { v in
                    for i in 0..<count {
                        let g = gradients[i]
                        m[i] = beta1 * m[i] + (1 - beta1) * g
                        v[i] = beta2 * v[i] + (1 - beta2) * g * g
                        let denominator = v[i].squareRoot() * inverseRootCorrection2 + epsilon
                        parameters[i] = parameters[i] * decay - stepSize * m[i] / denominator
                    }
                }
            }
        }
    }
}

@inline(__always)
private func pow(_ base: Float, _ exponent: Float) -> Float {
    var result: Float = 1
    for _ in 0..<Int(exponent) { result *= base }
    return result
}
