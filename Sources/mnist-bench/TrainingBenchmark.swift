import Classification
import Formats
import NeuralNet
import SystemResources
import Tensor

/// The seed's MLP, 10 epochs as specified: training wall time and inference rate, against the
/// same network in PyTorch.
func benchmarkSeedMLP(train: LabeledImages, test: LabeledImages, reference: ReferenceRunner) {
    print("\n== Seed MLP (784-128-10 tanh, squared error, SGD 0.01, batch 100, 10 epochs)")
    let trainer = Trainer(network: Network(kind: .mlpSeed, seed: 1), recipe: .standard(for: .mlpSeed), seed: 1)
    let reports = trainer.train(on: train, validation: nil)
    let ours = reports.last!.elapsedSeconds
    let accuracy = Evaluation(network: trainer.network, data: test).confusion.accuracy
    let oursRate = inferenceRate(trainer.network, test)
    print("mnistd : train \(fixed(ours, 2)) s, test accuracy \(fixed(Double(accuracy) * 100, 2))%, inference \(Int(oursRate)) images/s")
    guard let torch = reference.run("seed_torch.py", environment: ["QUIET": "1", "THREADS": "2", "EPOCHS": "10"]).last,
          let torchSeconds = torch["train_s"].flatMap(Double.init),
          let torchRate = torch["images_per_s"].flatMap(Double.init) else { return }
    print("PyTorch: train \(fixed(torchSeconds, 2)) s, test accuracy \(fixed((torch["test_acc"].flatMap(Double.init) ?? 0) * 100, 2))%, inference \(Int(torchRate)) images/s")
    print("ratio  : training time mnistd/PyTorch = \(fixed(ours / torchSeconds, 2)) (goal ≤ 0.5), inference speed mnistd/PyTorch = \(fixed(oursRate / torchRate, 2))× (goal > 1)")
}

/// The fastest recipe found to 99%: the default cnn's layers (PyTorch's sizes plus a dense
/// hidden layer, without padding), two epochs of one-cycle AdamW at batch 64, no augmentation
/// (it slows a run this short).
/// The PyTorch reference's network (padded convolutions) with our dense hidden layer on top:
/// at least its work per image, for the inference comparison.
let referenceSizedArchitecture = "input 1x28x28, conv 16 5 2, relu, maxpool, conv 32 5 2, relu, maxpool, flatten, dense 128, relu, dense 10"

var fastRecipe: TrainingRecipe {
    var recipe = TrainingRecipe.standard(for: .cnn)
    recipe.epochs = 2
    recipe.batchSize = 64
    recipe.schedule = recipe.schedule.withPeak(0.01)
    recipe.augmentation = nil
    return recipe
}

/// How long the fastest recipe needs to reach 99.0% test accuracy, against PyTorch's light CNN,
/// and the inference rate of a network the reference's size.
func benchmarkTimeTo99(train: LabeledImages, test: LabeledImages, reference: ReferenceRunner) {
    print("\n== Time to ≥ 99.0% test accuracy (cnn: \(ModelKind.cnn.architecture); 2 epochs, batch 64, one-cycle AdamW peak 0.01, no augmentation)")
    let trainer = Trainer(network: Network(kind: .cnn, seed: 1), recipe: fastRecipe, seed: 1)
    var reached: (epoch: Int, seconds: Double, accuracy: Float)?
    let reports = trainer.train(on: train, validation: test, progress: { event in
        if case let .epochFinished(report) = event, reached == nil, let accuracy = report.testAccuracy, accuracy >= 0.99 {
            reached = (report.epoch, report.elapsedSeconds, accuracy)
        }
    })
    let final = reports.last!
    if let reached {
        print("mnistd : \(fixed(Double(reached.accuracy) * 100, 2))% after epoch \(reached.epoch), \(fixed(reached.seconds, 1)) s of training")
    } else {
        print("mnistd : not reached; \(fixed(Double(final.testAccuracy ?? 0) * 100, 2))% after \(final.epoch) epochs, \(fixed(final.elapsedSeconds, 1)) s")
    }
    let cnnRate = inferenceRate(try! Network(kind: .cnn, architecture: referenceSizedArchitecture, seed: 1), test)
    print("mnistd : inference \(Int(cnnRate)) images/s with the reference's layers plus dense 128 (\(referenceSizedArchitecture))")
    let epochs = reference.run("cnn_torch.py", environment: ["THREADS": "2", "EPOCHS": "3"])
    guard !epochs.isEmpty else { return }
    let torchReached = epochs.first { ($0["test_acc"].flatMap(Double.init) ?? 0) >= 0.99 && $0["epochs"] == nil }
    if let torchReached, let torchSeconds = torchReached["train_s"].flatMap(Double.init) {
        print("PyTorch: \(fixed((torchReached["test_acc"].flatMap(Double.init) ?? 0) * 100, 2))% after \(fixed(torchSeconds, 1)) s of training")
        if let reached { print("ratio  : time to 99% mnistd/PyTorch = \(fixed(reached.seconds / torchSeconds, 2)) (goal ≤ 0.5)") }
    }
    if let torchRate = epochs.last?["images_per_s"].flatMap(Double.init) {
        print("PyTorch: cnn inference \(Int(torchRate)) images/s; ratio mnistd/PyTorch at the reference's size = \(fixed(cnnRate / torchRate, 2))× (goal > 1)")
    }
}

