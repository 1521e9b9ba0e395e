import Classification
import ControlProtocol
import Logging
import NeuralNet
import SystemResources

/// What each control command does, given the daemon's pieces.
final class ControlCommands: @unchecked Sendable {

    let models: ModelHolder
    let store: ModelStore
    let queue: WorkQueue
    let counters: DaemonCounters
    let retrainer: Retrainer
    let metrics: MetricsReport
    let settings: LiveSettings
    let logger: Logger
    let reload: () -> Result<LoadedModel, ReloadFailure>
    private let startedMicroseconds = monotonicMicroseconds()
    /// For `classify`: the command thread's own workspace.
    private let classifier = Classifier()

    init(models: ModelHolder, store: ModelStore, queue: WorkQueue, counters: DaemonCounters, retrainer: Retrainer,
         metrics: MetricsReport, settings: LiveSettings, logger: Logger, reload: @escaping () -> Result<LoadedModel, ReloadFailure>) {
        self.models = models
        self.store = store
        self.queue = queue
        self.counters = counters
        self.retrainer = retrainer
        self.metrics = metrics
        self.settings = settings
        self.logger = logger
        self.reload = reload
    }

    func handle(_ request: ControlRequest, from peer: ControlPeer) -> ControlReply {
        switch request.command {
        case .status: return ControlReply(ok: true, status: status())
        case .metrics: return ControlReply(ok: true, metrics: metrics.text())
        case .models: return ControlReply(ok: true, models: store.models().map(ModelVersion.init))
        case .reload: return reloaded()
        case .rollback: return rollback(to: request.id, peer: peer)
        case .classify: return classify(request.files ?? [])
        case .retrain: return retrain(request, peer: peer)
        }
    }

    func status() -> DaemonStatus {
        let model = models.current
        let done = counters.current
        return DaemonStatus(
            version: mnistdVersion, uptimeSeconds: Double(monotonicMicroseconds() - startedMicroseconds) / 1e6,
            model: ModelVersion(model.stored(active: true)), queueDepth: queue.depth, filesDone: done.filesClassified,
            filesFailed: done.filesFailedInAll, imagesClassified: done.imagesClassified,
            latencyMilliseconds: counters.latency.map(LatencyPercentiles.init), retraining: retrainer.progress.map(RetrainingState.init),
            datasets: retrainer.availableDatasets)
    }

    private func reloaded() -> ControlReply {
        switch reload() {
        case .success(let model): return ControlReply(ok: true, message: "active model: \(model.id)")
        case .failure(let failure): return .failure("\(failure)")
        }
    }

    private func rollback(to requested: String?, peer: ControlPeer) -> ControlReply {
        let versions = store.models()
        let activeID = models.current.id
        let target: String
        if let requested {
            target = requested
        } else {
            // Without an id: the newest model older than the active one.
            guard let index = versions.firstIndex(where: { $0.id == activeID }), index + 1 < versions.count else {
                return .failure("no earlier model to roll back to (see `mnistctl models`)")
            }
            target = versions[index + 1].id
        }
        do {
            let model = try store.load(target).loggingWarnings(to: logger)
            try store.activate(model.id)
            models.replace(with: model)
            logger.notice("rolled back to model \(model.id) (asked by uid \(peer.uid))", metadata: ["model": "\(model.id)"])
            return ControlReply(ok: true, message: "active model: \(model.id)", models: store.models().map(ModelVersion.init))
        } catch {
            return .failure("\(error)")
        }
    }

    /// What one `classify` request may ask: it runs on the command thread, one at a time, and
    /// its reply is held in memory, so both are bounded.
    var classifyLimits = (files: 100, images: 100_000)

