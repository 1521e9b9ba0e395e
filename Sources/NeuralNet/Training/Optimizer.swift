import Tensor

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

    /// One update of every parameter from its gradient, at the given learning rate. Consumes the
    /// gradients: they are zero afterwards, ready for the next step's accumulation. Split over
    /// the cores (every value moves on its own, so the split changes nothing), and the zeroing
    /// happens on the core that will accumulate into the same part of the gradient next.
    public mutating func update(_ parameters: UnsafeMutablePointer<Float>, _ gradients: UnsafeMutablePointer<Float>, count: Int, learningRate: Float) {
        step += 1
        let buffers = UncheckedSendable((parameters, gradients))
        switch settings {
        case let .sgd(momentum):
            if momentum == 0 {
                parallelRanges(count) { range in
                    let (parameters, gradients) = buffers.value
                    for i in range {
                        parameters[i] -= learningRate * gradients[i]
                        gradients[i] = 0
                    }
                }
            } else {
                firstMoments.withUnsafeMutableBufferPointer { velocity in
                    let velocity = UncheckedSendable(velocity.baseAddress!)
                    parallelRanges(count) { range in
                        let (parameters, gradients) = buffers.value
                        for i in range {
                            velocity.value[i] = momentum * velocity.value[i] + gradients[i]
                            parameters[i] -= learningRate * velocity.value[i]
                            gradients[i] = 0
                        }
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
                    let moments = UncheckedSendable((m.baseAddress!, v.baseAddress!))
                    parallelRanges(count) { range in
                        let (parameters, gradients) = buffers.value
                        let (m, v) = moments.value
                        for i in range {
                            let g = gradients[i]
                            m[i] = beta1 * m[i] + (1 - beta1) * g
                            v[i] = beta2 * v[i] + (1 - beta2) * g * g
                            let denominator = v[i].squareRoot() * inverseRootCorrection2 + epsilon
                            parameters[i] = parameters[i] * decay - stepSize * m[i] / denominator
                            gradients[i] = 0
                        }
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
