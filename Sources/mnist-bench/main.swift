// Measures mnistd's kernels, training and inference, and runs the PyTorch reference programs
// (../shared/reference) in the same run on the same machine, printing the ratios.
//
//     swift run -c release mnist-bench [--data DIR] [--python PYTHON] [--reference DIR] [--sections gemm,seed,cnn,inference,robustness,daemon,load,metrics,shared] [--daemon-dir DIR]
//
// Without a Python that imports torch, only mnistd's own figures are printed.

import Classification
import Formats
import NeuralNet
import Tensor
#if canImport(Glibc)
import Glibc
#endif

let options = BenchOptions(arguments: Array(CommandLine.arguments.dropFirst()))
let train: LabeledImages, test: LabeledImages
do {
    train = try LabeledImages.readMNIST(directory: options.data, split: .train)
    test = try LabeledImages.readMNIST(directory: options.data, split: .test)
} catch {
    fail("\(error)")
}
let reference = ReferenceRunner(python: options.python, directory: options.reference, data: options.data)

print("mnist-bench: \(kernelThreadCount) threads, data \(options.data)")
if let problem = reference.unavailableReason {
    print("PyTorch reference: not run (\(problem))")
}

if options.sections.contains("gemm") { benchmarkGEMM() }
if options.sections.contains("seed") { benchmarkSeedMLP(train: train, test: test, reference: reference) }
if options.sections.contains("cnn") { benchmarkTimeTo99(train: train, test: test, reference: reference) }
if options.sections.contains("inference") { benchmarkShippedInference(test: test) }
if options.sections.contains("robustness") { benchmarkRobustness(test: test) }
if options.sections.contains("daemon") { benchmarkDaemon(test: test, data: options.data, under: options.daemonDirectory) }
if options.sections.contains("load") { benchmarkDaemonLoad(test: test, under: options.daemonDirectory) }
if options.sections.contains("metrics") { benchmarkMetricsCost(test: test, under: options.daemonDirectory) }
if options.sections.contains("shared") { benchmarkSharedInbox(test: test, under: options.daemonDirectory) }