    private func classify(_ files: [String]) -> ControlReply {
        guard !files.isEmpty else { return .failure("classify needs \"files\": a list of paths the daemon can read") }
        let limits = classifyLimits
        guard files.count <= limits.files else { return .failure("at most \(limits.files) files per classify request, got \(files.count)") }
        let model = models.current
        let settings = settings.current
        let decoder = settings.decoder
        var imagesLeft = limits.images
        let predictions = files.map { file -> FilePrediction in
            let refusal = "\(file): not classified: this request reached its limit of \(limits.images) images; ask for it in another request"
            // Once the budget is spent, the rest is not even read.
            guard imagesLeft > 0 else { return FilePrediction(file: file, error: refusal, model: model.id) }
            do {
                let input = try decoder.decode(path: file, displayName: file)
                guard input.count <= imagesLeft else { return FilePrediction(file: file, error: refusal, model: model.id) }
                imagesLeft -= input.count
                let predictions = try classifier.classify(input, named: file, with: model, minimumConfidence: settings.minimumConfidence).predictions
                return FilePrediction(file: file, labels: predictions.map(\.label), statuses: predictions.map { ImageStatus($0.status) },
                                      confidences: predictions.map { (Double($0.confidence) * 1e6).rounded() / 1e6 },
                                      model: model.id)
            } catch {
                return FilePrediction(file: file, error: "\(error)", model: model.id)
            }
        }
        return ControlReply(ok: true, predictions: predictions)
    }

    private func retrain(_ request: ControlRequest, peer: ControlPeer) -> ControlReply {
        let kindName = request.model ?? ModelKind.cnn.rawValue
        guard let kind = ModelKind(rawValue: kindName) else {
            return .failure("unknown model \"\(kindName)\" (known: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let epochs = request.epochs, !(1...1000).contains(epochs) {
            return .failure("epochs must be between 1 and 1000, got \(epochs)")
        }
        let outcome = retrainer.start(RetrainingRequest(dataset: request.dataset, kind: kind, epochs: request.epochs,
                                                          force: request.force ?? false, seed: request.seed ?? 1))
        switch outcome {
        case .success(let state):
            logger.notice("retraining requested by uid \(peer.uid)", metadata: ["dataset": "\(state.dataset)"])
            return ControlReply(ok: true, message: "retraining \(state.kind.rawValue) on \(state.dataset) for \(state.epochs) epochs",
                                status: status())
        case .failure(let refusal):
            logger.warning("retraining refused: \(refusal.message)", metadata: ["error": "\(refusal.message)"])
            return .failure(refusal.message)
        }
    }
}

// The protocol says what the domain holds, in its own words: a new field is added here and
// in ControlProtocol, and the domain types stay free of the wire.
extension ModelVersion {
    package init(_ model: StoredModel) {
        self.init(id: model.id, kind: model.kind.rawValue, active: model.active, accuracy: model.accuracy, dataset: model.dataset,
                  epochs: model.epochs, trainSeconds: model.trainSeconds, created: model.created)
    }
}

extension LatencyPercentiles {
    init(_ latency: Latency) {
        self.init(p50: latency.p50, p90: latency.p90, p99: latency.p99, samples: latency.samples)
    }
}

extension RetrainingState {
    init(_ progress: RetrainingProgress) {
        self.init(phase: Phase(progress.phase), dataset: progress.dataset, kind: progress.kind.rawValue, epoch: progress.epoch,
                  epochs: progress.epochs, loss: progress.loss, accuracy: progress.accuracy, etaSeconds: progress.etaSeconds,
                  message: progress.message, modelID: progress.modelID)
    }
}

extension RetrainingState.Phase {
    init(_ phase: RetrainingProgress.Phase) {
        switch phase {
        case .loading: self = .loading
        case .training: self = .training
        case .validating: self = .validating
        case .finished: self = .finished
        case .refused: self = .refused
        case .failed: self = .failed
        }
    }
}

extension ImageStatus {
    init(_ status: Prediction.Status) {
        switch status {
        case .ok: self = .ok
        case .uncertain: self = .uncertain
        case .empty: self = .empty
        }
    }
}
