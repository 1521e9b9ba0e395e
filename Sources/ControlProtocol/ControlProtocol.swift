import FoundationEssentials

/// One request on the control socket: a JSON object on one line, `command` first.
///
///     {"command":"status"}
///     {"command":"retrain","dataset":"fashion","model":"cnn","epochs":2,"force":false,"seed":1}
///     {"command":"models"}
///     {"command":"rollback","id":"cnn-4908b7f6687e6f82"}
///     {"command":"reload"}
///     {"command":"classify","files":["/srv/scans/digit.png"]}
///     {"command":"metrics"}
public struct ControlRequest: Codable, Sendable, Equatable {
    public var command: ControlCommand
    public var dataset: String?
    public var model: String?
    public var epochs: Int?
    public var force: Bool?
    public var id: String?
    public var files: [String]?
    public var seed: UInt64?

    public init(command: ControlCommand, dataset: String? = nil, model: String? = nil, epochs: Int? = nil,
                force: Bool? = nil, id: String? = nil, files: [String]? = nil, seed: UInt64? = nil) {
        self.command = command
        self.dataset = dataset
        self.model = model
        self.epochs = epochs
        self.force = force
        self.id = id
        self.files = files
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case command, dataset, model, epochs, force, id, files, seed
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .command)
        guard let command = ControlCommand(rawValue: name) else { throw UnknownCommand(name: name) }
        self.init(command: command,
                  dataset: try container.decodeIfPresent(String.self, forKey: .dataset),
                  model: try container.decodeIfPresent(String.self, forKey: .model),
                  epochs: try container.decodeIfPresent(Int.self, forKey: .epochs),
                  force: try container.decodeIfPresent(Bool.self, forKey: .force),
                  id: try container.decodeIfPresent(String.self, forKey: .id),
                  files: try container.decodeIfPresent([String].self, forKey: .files),
                  seed: try container.decodeIfPresent(UInt64.self, forKey: .seed))
    }
}

/// What a request may ask for.
public enum ControlCommand: String, Codable, Sendable, CaseIterable {
    case status, retrain, models, rollback, reload, classify, metrics

    /// Whether the socket thread answers it itself: `status` and `metrics` read counters in
    /// memory; the others read files or classify, and run on the command thread.
    package var isAnsweredAtOnce: Bool { self == .status || self == .metrics }
}

/// A request whose `command` is none of `ControlCommand`'s.
public struct UnknownCommand: Error, CustomStringConvertible {
    public let name: String

    public var description: String {
        "unknown command \"\(name)\" (known: \(ControlCommand.allCases.map(\.rawValue).joined(separator: ", ")))"
    }
}

/// The daemon's answer, one JSON object on one line: `ok`, then `error` or what was asked.
public struct ControlReply: Codable, Sendable {
    public var ok: Bool
    public var error: String?
    public var message: String?
    public var status: DaemonStatus?
    public var models: [ModelVersion]?
    public var predictions: [FilePrediction]?
    /// The Prometheus text exposition, as the metrics file holds it.
    public var metrics: String?

    public init(ok: Bool, error: String? = nil, message: String? = nil, status: DaemonStatus? = nil,
                models: [ModelVersion]? = nil, predictions: [FilePrediction]? = nil, metrics: String? = nil) {
        self.ok = ok
        self.error = error
        self.message = message
        self.status = status
        self.models = models
        self.predictions = predictions
        self.metrics = metrics
    }

    public static func failure(_ error: String) -> ControlReply { ControlReply(ok: false, error: error) }
}

/// What `status` reports.
public struct DaemonStatus: Codable, Sendable {
    public var version: String
    public var uptimeSeconds: Double
    public var model: ModelVersion
    public var queueDepth: Int
    public var filesDone: Int
    public var filesFailed: Int
    public var imagesClassified: Int
    /// Claim to commit, over the last files (milliseconds).
    public var latencyMilliseconds: LatencyPercentiles?
    public var retraining: RetrainingState?
    /// The names `retrain` takes: the datasets in the daemon's datasets directory.
    public var datasets: [String]?

    public init(version: String, uptimeSeconds: Double, model: ModelVersion, queueDepth: Int, filesDone: Int, filesFailed: Int,
                imagesClassified: Int, latencyMilliseconds: LatencyPercentiles?, retraining: RetrainingState?, datasets: [String]? = nil) {
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.model = model
        self.queueDepth = queueDepth
        self.filesDone = filesDone
        self.filesFailed = filesFailed
        self.imagesClassified = imagesClassified
        self.latencyMilliseconds = latencyMilliseconds
        self.retraining = retraining
        self.datasets = datasets
    }

