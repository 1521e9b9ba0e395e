@testable import Classification
@testable import ControlProtocol
@testable import Daemon
import Formats
import Logging
import NeuralNet
import TestSupport
import XCTest

/// Each control command's reply, given the daemon's pieces without a running daemon, and
/// stored state a hostile or damaged weights file can leave behind.
final class ControlCommandsTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = "/tmp/mnistd-commands-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let peer = ControlPeer(pid: 1, uid: 0, gid: 0)

    /// The commands over a store whose active model carries `metadata`.
    func commands(activeMetadata metadata: [String: String]) throws -> ControlCommands {
        let store = try ModelStore(directory: "\(root)/models")
        let model = try store.add(WeightsFile(network: Network(kind: .mlpSeed, seed: 1), metadata: metadata))
        try store.activate(model.id)
        let models = ModelHolder(model)
        let settings = LiveSettings(LiveSettings.Values(maxDatasetImages: 1000))
        let retrainer = try Retrainer(datasetsDirectory: "\(root)/datasets", store: store, models: models, settings: settings, logger: logger)
        let queue = WorkQueue(capacity: 8), counters = DaemonCounters()
        return ControlCommands(models: models, store: store, queue: queue, counters: counters, retrainer: retrainer,
                               metrics: MetricsReport(counters: counters, queue: queue, models: models, retrainer: retrainer),
                               settings: settings, logger: logger, reload: { .success(model) })
    }

    /// The reply as it goes on the wire, read back.
    func sent(_ reply: ControlReply) throws -> ControlReply {
        let line = ControlCoding.encode(reply: reply)
        XCTAssertEqual(line.last, UInt8(ascii: "\n"))
        return try ControlCoding.decode(ControlReply.self, from: Array(line.dropLast()))
    }

    /// A model trained with `mnistctl train --data ../shared/datasets/mnist` once recorded that
    /// path, a place on the machine that trained it: status names the dataset instead.
    func testStatusNamesTheDatasetNotThePathItWasReadFrom() throws {
        let commands = try commands(activeMetadata: ["dataset": "../shared/datasets/mnist/"])
        XCTAssertEqual(try sent(commands.handle(ControlRequest(command: .status), from: peer)).status?.model.dataset, "mnist")
        for (given, named) in [("fashion", "fashion"), ("/srv/data/letters", "letters"), ("./digits/.", "digits")] {
            XCTAssertEqual(ModelTraining.datasetName(given), named)
        }
    }

    func testStatusAndModelsReportOnlyTheMetadataNumbersThatAreFiniteAndInRange() throws {
        for bad in ["nan(1)", "nan", "inf", "-inf", "1e400", "-3", "", "0x1p3000"] {
            let commands = try commands(activeMetadata: ["test_accuracy": bad, "epochs": bad, "train_seconds": bad])
            let status = try sent(commands.handle(ControlRequest(command: .status), from: peer))
            XCTAssertTrue(status.ok, "\(bad): \(status.error ?? "")")
            XCTAssertNil(try XCTUnwrap(status.status).model.accuracy, bad)
            XCTAssertNil(try XCTUnwrap(status.status).model.epochs, bad)
            let models = try sent(commands.handle(ControlRequest(command: .models), from: peer))
            XCTAssertTrue(models.ok, "\(bad): \(models.error ?? "")")
            XCTAssertEqual(models.models?.count, 1)
            XCTAssertNil(models.models?.first?.accuracy, bad)
            XCTAssertEqual(commands.models.current.metadataWarnings.count, 3, "\(bad): each bad number is said")
            XCTAssertTrue(commands.models.current.metadataWarnings[0].contains("metadata epochs=\"\(bad)\" is not a number in"),
                          commands.models.current.metadataWarnings[0])
            tearDown()
            try setUpWithError()
        }
        let good = try commands(activeMetadata: ["test_accuracy": "0.9957", "epochs": "15", "train_seconds": "61.5"])
        let model = try XCTUnwrap(try sent(good.handle(ControlRequest(command: .status), from: peer)).status?.model)
        XCTAssertEqual(model.accuracy, 0.9957)
        XCTAssertEqual(model.epochs, 15)
        XCTAssertEqual(model.trainSeconds, 61.5)
        XCTAssertEqual(good.models.current.metadataWarnings, [])
        tearDown()
        try setUpWithError()
        let outOfRange = try commands(activeMetadata: ["test_accuracy": "1.5", "epochs": "1.5", "train_seconds": "1.5"])
        XCTAssertEqual(outOfRange.models.current.metadataWarnings.count, 2, "an accuracy over 1 and a fraction of an epoch")
        XCTAssertEqual(outOfRange.status().model.trainSeconds, 1.5)
    }

    func testAReplyJSONCannotHoldIsAnsweredByAFailureThatSaysSo() throws {
        var status = try commands(activeMetadata: [:]).status()
        status.uptimeSeconds = .nan
        status.retraining = RetrainingState(phase: .training, dataset: "d", kind: "cnn", epoch: 1, epochs: 2, loss: .infinity)
        let reply = try sent(ControlReply(ok: true, status: status))
        XCTAssertFalse(reply.ok)
        XCTAssertTrue(reply.error?.hasPrefix("the daemon could not encode its reply") == true, reply.error ?? "")
    }

    func testRetrainNamesADatasetDirectoryOfTheDatasetsDirectoryOnly() throws {
        let retrainer = try commands(activeMetadata: [:]).retrainer
        try FileManager.default.createDirectory(atPath: "\(root)/datasets/digits", withIntermediateDirectories: true)
        XCTAssertEqual(symlink("\(root)/datasets/digits", "\(root)/datasets/linked"), 0)
        func refusal(_ name: String) -> String? {
            guard case .failure(let refusal) = retrainer.resolve(name) else { return nil }
            return refusal.message
        }
        XCTAssertNil(refusal("digits"))
        XCTAssertEqual(refusal("linked"), "dataset \"linked\" in \(root)/datasets is a symbolic link; a dataset must be a directory there (links are not followed)")
        for name in ["\u{0}", "a\nb", "\u{1B}[2J", ".hidden", "../etc", ""] {
            XCTAssertTrue(refusal(name)?.hasSuffix("is not a dataset name (a directory in \(root)/datasets)") == true, "\(name.debugDescription): \(refusal(name) ?? "accepted")")
            XCTAssertFalse(refusal(name)?.unicodeScalars.contains { $0.value < 0x20 } ?? false, "the reply repeats no control character")
        }
        XCTAssertTrue(refusal("missing")?.hasPrefix("no dataset \"missing\"") == true)
    }

    func testClassifyAnswersEachFileOrSaysWhyNot() throws {
        let commands = try commands(activeMetadata: [:])
        let reply = try sent(commands.handle(ControlRequest(command: .classify, files: [
            repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", "\(root)/missing.png",
        ]), from: peer))
        XCTAssertTrue(reply.ok)
        let predictions = try XCTUnwrap(reply.predictions)
        XCTAssertEqual(predictions.count, 2)
        XCTAssertEqual(predictions[0].statuses, [.ok])
        XCTAssertNil(predictions[0].error)
        XCTAssertTrue(predictions[1].error?.contains("missing.png") == true, predictions[1].error ?? "")
        let none = try sent(commands.handle(ControlRequest(command: .classify, files: []), from: peer))
        XCTAssertFalse(none.ok)

        // Bounded: so many files, so many images in all; the rest is said, not read.
        let batch = repositoryRoot + "/samples/first-100-test-digits-idx3-ubyte.gz"
        commands.classifyLimits = (files: 4, images: 250)
        let tooMany = try sent(commands.handle(ControlRequest(command: .classify, files: Array(repeating: batch, count: 5)), from: peer))
        XCTAssertEqual(tooMany.error, "at most 4 files per classify request, got 5")
        let bounded = try XCTUnwrap(try sent(commands.handle(ControlRequest(command: .classify, files: Array(repeating: batch, count: 4)), from: peer)).predictions)
        XCTAssertEqual(bounded.map { $0.labels?.count }, [100, 100, nil, nil])
        for refused in bounded.dropFirst(2) {
            XCTAssertEqual(refused.error, "\(batch): not classified: this request reached its limit of 250 images; ask for it in another request")
        }
    }
}

