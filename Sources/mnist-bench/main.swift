import Tensor
import NeuralNet
import Formats
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double { var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts); return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9 }

if CommandLine.arguments[1] == "gemm" {
    for (m, n, k, ta, par) in [(600, 128, 784, false, true), (600, 128, 784, false, false), (588, 32, 400, false, false), (400, 32, 588, true, false), (588, 400, 32, false, false), (7840, 16, 25, false, false), (25, 16, 7840, true, false), (100, 128, 784, false, true), (784, 128, 100, true, true)] {
        let a = [Float](repeating: 1, count: m * k), b = [Float](repeating: 1, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        var reps = 0
        let t0 = now()
        while now() - t0 < 0.5 {
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                let aRef = ta ? MatrixRef(ap.baseAddress!, rows: k, columns: m).transposed : MatrixRef(ap.baseAddress!, rows: m, columns: k)
                gemm(cp.baseAddress!, ldc: n, aRef, MatrixRef(bp.baseAddress!, rows: k, columns: n), accumulate: true, parallel: par)
            } } }
            reps += 1
        }
        let dt = now() - t0
        print("gemm \(m)x\(n)x\(k) ta=\(ta) par=\(par): \(Double(2 * m * n * k * reps) / dt / 1e9) GFLOP/s")
    }
    exit(0)
}
let dir = CommandLine.arguments[1]
let kind = ModelKind(rawValue: CommandLine.arguments[2])!
let epochs = Int(CommandLine.arguments[3])!
func load(_ s: DatasetSplit) throws -> LabeledImages {
    let d = try readMNIST(directory: dir, split: s)
    return LabeledImages(shape: FeatureShape(channels: 1, height: d.height, width: d.width), bytes: d.pixels, labels: d.labels)
}
let train = try load(.train), test = try load(.test)
var recipe = TrainingRecipe.standard(for: kind)
recipe.epochs = epochs
if CommandLine.arguments.count > 4 { recipe.schedule = .oneCycle(peak: Float(CommandLine.arguments[4])!, warmupFraction: 0.2) }
let trainer = Trainer(network: Network(kind: kind, seed: 1), recipe: recipe, seed: 1)
trainer.train(on: train, validation: test, progress: { p in
    if case let .epochFinished(r) = p { print(r); fflush(nil) }
})