    enum CodingKeys: String, CodingKey {
        case version, model, retraining, datasets
        case uptimeSeconds = "uptime_seconds"
        case queueDepth = "queue_depth"
        case filesDone = "files_done"
        case filesFailed = "files_failed"
        case imagesClassified = "images_classified"
        case latencyMilliseconds = "latency_ms"
    }
}

public struct LatencyPercentiles: Codable, Sendable, Equatable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var samples: Int

    public init(p50: Double, p90: Double, p99: Double, samples: Int) {
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.samples = samples
    }
}

/// A stored model: its id (kind and content hash), what it is and how it was made.
public struct ModelVersion: Codable, Sendable, Equatable {
    public var id: String
    public var kind: String
    public var active: Bool
    /// Accuracy on the validation set it was judged on, when known.
    public var accuracy: Double?
    public var dataset: String?
    public var epochs: Int?
    public var trainSeconds: Double?
    public var created: String?

    public init(id: String, kind: String, active: Bool, accuracy: Double? = nil, dataset: String? = nil, epochs: Int? = nil,
                trainSeconds: Double? = nil, created: String? = nil) {
        self.id = id
        self.kind = kind
        self.active = active
        self.accuracy = accuracy
        self.dataset = dataset
        self.epochs = epochs
        self.trainSeconds = trainSeconds
        self.created = created
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, active, accuracy, dataset, epochs, created
        case trainSeconds = "train_seconds"
    }
}

/// The predictions for one file of a `classify` request, or why it has none.
public struct FilePrediction: Codable, Sendable, Equatable {
    public var file: String
    /// Per image: the answer, null when its status is not ok.
    public var labels: [Int?]?
    /// Per image: ok, uncertain (below the minimum confidence) or empty (no ink).
    public var statuses: [ImageStatus]?
    public var confidences: [Double]?
    public var error: String?
    public var model: String?

    public init(file: String, labels: [Int?]? = nil, statuses: [ImageStatus]? = nil, confidences: [Double]? = nil,
                error: String? = nil, model: String? = nil) {
        self.file = file
        self.labels = labels
        self.statuses = statuses
        self.confidences = confidences
        self.error = error
        self.model = model
    }
}

/// What is said of one image: `ok` (its label is the answer), `uncertain` (below the minimum
/// confidence, or unlike the training images) or `empty` (no ink).
public enum ImageStatus: String, Codable, Sendable {
    case ok, uncertain, empty
}

/// Where a retraining stands.
public struct RetrainingState: Codable, Sendable, Equatable {
    public enum Phase: String, Codable, Sendable {
        case loading, training, validating, finished, refused, failed
    }

    public var phase: Phase
    public var dataset: String
    public var kind: String
    public var epoch: Int
    public var epochs: Int
    public var loss: Double?
    public var accuracy: Double?
    public var etaSeconds: Double?
    /// The outcome in words, once there is one.
    public var message: String?
    /// The new model's id, once trained.
    public var modelID: String?

    public init(phase: Phase, dataset: String, kind: String, epoch: Int, epochs: Int, loss: Double? = nil, accuracy: Double? = nil,
                etaSeconds: Double? = nil, message: String? = nil, modelID: String? = nil) {
        self.phase = phase
        self.dataset = dataset
        self.kind = kind
        self.epoch = epoch
        self.epochs = epochs
        self.loss = loss
        self.accuracy = accuracy
        self.etaSeconds = etaSeconds
        self.message = message
        self.modelID = modelID
    }

    public var isRunning: Bool {
        switch phase {
        case .loading, .training, .validating: return true
        case .finished, .refused, .failed: return false
        }
    }

    enum CodingKeys: String, CodingKey {
        case phase, dataset, kind, epoch, epochs, loss, accuracy, message
        case etaSeconds = "eta_seconds"
        case modelID = "model_id"
    }
}

/// JSON lines, the same way at both ends.
public enum ControlCoding {
    /// Throws for what JSON cannot say (NaN, infinity), wherever it hides in `value`.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value)) + [UInt8(ascii: "\n")]
    }

    /// A reply's line, always: one that cannot be encoded is answered by a failure saying so
    /// (with the reason) rather than by a crash or by silence.
    public static func encode(reply: ControlReply) -> [UInt8] {
        do {
            return try encode(reply)
        } catch {
            let failure = ControlReply.failure("the daemon could not encode its reply: \(error)")
            return (try? encode(failure)) ?? Array(#"{"error":"the daemon could not encode its reply","ok":false}"#.utf8) + [UInt8(ascii: "\n")]
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from line: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(line))
    }
}