extension ControlCommandsTests {
    /// `rollback` and `models` over a store holding a damaged weights file, a hostile id and
    /// an `active` file that names nothing stored: each says why, nothing crashes, and the
    /// model in use changes only on success.
    func testRollbackAndModelsOverADamagedStoreSayWhyAndKeepTheModelInUse() throws {
        let commands = try commands(activeMetadata: ["created": "2026-12-02T10:00:00Z"])
        let newest = commands.models.current.id
        let older = try commands.store.add(WeightsFile(network: Network(kind: .mlpSeed, seed: 2),
                                                       metadata: ["created": "2026-12-01T10:00:00Z"]))
        func handle(_ request: ControlRequest) throws -> ControlReply { try sent(commands.handle(request, from: peer)) }

        let back = try handle(ControlRequest(command: .rollback))
        XCTAssertTrue(back.ok, back.error ?? "")
        XCTAssertEqual(back.message, "active model: \(older.id)")
        XCTAssertEqual(commands.models.current.id, older.id)
        XCTAssertEqual(commands.store.activeID, older.id, "the rollback outlives a restart")
        XCTAssertEqual(back.models?.map(\.id), [newest, older.id])
        XCTAssertEqual(back.models?.map(\.active), [false, true])
        XCTAssertEqual(try handle(ControlRequest(command: .rollback)).error, "no earlier model to roll back to (see `mnistctl models`)")

        let damagedID = "mlp-seed-00000000deadbeef"
        try Data("MNISTD weights, or so it says".utf8).write(to: URL(fileURLWithPath: commands.store.path(of: damagedID)))
        let damaged = try handle(ControlRequest(command: .rollback, id: damagedID))
        XCTAssertFalse(damaged.ok)
        XCTAssertTrue(damaged.error?.hasPrefix(commands.store.path(of: damagedID) + ": ") == true, damaged.error ?? "")
        // A sound model outside the store is out of reach by any path.
        try WeightsFile(network: Network(kind: .mlpSeed, seed: 3)).encoded().withUnsafeBufferPointer {
            try Data(buffer: $0).write(to: URL(fileURLWithPath: "\(root)/outside.weights"))
        }
        for hostile in ["../outside", "../../../etc/passwd", "", "MLP", "a/b", String(repeating: "a", count: 300)] {
            let reply = try handle(ControlRequest(command: .rollback, id: hostile))
            XCTAssertTrue(reply.error?.contains("no model \(hostile) is stored (see `mnistctl models`)") == true, reply.error ?? "rolled back")
        }
        XCTAssertEqual(commands.models.current.id, older.id, "a refused rollback changes nothing")
        XCTAssertEqual(commands.store.activeID, older.id)
        XCTAssertEqual(try handle(ControlRequest(command: .models)).models?.map(\.id), [newest, older.id],
                       "a damaged file is not listed as a model")

        try Data("\u{1B}[2J../elsewhere\n".utf8).write(to: URL(fileURLWithPath: commands.store.activePath))
        let models = try handle(ControlRequest(command: .models))
        XCTAssertEqual(models.models?.filter(\.active), [], "an active file naming nothing stored marks nothing active")
        XCTAssertEqual(try handle(ControlRequest(command: .status)).status?.model.id, older.id, "the model in use is what status says")
    }

