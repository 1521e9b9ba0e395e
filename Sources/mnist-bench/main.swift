import Tensor
import NeuralNet
import Formats

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
    if case let .epochFinished(r) = p { print(r) }
})
