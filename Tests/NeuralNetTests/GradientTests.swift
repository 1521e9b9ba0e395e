import NeuralNet
import XCTest

/// Every backward pass against central finite differences of L = Σ y · g for a random g.
final class GradientTests: XCTestCase {
    var random = SeededRandom(seed: 42)

    /// Distinct values, spaced well beyond the finite-difference step, kept away from 0,
    /// so that no ReLU kink or max-pool tie is crossed while probing.
    func spacedValues(_ count: Int) -> [Float] {
        var values = (0..<count).map { Float($0) * 0.013 + 0.05 }
        values.shuffle(using: &random)
        return values.enumerated().map { $0.offset % 2 == 0 ? $0.element : -$0.element }
    }

    func checkLayer(_ layer: any Layer, batch: Int, file: StaticString = #filePath, line: UInt = #line) {
        let inputCount = layer.inputShape.count * batch, outputCount = layer.outputShape.count * batch
        var x = spacedValues(inputCount)
        var parameters = (0..<layer.parameterCount).map { _ in random.nextNormal() * 0.5 }
        let g = (0..<outputCount).map { _ in random.nextNormal() }
        var cache = [Float](repeating: 0, count: max(layer.cacheCount(batch: batch), 1))
        var statistics = [Float](repeating: 1, count: max(layer.statisticCount, 1))

        func objective() -> Double {
            var y = [Float](repeating: 0, count: outputCount)
            y.withUnsafeMutableBufferPointer { yp in
                cache.withUnsafeMutableBufferPointer { cp in
                    statistics.withUnsafeMutableBufferPointer { sp in
                        layer.forward(yp.baseAddress!, cp.baseAddress!, x, parameters, sp.baseAddress!, mode: .training, batch: batch)
                    }
                }
            }
            return zip(y, g).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }

        var y = [Float](repeating: 0, count: outputCount)
        var dx = [Float](repeating: 0, count: inputCount)
        var dparameters = [Float](repeating: 0, count: max(layer.parameterCount, 1))
        y.withUnsafeMutableBufferPointer { yp in
            cache.withUnsafeMutableBufferPointer { cp in
                statistics.withUnsafeMutableBufferPointer { sp in
                    layer.forward(yp.baseAddress!, cp.baseAddress!, x, parameters, sp.baseAddress!, mode: .training, batch: batch)
                }
                dx.withUnsafeMutableBufferPointer { dxp in
                    dparameters.withUnsafeMutableBufferPointer { dpp in
                        layer.backward(dxp.baseAddress!, dpp.baseAddress!, g, x, yp.baseAddress!, cp.baseAddress!, parameters, batch: batch)
                    }
                }
            }
        }

        let step: Float = 1e-3
        // Probes input (x) or parameter values in place; the closure reads both.
        func numeric(parameter: Bool, _ index: Int) -> Double {
            func nudge(_ delta: Float) {
                if parameter { parameters[index] += delta } else { x[index] += delta }
            }
            nudge(step)
            let plus = objective()
            nudge(-2 * step)
            let minus = objective()
            nudge(step)
            return (plus - minus) / Double(2 * step)
        }
        for i in 0..<inputCount {
            let expected = numeric(parameter: false, i)
            XCTAssertEqual(Double(dx[i]), expected, accuracy: 2e-3 + 1e-2 * abs(expected),
                           "\(layer.specification): dx[\(i)]", file: file, line: line)
        }
        for i in 0..<layer.parameterCount {
            let expected = numeric(parameter: true, i)
            XCTAssertEqual(Double(dparameters[i]), expected, accuracy: 2e-3 + 1e-2 * abs(expected),
                           "\(layer.specification): dparameters[\(i)]", file: file, line: line)
        }
    }

    func testDense() {
        checkLayer(Dense(inputs: 7, outputs: 5), batch: 3)
    }

    func testConvolution() {
        checkLayer(Convolution2D(input: FeatureShape(channels: 2, height: 6, width: 5), outputChannels: 3, kernel: 3, padding: 1), batch: 2)
        checkLayer(Convolution2D(input: FeatureShape(channels: 1, height: 7, width: 7), outputChannels: 2, kernel: 5, padding: 0), batch: 3)
    }

    func testMaxPool() {
        checkLayer(MaxPool(input: FeatureShape(channels: 2, height: 5, width: 6)), batch: 2)
    }

    func testActivations() {
        checkLayer(Activation(.relu, input: FeatureShape(channels: 3, height: 2, width: 2)), batch: 2)
        checkLayer(Activation(.tanh, input: FeatureShape(channels: 11)), batch: 3)
    }

    func testBatchNorm() {
        checkLayer(BatchNorm(input: FeatureShape(channels: 3, height: 2, width: 3)), batch: 2)
        checkLayer(BatchNorm(input: FeatureShape(channels: 5)), batch: 4)
    }

    func testFlatten() {
        checkLayer(Flatten(input: FeatureShape(channels: 3, height: 2, width: 3)), batch: 4)
    }

