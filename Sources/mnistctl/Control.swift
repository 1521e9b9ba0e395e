#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import ControlProtocol
import Formats

/// How to reach a running mnistd.
struct SocketOptions: ParsableArguments {
    @Option(help: "The daemon's control socket (default: /run/mnistd/control.sock when it exists, else ./var/mnistd.sock).",
            completion: .file())
    var socket: String?

    @Flag(help: "Print the daemon's JSON reply as it is.")
    var json = false

    /// The system daemon's socket when it is there, even out of this user's reach (then the
    /// connection says permission denied, not that some other socket is missing).
    var path: String {
        if let socket { return socket }
        let systemSocket = "/run/mnistd/control.sock"
        return access(systemSocket, F_OK) == 0 || errno == EACCES ? systemSocket : "./var/mnistd.sock"
    }

    /// Sends a request; prints the raw reply with --json; a refusal is an error either way.
    func send(_ request: ControlRequest) throws -> ControlReply {
        // Not reaching the daemon is a runtime failure (exit 1), not a usage error.
        let reply = try ControlClient(socketPath: path).send(request)
        if json { print(String(decoding: ControlCoding.encode(reply: reply).dropLast(), as: UTF8.self)) }
        guard reply.ok else { throw DaemonRefusal(message: reply.error ?? "the daemon refused without a reason") }
        return reply
    }
}

/// What the shells offer for values only the daemon knows, asked of it through the socket the
/// command line names (or the default one); nothing when it cannot be reached.
enum DaemonCompletions {
    static func modelIDs(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        (status(words)?.models ?? []).map(\.id).filter { $0.hasPrefix(prefix) }
    }

    static func datasets(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        (status(words, command: .status)?.status?.datasets ?? []).filter { $0.hasPrefix(prefix) }
    }

    private static func status(_ words: [String], command: ControlCommand = .models) -> ControlReply? {
        var options = SocketOptions()
        if let flag = words.firstIndex(of: "--socket"), flag + 1 < words.count { options.socket = words[flag + 1] }
        if let word = words.first(where: { $0.hasPrefix("--socket=") }) { options.socket = String(word.dropFirst("--socket=".count)) }
        // A shell waits for the answer: a daemon that does not give it at once gets no say.
        return try? ControlClient(socketPath: options.path).send(ControlRequest(command: command), timeout: 2)
    }
}

/// The daemon said no: its reason on stderr, exit status 1.
struct DaemonRefusal: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what the running daemon is doing: model, queue, counters, latency, retraining.")

    @OptionGroup var connection: SocketOptions

    func run() throws {
        let reply = try connection.send(ControlRequest(command: .status))
        guard !connection.json, let status = reply.status else { return }
        print(describe(status), terminator: "")
    }
}

func describe(_ status: DaemonStatus) -> String {
    var out = "mnistd \(status.version), up \(fixed(status.uptimeSeconds, 0)) s\n"
    out += "model: \(describe(status.model))\n"
    out += "queue: \(status.queueDepth) waiting\n"
    out += "files: \(status.filesDone) classified, \(status.filesFailed) failed; \(status.imagesClassified) images\n"
    if let latency = status.latencyMilliseconds {
        out += "latency (last \(latency.samples) files): p50 \(fixed(latency.p50, 2)) ms, p90 \(fixed(latency.p90, 2)) ms, p99 \(fixed(latency.p99, 2)) ms\n"
    }
    if let retraining = status.retraining { out += "retraining: \(describe(retraining))\n" }
    if let datasets = status.datasets, !datasets.isEmpty { out += "datasets: \(datasets.joined(separator: ", "))\n" }
    return out
}

func describe(_ model: ModelVersion) -> String {
    var parts = [model.id]
    if let accuracy = model.accuracy { parts.append("accuracy \(fixed(accuracy * 100, 2))%") }
    if let dataset = model.dataset { parts.append("trained on \(dataset)") }
    if let epochs = model.epochs { parts.append("\(epochs) epochs") }
    if let created = model.created { parts.append(created) }
    return parts.joined(separator: ", ")
}

func describe(_ state: RetrainingState) -> String {
    var text = "\(state.phase.rawValue) \(state.kind) on \(state.dataset), epoch \(state.epoch)/\(state.epochs)"
    if let loss = state.loss { text += ", loss \(fixed(loss, 4))" }
    if let accuracy = state.accuracy { text += ", accuracy \(fixed(accuracy * 100, 2))%" }
    if let eta = state.etaSeconds { text += ", about \(fixed(eta, 0)) s left" }
    if let message = state.message { text += "\n  \(message)" }
    return text
}