    /// The `metrics` reply's lines, over the wire, for an active model carrying `metadata`.
    func metricsLines(activeMetadata metadata: [String: String]) throws -> (lines: Set<String>, modelID: String) {
        let commands = try commands(activeMetadata: metadata)
        let request = try ControlCoding.decode(ControlRequest.self, from: Array(#"{"command":"metrics"}"#.utf8))
        XCTAssertTrue(request.command.isAnsweredAtOnce, "metrics reads memory only: the socket thread answers it")
        let text = try XCTUnwrap(try sent(commands.handle(request, from: peer)).metrics)
        return (Set(text.split(separator: "\n").map(String.init)), commands.models.current.id)
    }

    /// `metrics` is the exposition of the pieces as they are: the active model as info,
    /// retraining idle, every failure reason at 0.
    func testMetricsDescribeTheActiveModelAndStartEverySeriesAtZero() throws {
        let (lines, id) = try metricsLines(activeMetadata: ["test_accuracy": "0.9875"])
        XCTAssertTrue(lines.contains("mnistd_model_info{id=\"\(id)\",kind=\"mlp-seed\",precision=\"float32\"} 1"), "\(lines)")
        XCTAssertTrue(lines.contains("mnistd_model_accuracy_ratio 0.9875"))
        XCTAssertTrue(lines.contains("mnistd_retraining_phase{phase=\"idle\"} 1"))
        for reason in FailureClass.allCases { XCTAssertTrue(lines.contains("mnistd_files_failed_total{reason=\"\(reason.label)\"} 0"), reason.label) }
        XCTAssertTrue(lines.contains("mnistd_up 1"))
    }

    /// A model whose metadata does not give its accuracy has none in the metrics, not a made-up 0.
    func testAnUnknownAccuracyIsLeftOut() throws {
        XCTAssertFalse(try metricsLines(activeMetadata: [:]).lines.contains { $0.hasPrefix("mnistd_model_accuracy_ratio") })
    }

    /// Each refusal's kind becomes the reason the metrics count; anything else is the model's.
    func testAFailureIsClassifiedByItsFormatErrorKind() {
        for kind in FormatError.Kind.allCases {
            XCTAssertEqual(FailureClass(FormatError(file: "f", reason: "r", kind: kind)), .refused(kind))
        }
        XCTAssertEqual(FailureClass(PredictionError.nonFinite), .unclassifiable)
    }

    func testUnknownCommandsAndBadRetrainRequestsAreRefusedWithTheirReason() throws {
        let commands = try commands(activeMetadata: [:])
        func error(_ request: ControlRequest) throws -> String? { try sent(commands.handle(request, from: peer)).error }
        XCTAssertThrowsError(try ControlCoding.decode(ControlRequest.self, from: Array(#"{"command":"frobnicate"}"#.utf8))) {
            XCTAssertEqual("\($0)", "unknown command \"frobnicate\" (known: status, retrain, models, rollback, reload, classify, metrics)")
        }
        let full = ControlRequest(command: .retrain, dataset: "d", model: "cnn", epochs: 2, force: true, id: "i", files: ["f"], seed: 9)
        XCTAssertEqual(try ControlCoding.decode(ControlRequest.self, from: Array(ControlCoding.encode(full).dropLast())), full,
                       "every field goes over the wire and back")
        XCTAssertEqual(try error(ControlRequest(command: .retrain, dataset: "digits", model: "resnet")),
                       "unknown model \"resnet\" (known: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        for epochs in [0, -1, 1001, Int.max] {
            XCTAssertEqual(try error(ControlRequest(command: .retrain, dataset: "digits", epochs: epochs)),
                           "epochs must be between 1 and 1000, got \(epochs)")
        }
        XCTAssertTrue(try error(ControlRequest(command: .retrain, dataset: "absent"))?.hasPrefix("no dataset \"absent\"") == true)
        XCTAssertEqual(commands.retrainer.progress, nil, "nothing was started")
        XCTAssertTrue(try sent(commands.handle(ControlRequest(command: .reload), from: peer)).ok, "reload answers what the daemon's reload says")
    }
}

enum PredictionError: Error { case nonFinite }

/// A network whose weights are finite but so large that its outputs overflow.
func overflowingNetwork() -> Network {
    let seed = Network(kind: .mlpSeed, seed: 1)
    return try! Network(kind: .mlpSeed, architecture: seed.architecture, parameters: [Float](repeating: 3e38, count: seed.parameters.count))
}

final class NonFiniteModelTests: XCTestCase {
    func testAModelWhoseProbabilitiesAreNotFiniteIsRefusedAtLoadAndNotStored() throws {
        let weights = WeightsFile(network: overflowingNetwork())
        XCTAssertThrowsError(try LoadedModel(decoding: weights.encoded(), path: "huge.weights")) { error in
            XCTAssertTrue("\(error)".hasPrefix("huge.weights: the model's probabilities are not finite numbers"), "\(error)")
        }
        let directory = "/tmp/mnistd-nonfinite-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try ModelStore(directory: directory)
        XCTAssertThrowsError(try store.add(weights))
        XCTAssertEqual(store.models(), [], "a model that cannot classify is not kept")
    }

    func testNonFiniteProbabilitiesAreNeverAnAnswer() throws {
        let model = try LoadedModel(weights: WeightsFile(network: Network(kind: .mlpSeed, seed: 1)), path: "m.weights")
        let input = DecodedInput(kind: .idx, pixels: [UInt8](repeating: 255, count: 2 * 784), hasInk: [true, true], byteCount: 2 * 784 + 16)
        var rows = [Float](repeating: 0.1, count: 20)
        XCTAssertEqual(try Prediction.judge(rows[...], of: input, named: "b.idx", model: model, minimumConfidence: nil).count, 2)
        for bad in [Float.nan, .infinity, -.infinity] {
            rows[13] = bad
            XCTAssertThrowsError(try Prediction.judge(rows[...], of: input, named: "b.idx", model: model, minimumConfidence: nil)) {
                XCTAssertTrue("\($0)".hasPrefix("b.idx: model \(model.id) gave image 1 probabilities that are not finite numbers"), "\($0)")
            }
        }
    }

    func testTheRetrainingGateRefusesAModelWhoseProbabilitiesAreNotFinite() {
        let images = LabeledImages(shape: FeatureShape(channels: 1, height: 28, width: 28),
                                   bytes: (0..<4 * 784).map { UInt8(truncatingIfNeeded: $0 * 7) }, labels: [UInt8]([1, 2, 3, 4]))
        let refusal = Retrainer.gate(Evaluation(network: overflowingNetwork(), data: images), currentAccuracy: 0,
                                     minimumAccuracy: 0, force: true)
        XCTAssertTrue(refusal?.hasPrefix("its probabilities are not finite numbers (NaN or infinity) on 4 validation image(s)") == true,
                      refusal ?? "passed")
        let sound = Evaluation(network: Network(kind: .mlpSeed, seed: 1), data: images)
        XCTAssertNil(Retrainer.gate(sound, currentAccuracy: 0, minimumAccuracy: 0, force: false))
        XCTAssertEqual(Retrainer.gate(sound, currentAccuracy: 1, minimumAccuracy: 0, force: false),
                       "not better, kept the current model (retrain with --force to swap anyway)")
        XCTAssertTrue(Retrainer.gate(sound, currentAccuracy: 0, minimumAccuracy: 1.01, force: true)?.hasPrefix("below the floor") == true)
    }
}