    func testLossGradients() {
        let batch = 3, classes = 4
        var logits = (0..<batch * classes).map { _ in random.nextNormal() * 2 }
        let labels: [Int32] = [0, 3, 1]
        for loss in [LossFunction.crossEntropy, .squaredError] {
            var probabilities = [Float](repeating: 0, count: logits.count)
            var dlogits = [Float](repeating: 0, count: logits.count)
            func value() -> Double {
                var scratch = [Float](repeating: 0, count: logits.count)
                return Double(scratch.withUnsafeMutableBufferPointer { s in
                    probabilities.withUnsafeMutableBufferPointer { p in
                        loss.evaluate(s.baseAddress!, p.baseAddress!, logits, labels, batch: batch, classes: classes)
                    }
                })
            }
            _ = dlogits.withUnsafeMutableBufferPointer { d in
                probabilities.withUnsafeMutableBufferPointer { p in
                    loss.evaluate(d.baseAddress!, p.baseAddress!, logits, labels, batch: batch, classes: classes)
                }
            }
            for i in 0..<logits.count {
                let saved = logits[i]
                logits[i] = saved + 1e-3
                let plus = value()
                logits[i] = saved - 1e-3
                let minus = value()
                logits[i] = saved
                XCTAssertEqual(Double(dlogits[i]), (plus - minus) / 2e-3, accuracy: 1e-3, "\(loss) dlogits[\(i)]")
            }
        }
    }

    /// The whole chain through a workspace: convolution, pooling, flattening, dense layers, loss.
    func testNetworkBackwardMatchesFiniteDifferences() throws {
        try checkNetworkGradients("input 1x6x6, conv 2 3 1, batchnorm, relu, maxpool, flatten, dense 3, tanh, dense 4", zeroShare: 0)
    }

    /// A flatten-first MLP on images mostly paper: its first dense layer takes the sparse path,
    /// and no gradient is computed below it.
    func testSparseImageMLPBackwardMatchesFiniteDifferences() throws {
        try checkNetworkGradients("input 1x6x6, flatten, dense 5, tanh, dense 4", zeroShare: 0.75)
    }

    func checkNetworkGradients(_ architecture: String, zeroShare: Double) throws {
        let shape = try Network(kind: .cnn, architecture: architecture, parameters: nil)
        let values = (0..<shape.parameterCount).map { _ in random.nextNormal() * 0.5 }
        func networkWith(_ parameters: [Float]) -> Network {
            try! Network(kind: .cnn, architecture: architecture, parameters: parameters)
        }
        let network = networkWith(values)
        let batch = 2
        let images = spacedValues(batch * 36).enumerated().map { Double($0.offset % 8) < zeroShare * 8 ? 0 : abs($0.element) }
        let labels: [Int32] = [1, 3]
        let workspace = Workspace(network: network, batchCapacity: batch)

        func loss(_ net: Network) -> Double {
            workspace.input.update(from: images, count: images.count)
            var statistics = net.statistics
            let logits = net.parameters.withUnsafeBufferPointer { p in
                statistics.withUnsafeMutableBufferPointer { workspace.forward(net, p.baseAddress!, $0.baseAddress!, mode: .training, batch: batch) }
            }
            var p = [Float](repeating: 0, count: batch * 4), d = p
            return Double(d.withUnsafeMutableBufferPointer { dp in
                p.withUnsafeMutableBufferPointer { pp in
                    LossFunction.crossEntropy.evaluate(dp.baseAddress!, pp.baseAddress!, logits, labels, batch: batch, classes: 4)
                }
            })
        }

        workspace.input.update(from: images, count: images.count)
        var gradients = [Float](repeating: 0, count: network.parameterCount)
        network.parameters.withUnsafeBufferPointer { p in
            var statistics = network.statistics
            let logits = statistics.withUnsafeMutableBufferPointer {
                workspace.forward(network, p.baseAddress!, $0.baseAddress!, mode: .training, batch: batch)
            }
            var probabilities = [Float](repeating: 0, count: batch * 4), dlogits = probabilities
            _ = dlogits.withUnsafeMutableBufferPointer { d in
                probabilities.withUnsafeMutableBufferPointer { pp in
                    LossFunction.crossEntropy.evaluate(d.baseAddress!, pp.baseAddress!, logits, labels, batch: batch, classes: 4)
                }
            }
            gradients.withUnsafeMutableBufferPointer { g in
                workspace.backward(g.baseAddress!, dlogits, network, p.baseAddress!, batch: batch)
            }
        }
        for i in 0..<network.parameterCount {
            var plus = values, minus = values
            plus[i] += 1e-3
            minus[i] -= 1e-3
            let numeric = (loss(networkWith(plus)) - loss(networkWith(minus))) / 2e-3
            XCTAssertEqual(Double(gradients[i]), numeric, accuracy: 2e-3 + 1e-2 * abs(numeric), "parameter \(i)")
        }
    }
}
