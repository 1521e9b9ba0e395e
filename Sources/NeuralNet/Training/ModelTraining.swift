/// How a deployable model is made, the one way `mnistctl train` and the daemon's retrainer
/// both make it: train, measure the 8-bit form's activation ranges, fit the softmax
/// temperature on training images kept out of training, judge the model as it will classify
/// on the test images, and write down where it came from.
public struct ModelTraining: Sendable {
    /// The freshly initialised network training starts from.
    public let network: Network
    public let recipe: TrainingRecipe
    public let seed: UInt64
    /// Training images kept out, the last ones, to fit the temperature; nil: the recipe's share.
    public var calibrationImages: Int?

    public init(network: Network, recipe: TrainingRecipe, seed: UInt64) {
        self.network = network
        self.recipe = recipe
        self.seed = seed
    }

    /// A network of `kind` initialised from `seed`, with another architecture if given.
    public init(kind: ModelKind, architecture: String? = nil, recipe: TrainingRecipe, seed: UInt64) throws {
        let network = try architecture.map { try Network(kind: kind, architecture: $0, seed: seed) } ?? Network(kind: kind, seed: seed)
        self.init(network: network, recipe: recipe, seed: seed)
    }

    /// How many of `count` training images are kept out to fit the temperature.
    public func heldOutCount(of count: Int) -> Int {
        min(count, max(0, calibrationImages ?? recipe.calibrationShare.map { count / $0 } ?? 0))
    }

    /// Trains on `images` (less the calibration tail) and judges the result on `test`; each
    /// epoch is also evaluated on `test` when `evaluatingEachEpoch` (for the learning curve).
    /// Nil when `shouldStop` ended training before its last epoch.
    public func run(
        on images: LabeledImages, test: LabeledImages, evaluatingEachEpoch: Bool, dataset: String, created: String,
        progress: (TrainingProgress) -> Void = { _ in }, shouldStop: () -> Bool = { false }
    ) -> TrainedModel? {
        let (train, heldOut) = images.holdingOut(heldOutCount(of: images.count))
        let trainer = Trainer(network: network, recipe: recipe, seed: seed)
        let reports = trainer.train(on: train, validation: evaluatingEachEpoch ? test : nil, progress: progress, shouldStop: shouldStop)
        guard reports.count == recipe.epochs, !shouldStop() else { return nil }
        var trained = trainer.network
        trained.measureActivationRanges(on: train)
        var calibration: Calibration?
        if heldOut.count > 0 {
            let fitted = Calibration(fitting: Evaluation(network: trained, data: heldOut), labels: heldOut.labels)
            trained.temperature = fitted.temperature
            calibration = fitted
        }
        // Judged as it will classify: in 8 bits when it has an 8-bit form. The temperature
        // changes no prediction.
        let evaluation = Evaluation(network: trained, data: test)
        let seconds = reports.last?.elapsedSeconds ?? 0
        var metadata = [
            "dataset": Self.datasetName(dataset),
            "epochs": String(recipe.epochs),
            "seed": String(seed),
            "test_accuracy": String(rounded(Double(evaluation.confusion.accuracy), places: 4)),
            "train_seconds": String(rounded(seconds, places: 1)),
            "history": EpochReport.historyText(reports),
            "created": created,
        ]
        if let calibration { metadata.merge(calibration.metadata) { $1 } }
        return TrainedModel(weights: WeightsFile(network: trained, metadata: metadata, inputProfile: InputProfile(of: train)),
                            reports: reports, evaluation: evaluation, calibration: calibration, trainedOn: train.count)
    }

    /// What a model says it was trained on: a dataset's name, the last part of the path it was
    /// read from (`mnist`, not `../shared/datasets/mnist`, a path on the machine that trained it).
    public static func datasetName(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return parts.last.map(String.init) ?? path
    }

    private func rounded(_ value: Double, places: Int) -> Double {
        let scale = Double([1, 10, 100, 1000, 10_000][places])
        return (value * scale).rounded() / scale
    }
}

/// What `ModelTraining.run` made.
public struct TrainedModel: Sendable {
    /// The model as it is deployed: 8-bit ranges, temperature and metadata included.
    public let weights: WeightsFile
    public let reports: [EpochReport]
    /// The deployed model on the test images.
    public let evaluation: Evaluation
    /// The temperature's fit, when images were kept out for it.
    public let calibration: Calibration?
    /// Images trained on, the calibration tail excluded.
    public let trainedOn: Int
}