/// The shipped cnn's inference in float and in 8 bits on this CPU's automatic path, each as a
/// share of its own limit: the FMA peak, and the register-only peak of the path's instructions.
/// Float and 8-bit passes alternate, five of each after one untimed: this VM's speed drifts
/// within a run, so each ratio compares neighbours and the medians are reported.
func benchmarkShippedInference(test: LabeledImages) {
    guard let shipped = shippedWeights() else { return }
    print("\n== Inference, shipped cnn (\(shipped.modelID)), 10,000 test images, \(kernelThreadCount) threads")
    var float = shipped.network
    float.activationRanges = nil
    guard let quantized = QuantizedNetwork(shipped.network) else {
        print("mnistd : \(Int(inferenceRate(float, test))) images/s in float (no 8-bit form)")
        return
    }
    let floats = test.pixels(0..<test.count)
    let floatPass = { _ = floats.withUnsafeBufferPointer { float.probabilities(for: $0.baseAddress!, count: test.count) } }
    let eightBitPass = { _ = test.bytes.withUnsafeBufferPointer { quantized.probabilities(forPixels: $0.baseAddress!, count: test.count) } }
    floatPass()
    eightBitPass()
    var floatRates: [Double] = [], rates: [Double] = []
    for _ in 0..<5 {
        floatRates.append(Double(test.count) / timed(floatPass))
        rates.append(Double(test.count) / timed(eightBitPass))
    }
    let ratios = zip(rates, floatRates).map { $0 / $1 }.sorted()
    let (floatRate, rate) = (floatRates.sorted()[2], rates.sorted()[2])
    let cores = Double(kernelThreadCount)
    // Per core, in billions of multiply-adds a second, against each path's own limit.
    let work = Double(quantized.multiplyAddsPerImage) / 1e9 / cores
    print("mnistd : \(Int(floatRate)) images/s in float, \(Int(rate)) in 8 bits (\(QuantizedNetwork.kernelName)), as the daemon runs it (medians of 5)")
    print("         8-bit / float, pass by pass: median \(fixed(ratios[2], 2))× (\(ratios.map { fixed($0, 2) }.joined(separator: ", ")))  (goal ≥ 2)")
    let floatPeak = fmaPeakPerCore() / 2
    print("         float forward \(fixed(floatRate * work, 1)) G multiply-adds/s per core, \(percentage(floatRate * work / floatPeak)) of the FMA peak (\(fixed(floatPeak, 1)))")
    if let peak = eightBitPeakPerCore() {
        print("         8-bit forward \(fixed(rate * work, 1)) G multiply-adds/s per core, \(percentage(rate * work / peak)) of its path's peak (\(fixed(peak, 1)), register-only loop; goal ≥ 60%)")
    }
}

/// The shipped cnn on the test digits made to look like real-world ones (`DigitVariant`),
/// through the daemon's preprocessing: one accuracy per variant, the mean and the worst.
func benchmarkRobustness(test: LabeledImages) {
    guard let shipped = shippedWeights(), let model = try? LoadedModel(weights: shipped, path: "shipped") else { return }
    print("\n== Robustness, shipped cnn (\(shipped.modelID)), \(test.count) test digits per variant (goal: each ≥ 98.5%, mean ≥ 99.0%)")
    let start = seconds()
    let results = Robustness.evaluate(model, on: test) { print($0.tableRow) }
    print(RobustnessResult.summary(results) + "; \(fixed(seconds() - start, 1)) s")
}

/// Seconds one call of `pass` takes.
func timed(_ pass: () -> Void) -> Double {
    let start = seconds()
    pass()
    return seconds() - start
}

/// Images per second classifying the whole set (see `bestRate`).
func inferenceRate(_ network: Network, _ data: LabeledImages) -> Double {
    let pixels = data.pixels(0..<data.count)
    return bestRate(images: data.count) {
        _ = pixels.withUnsafeBufferPointer { network.probabilities(for: $0.baseAddress!, count: data.count) }
    }
}

/// The best of three timed passes, after one that is not timed: a first pass at a process's
/// start can run far slower (threads starting, pages first touched, the clock rising).
func bestRate(images: Int, _ pass: () -> Void) -> Double {
    pass()
    return Double(images) / (0..<3).map { _ in timed(pass) }.min()!
}

/// The weights mnistd ships with, as the daemon finds them.
func shippedWeights() -> WeightsFile? {
    guard let path = DefaultWeights.locate(), let bytes = try? readFile(path) else { return nil }
    return try? WeightsFile(decoding: bytes, source: path)
}
