#if canImport(Glibc)
import Glibc
import CLinux
import Classification
import Formats
import Logging
import NeuralNet
import SystemResources
import Tensor
#endif

/// What a retraining request asks for.
public struct RetrainingRequest: Sendable {
    /// A dataset's name in the datasets directory, or a path inside it; nil: the only one there.
    public var dataset: String?
    public var kind: ModelKind
    public var epochs: Int?
    /// Swap in the new model even if it does worse than the current one on the same data.
    public var force: Bool
    /// Initialisation, shuffling and augmentation: the same seed and data give the same model.
    public var seed: UInt64

    public init(dataset: String?, kind: ModelKind, epochs: Int?, force: Bool, seed: UInt64 = 1) {
        self.dataset = dataset
        self.kind = kind
        self.epochs = epochs
        self.force = force
        self.seed = seed
    }
}

/// Trains a new model from a dropped dataset on a background thread at low priority, while
/// the daemon goes on classifying with the current one; the new model replaces it only if
/// it passes the gate on the dataset's validation set: accuracy at least `minimumAccuracy`,
/// and (unless forced) no worse than the current model there. One retraining at a time.
public final class Retrainer: Service, @unchecked Sendable {
    public let threadName = "retrainer"
    let datasetsDirectory: String
    let store: ModelStore
    let models: ModelHolder
    let settings: LiveSettings
    let logger: Logger
    private let lock = ConditionLock()
    private var current: RetrainingProgress?
    private var endings: [RetrainingProgress.Phase: Int] = [:]
    /// Started and not yet taken up by `run`.
    private var waiting: (request: RetrainingRequest, directory: String, name: String)?
    private var stopping = false

    public init(datasetsDirectory: String, store: ModelStore, models: ModelHolder, settings: LiveSettings, logger: Logger) throws {
        try makeDirectories(datasetsDirectory)
        self.datasetsDirectory = datasetsDirectory
        self.store = store
        self.models = models
        self.settings = settings
        self.logger = logger
    }

    /// The running or last retraining.
    public var progress: RetrainingProgress? { lock.withLock { current } }

    /// How many retrainings ended in each way (finished, refused, failed) since the start.
    public var outcomes: [RetrainingProgress.Phase: Int] { lock.withLock { endings } }

    /// Starts a retraining; an error message instead when one runs or the dataset is unusable.
    public func start(_ request: RetrainingRequest) -> Result<RetrainingProgress, RetrainingRefusal> {
        let directory: String, name: String
        switch resolve(request.dataset) {
        case .success(let found): (directory, name) = found
        case .failure(let refusal): return .failure(refusal)
        }
        let recipe = TrainingRecipe.standard(for: request.kind)
        let state = RetrainingProgress(phase: .loading, dataset: name, kind: request.kind, epoch: 0,
                                       epochs: request.epochs ?? recipe.epochs)
        let started: Bool = lock.withLock {
            guard current?.isRunning != true, !stopping else { return false }
            current = state
            waiting = (request, directory, name)
            lock.broadcast()
            return true
        }
        guard started else {
            return .failure(RetrainingRefusal(message: stopping ? "the daemon is stopping"
                : "a retraining is already running (\(current?.dataset ?? "?"), epoch \(current?.epoch ?? 0)/\(current?.epochs ?? 0)); wait for it to finish"))
        }
        logger.notice("retraining \(request.kind.rawValue) on dataset \(name)", metadata: ["dataset": "\(name)", "kind": "\(request.kind.rawValue)"])
        return .success(state)
    }

