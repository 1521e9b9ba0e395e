import Foundation
import NeuralNet
import XCTest

/// Each optimizer over several steps with gradients that change, against its formula written
/// out here in Double: momentum's velocity builds up, Adam's bias correction fades after
/// step 1, and weight decay and the learning rate apply at every step.
final class OptimizerTests: XCTestCase {
    func testSeveralStepsFollowEachOptimizersFormula() {
        let count = 10_007, steps = 6
        let initial = (0..<count).map { Float($0 % 17) - 8 }
        func gradient(_ i: Int, step: Int) -> Float { Float((i * 7 + step * 3) % 11) / 4 - 1.25 }
        func rate(_ step: Int) -> Float { 0.05 * Float(step) }
        for settings in [OptimizerSettings.sgd(momentum: 0), .sgd(momentum: 0.9),
                         .adamW(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01)] {
            var optimizer = Optimizer(settings, parameterCount: count)
            var parameters = initial
            var expected = initial.map(Double.init)
            var first = [Double](repeating: 0, count: count), second = [Double](repeating: 0, count: count)
            for step in 1...steps {
                var gradients = (0..<count).map { gradient($0, step: step) }
                parameters.withUnsafeMutableBufferPointer { p in
                    gradients.withUnsafeMutableBufferPointer { optimizer.update(p.baseAddress!, $0.baseAddress!, count: count, learningRate: rate(step)) }
                }
                let lr = Double(rate(step))
                for i in 0..<count {
                    let g = Double(gradient(i, step: step))
                    switch settings {
                    case let .sgd(momentum):
                        first[i] = Double(momentum) * first[i] + g
                        expected[i] -= lr * first[i]
                    case let .adamW(beta1, beta2, epsilon, weightDecay):
                        let b1 = Double(beta1), b2 = Double(beta2)
                        first[i] = b1 * first[i] + (1 - b1) * g
                        second[i] = b2 * second[i] + (1 - b2) * g * g
                        let mHat = first[i] / (1 - pow(b1, Double(step))), vHat = second[i] / (1 - pow(b2, Double(step)))
                        expected[i] = expected[i] * (1 - lr * Double(weightDecay)) - lr * mHat / (vHat.squareRoot() + Double(epsilon))
                    }
                }
                let worst = (0..<count).map { abs(Double(parameters[$0]) - expected[$0]) }.max()!
                XCTAssertLessThan(worst, 1e-4, "\(settings), step \(step)")
            }
        }
    }
}