struct Retrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a new model in the daemon from a dataset in its datasets directory; it is swapped in only if it passes validation.")

    @OptionGroup var connection: SocketOptions

    @Option(help: "Dataset: a directory name in the daemon's datasets directory, or a path inside it (default: the only one there).",
            completion: .custom(DaemonCompletions.datasets))
    var dataset: String?

    @Option(help: "Model to train: cnn or mlp-seed.")
    var model: String = "cnn"

    @Option(help: "Epochs (default: the model's standard recipe).")
    var epochs: Int?

    @Flag(help: "Swap the new model in even if it does worse than the current one on the same validation set.")
    var force = false

    @Option(help: "Random seed: the same seed and dataset give the same model.")
    var seed: UInt64 = 1

    @Flag(help: "Follow the training with a progress bar until it ends.")
    var wait = false

    func run() throws {
        let reply = try connection.send(ControlRequest(command: .retrain, dataset: dataset, model: model, epochs: epochs, force: force, seed: seed))
        if !connection.json { print(reply.message ?? "retraining started") }
        guard wait else { return }
        var bar = ProgressBar()
        while true {
            usleep(500_000)
            guard let state = try connection.send(ControlRequest(command: .status)).status?.retraining else { continue }
            if state.isRunning {
                let eta = state.etaSeconds.map { ", \(fixed($0, 0)) s left" } ?? ""
                bar.update(label: "epoch \(state.epoch)/\(state.epochs)", done: max(0, state.epoch - 1), total: state.epochs,
                           detail: "\(state.phase.rawValue)\(state.loss.map { ", loss \(fixed($0, 4))" } ?? "")\(eta)")
                continue
            }
            bar.finish()
            if !connection.json { print(state.message ?? state.phase.rawValue) }
            guard state.phase == .finished else { throw DaemonRefusal(message: state.message ?? "retraining \(state.phase.rawValue)") }
            return
        }
    }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the model versions the daemon keeps; * marks the active one.")

    @OptionGroup var connection: SocketOptions

    func run() throws {
        let reply = try connection.send(ControlRequest(command: .models))
        guard !connection.json else { return }
        for model in reply.models ?? [] { print("\(model.active ? "*" : " ") \(describe(model))") }
    }
}

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make an earlier model active (default: the one before the active one).")

    @OptionGroup var connection: SocketOptions

    @Argument(help: "Model id, as `mnistctl models` lists it.", completion: .custom(DaemonCompletions.modelIDs))
    var id: String?

    func run() throws {
        let reply = try connection.send(ControlRequest(command: .rollback, id: id))
        if !connection.json { print(reply.message ?? "rolled back") }
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make the daemon re-read its active model from disk.")

    @OptionGroup var connection: SocketOptions

    func run() throws {
        let reply = try connection.send(ControlRequest(command: .reload))
        if !connection.json { print(reply.message ?? "reloaded") }
    }
}

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the daemon's metrics in the Prometheus text format (what its metrics file holds, as of now).")

    @OptionGroup var connection: SocketOptions

    func run() throws {
        let reply = try connection.send(ControlRequest(command: .metrics))
        if !connection.json { print(reply.metrics ?? "", terminator: "") }
    }
}

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Have the daemon classify files now and answer on the socket (no inbox round trip).")

    @OptionGroup var connection: SocketOptions

    @Argument(help: "PNG or IDX files; relative paths are made absolute, and the daemon must be able to read them.", completion: .file())
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one file") }
    }

    func run() throws {
        var cwd = [CChar](repeating: 0, count: 4096)
        let base = getcwd(&cwd, cwd.count).map { String(cString: $0) } ?? "."
        let paths = files.map { $0.hasPrefix("/") ? $0 : "\(base)/\($0)" }
        let reply = try connection.send(ControlRequest(command: .classify, files: paths))
        guard !connection.json else { return }
        var failed = false
        for prediction in reply.predictions ?? [] {
            if let error = prediction.error {
                print("\(prediction.file): error: \(error)")
                failed = true
                continue
            }
            let labels = prediction.labels ?? [], statuses = prediction.statuses ?? [], confidences = prediction.confidences ?? []
            for (index, (label, (status, confidence))) in zip(labels, zip(statuses, confidences)).enumerated() {
                let name = labels.count == 1 ? prediction.file : "\(prediction.file)[\(index)]"
                let answer = label.map(String.init) ?? status.rawValue
                print("\(name): \(answer) (confidence \(fixed(confidence, 4)))")
            }
        }
        if failed { throw ExitCode.failure }
    }
}