    /// Trains what `start` asks for, one at a time, until `stop()`.
    public func run() {
        // Nice 10 for this thread and the kernel threads it splits its work over: the inbox's
        // classification comes first.
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(linux_thread_id()), 10)
        withBackgroundKernelThreads {
            while let next = nextRequest() { retrain(next.request, directory: next.directory, name: next.name) }
        }
    }

    private func nextRequest() -> (request: RetrainingRequest, directory: String, name: String)? {
        lock.withLock {
            while waiting == nil && !stopping { lock.wait() }
            defer { waiting = nil }
            return stopping ? nil : waiting
        }
    }

    /// Makes a running retraining stop (between batches) and `run` return.
    public func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
    }

    /// The datasets dropped so far: the names a request may give.
    public var availableDatasets: [String] {
        ((try? directoryEntries(datasetsDirectory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The dataset directory for a name or path, which must lie inside the datasets directory.
    func resolve(_ requested: String?) -> Result<(String, String), RetrainingRefusal> {
        let available = availableDatasets
        guard let requested else {
            guard available.count == 1 else {
                return .failure(RetrainingRefusal(message: available.isEmpty
                    ? "no dataset in \(datasetsDirectory); drop one there (IDX files or class folders 0/ … 9/)"
                    : "several datasets in \(datasetsDirectory): name one of \(available.joined(separator: ", "))"))
            }
            return .success(("\(datasetsDirectory)/\(available[0])", available[0]))
        }
        var name = requested
        if requested.hasPrefix("/") {
            // A path is accepted only if it really is a dataset of ours, links resolved.
            guard let real = realPath(requested), let root = realPath(datasetsDirectory), real.hasPrefix(root + "/"),
                  !real.dropFirst(root.count + 1).contains("/") else {
                return .failure(RetrainingRefusal(message: "\(requested) is not a dataset directory inside \(datasetsDirectory)"))
            }
            name = String(real.dropFirst(root.count + 1))
        }
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"),
              !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            return .failure(RetrainingRefusal(message: "\(escapingControlCharacters("\"\(requested)\"")) is not a dataset name (a directory in \(datasetsDirectory))"))
        }
        let directory = "\(datasetsDirectory)/\(name)"
        if let info = linkStatus(directory), info.st_mode & S_IFMT == S_IFLNK {
            return .failure(RetrainingRefusal(message: "dataset \"\(name)\" in \(datasetsDirectory) is a symbolic link; a dataset must be a directory there (links are not followed)"))
        }
        guard let info = linkStatus(directory), info.st_mode & S_IFMT == S_IFDIR else {
            return .failure(RetrainingRefusal(message: "no dataset \"\(name)\" in \(datasetsDirectory) (there: \(available.isEmpty ? "none" : available.joined(separator: ", ")))"))
        }
        return .success((directory, name))
    }

    private func update(_ change: (inout RetrainingProgress) -> Void) {
        lock.withLock { if current != nil { change(&current!) } }
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func finish(_ phase: RetrainingProgress.Phase, _ message: String) {
        lock.withLock {
            current?.phase = phase
            current?.message = message
            current?.etaSeconds = nil
            endings[phase, default: 0] += 1
        }
        switch phase {
        case .finished: logger.notice("\(message)")
        default: logger.error("\(message)", metadata: ["error": "\(message)"])
        }
    }

    /// The validation gate: why a newly trained model, evaluated on the dataset's validation
    /// images, may not replace the current one (accuracy `currentAccuracy` there); nil when it may.
    static func gate(_ candidate: Evaluation, currentAccuracy: Double, minimumAccuracy: Double, force: Bool) -> String? {
        let classes = candidate.confusion.classes
        let nonFinite = stride(from: 0, to: candidate.probabilities.count, by: classes).count {
            !candidate.probabilities[$0..<$0 + classes].allSatisfy(\.isFinite)
        }
        if nonFinite > 0 {
            return "its probabilities are not finite numbers (NaN or infinity) on \(nonFinite) validation image(s): training diverged; the active model is unchanged"
        }
        let accuracy = Double(candidate.confusion.accuracy)
        if accuracy < minimumAccuracy {
            return "below the floor of \(fixed(minimumAccuracy * 100, 2))%; the active model is unchanged"
        }
        if accuracy < currentAccuracy && !force {
            return "not better, kept the current model (retrain with --force to swap anyway)"
        }
        return nil
    }

    private func retrain(_ request: RetrainingRequest, directory: String, name: String) {
        var recipe = TrainingRecipe.standard(for: request.kind)
        if let epochs = request.epochs { recipe.epochs = epochs }
        let training = ModelTraining(network: Network(kind: request.kind, seed: request.seed), recipe: recipe, seed: request.seed)
        let data: LabeledDataset
        do {
            let settings = settings.current
            data = try LabeledDataset.load(directory: directory, name: name, classes: training.network.classCount, decoder: settings.decoder,
                                           maxImages: settings.maxDatasetImages)
        } catch {
            return finish(.refused, "dataset \(name) refused: \(error)")
        }
        update { $0.phase = .training; $0.epochs = recipe.epochs }
        let started = monotonicMicroseconds()
        let trained = training.run(on: data.train, test: data.validation, evaluatingEachEpoch: false, dataset: name, created: utcTimestamp(),
                                   progress: { event in
            switch event {
            case let .batch(epoch, batch, batches, meanLoss):
                let done = Double((epoch - 1) * batches + batch), total = Double(recipe.epochs * batches)
                let elapsed = Double(monotonicMicroseconds() - started) / 1e6
                update {
                    $0.epoch = epoch
                    // A diverging run's loss is NaN or infinite: nothing to report, not a number to send.
                    $0.loss = meanLoss.isFinite ? Double(meanLoss) : nil
                    $0.etaSeconds = elapsed / done * (total - done)
                    $0.fractionDone = done / total
                }
            case let .epochFinished(report):
                update { $0.accuracy = Double(report.trainAccuracy); $0.phase = report.epoch == recipe.epochs ? .validating : .training }
                logger.info("retraining \(name): epoch \(report.epoch)/\(recipe.epochs), loss \(fixed(Double(report.trainLoss), 4))",
                            metadata: ["dataset": "\(name)", "epoch": "\(report.epoch)"])
            }
        }, shouldStop: { isStopping })
        guard let trained else { return finish(.failed, "retraining on \(name) stopped before its end; the active model is unchanged") }
        judgeAndSwap(trained, on: data, force: request.force)
    }

    /// Swaps in `trained` if it passes the gate against the current model on the same images.
    private func judgeAndSwap(_ trained: TrainedModel, on data: LabeledDataset, force: Bool) {
        let accuracy = Double(trained.evaluation.confusion.accuracy)
        let currentModel = models.current
        let currentAccuracy = currentModel.network.classCount == trained.weights.network.classCount
            ? Double(Evaluation(network: currentModel.network, data: data.validation).confusion.accuracy) : 0
        update { $0.accuracy = accuracy; $0.etaSeconds = nil }
        let seconds = trained.reports.last?.elapsedSeconds ?? 0
        let verdict = "new model \(fixed(accuracy * 100, 2))% on \(data.validationSource) of \(data.name), current \(currentModel.id) \(fixed(currentAccuracy * 100, 2))%"
        if let refusal = Self.gate(trained.evaluation, currentAccuracy: currentAccuracy, minimumAccuracy: settings.current.minimumAccuracy,
                                   force: force) {
            return finish(.refused, "\(verdict): \(refusal)")
        }
        do {
            let model = try store.add(trained.weights)
            try store.activate(model.id)
            models.replace(with: model)
            update { $0.modelID = model.id }
            finish(.finished, "\(verdict): swapped in \(model.id) after \(fixed(seconds, 1)) s of training")
        } catch {
            finish(.failed, "cannot store the new model: \(error); the active model is unchanged")
        }
    }
}

/// Why a retraining was not started.
public struct RetrainingRefusal: Error, Sendable {
    public let message: String
}

func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}
