/// Everything that decides how a model is trained, apart from the data and the seed.
public struct TrainingRecipe: Equatable, Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var loss: LossFunction
    public var optimizer: OptimizerSettings
    public var schedule: LearningRateSchedule
    public var augmentation: Augmentation?
    /// 1/N of the training images, the last ones, kept out of training to fit the softmax
    /// temperature (see `ModelTraining`); nil: none, the temperature stays 1.
    public var calibrationShare: Int?

    public init(epochs: Int, batchSize: Int, loss: LossFunction, optimizer: OptimizerSettings,
                schedule: LearningRateSchedule, augmentation: Augmentation?, calibrationShare: Int? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.loss = loss
        self.optimizer = optimizer
        self.schedule = schedule
        self.augmentation = augmentation
        self.calibrationShare = calibrationShare
    }

    /// The recipe each model kind is trained with unless told otherwise.
    public static func standard(for kind: ModelKind) -> TrainingRecipe {
        switch kind {
        case .mlpSeed:
            return TrainingRecipe(epochs: 10, batchSize: 100, loss: .squaredError,
                                  optimizer: .sgd(momentum: 0), schedule: .constant(0.01), augmentation: nil)
        case .cnn:
            return TrainingRecipe(
                epochs: 15, batchSize: 128, loss: .crossEntropy,
                optimizer: .adamW(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-4),
                schedule: .oneCycle(peak: 3e-3, warmupFraction: 0.2),
                augmentation: Augmentation(
                    maxRotationDegrees: 10, maxScaleChange: 0.1, maxShiftPixels: 2, maxShear: 0.15,
                    // Light enough that MNIST's own test digits lose next to nothing: 99.59% against 99.60% (README: The shipped weights).
                    realWorld: RealWorldDistortions(elasticShare: 0.3, maxElasticAlpha: 34, elasticSigma: 4, strokeWidthShare: 0.2,
                                                    blurShare: 0.1, maxBlurSigma: 1.2, lowResolutionShare: 0.1, lowResolutionSides: 7...14)),
                // MNIST: 5,000 of 60,000.
                calibrationShare: 12)
        }
    }
}
