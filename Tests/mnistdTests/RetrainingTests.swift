import ControlProtocol
import Daemon
import Formats
import Foundation
import TestSupport
import XCTest

/// Retraining through the daemon: a real second dataset changes what it recognises, a bad
/// dataset changes nothing, and the active model survives a restart.
final class RetrainingTests: XCTestCase {
    var daemon: DaemonHarness!

    override func setUpWithError() throws { daemon = try DaemonHarness() }
    override func tearDown() { daemon = nil }

    func status() throws -> DaemonStatus {
        let result = try daemon.mnistctl("status", ["--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap(try ControlCoding.decode(ControlReply.self, from: Array(result.stdout.utf8.prefix { $0 != 10 })).status)
    }

    /// Drops an IDX batch into the inbox and returns the share of rows labelled as `labels` says.
    func accuracyThroughInbox(_ name: String, images: [UInt8], labels: [UInt8]) throws -> Double {
        try writeIDX(IDXArray(dimensions: [labels.count, 28, 28], bytes: images), to: daemon.staging + "/" + name, compressed: true)
        XCTAssertEqual(rename(daemon.staging + "/" + name, daemon.inbox + "/" + name), 0)
        XCTAssertTrue(daemon.waitForOutcomes([name], timeout: 60))
        let rows = try XCTUnwrap(daemon.csv(for: name)).dropFirst()
        XCTAssertEqual(rows.count, labels.count)
        return Double(zip(rows, labels).filter { $0.0[2] == String($0.1) }.count) / Double(labels.count)
    }

    func testRetrainOnFashionMNISTThenRollBackToDigits() throws {
        let fashion = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: fashion + "/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
        }
        let fashionTest = try readMNIST(directory: fashion, split: .test)
        let batchImages = Array(fashionTest.pixels.prefix(1000 * 784)), batchLabels = Array(fashionTest.labels.prefix(1000))
        try daemon.start()
        let digitsModel = try status().model.id
        let before = try accuracyThroughInbox("fashion-before.idx3.gz", images: batchImages, labels: batchLabels)
        XCTAssertLessThan(before, 0.3, "the digit model reads clothes near chance")

        try runCommand("/bin/cp", ["-r", fashion, daemon.datasets + "/fashion"])
        let started = try daemon.mnistctl("retrain", ["--dataset", "fashion", "--epochs", "2"])
        XCTAssertEqual(started.status, 0, started.stderr)
        XCTAssertEqual(started.stdout, "retraining cnn on fashion for 2 epochs\n")
        let second = try daemon.mnistctl("retrain", ["--dataset", "fashion"])
        XCTAssertEqual(second.status, 1)
        XCTAssertTrue(second.stderr.contains("a retraining is already running"), second.stderr)
        // Classification goes on meanwhile, with the current model.
        try runCommand("/bin/cp", [repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", daemon.inbox + "/during.png"])
        XCTAssertTrue(daemon.waitForOutcomes(["during.png"], timeout: 30))
        XCTAssertEqual(daemon.csv(for: "during.png")?.last?.last, digitsModel)
        XCTAssertTrue(waitUntil(timeout: 300) { (try? self.status().retraining?.isRunning) == false })
        let retrained = try status()
        XCTAssertTrue(retrained.retraining?.message?.contains("swapped in cnn-") == true, "\(String(describing: retrained.retraining))")
        XCTAssertNotEqual(retrained.model.id, digitsModel)
        XCTAssertEqual(retrained.model.dataset, "fashion")
        XCTAssertEqual(retrained.retraining?.phase, .finished)
        let metrics = try daemon.metrics()
        XCTAssertEqual(metrics["mnistd_retrainings_total{result=\"finished\"}"], 1)
        XCTAssertEqual(metrics["mnistd_retraining_phase{phase=\"finished\"}"], 1)
        XCTAssertEqual(metrics["mnistd_retraining_phase{phase=\"training\"}"], 0)
        XCTAssertEqual(metrics["mnistd_retraining_epoch"], 2)
        XCTAssertEqual(metrics["mnistd_retraining_epochs"], 2)
        XCTAssertEqual(metrics["mnistd_retraining_progress_ratio"], 1)
        XCTAssertEqual(metrics["mnistd_model_info{id=\"\(retrained.model.id)\",kind=\"cnn\",precision=\"int8\"}"], 1, "the swapped-in model")
        let after = try accuracyThroughInbox("fashion-after.idx3.gz", images: batchImages, labels: batchLabels)
        XCTAssertGreaterThanOrEqual(after, 0.85, "the retrained model reads clothes")
        let row = try XCTUnwrap(daemon.csv(for: "fashion-after.idx3.gz")?.last)
        XCTAssertEqual(row.last, retrained.model.id, "the CSV names the model that classified it")

        // The active model survives a restart.
        XCTAssertEqual(daemon.stop(), 0)
        try daemon.start()
        XCTAssertEqual(try status().model.id, retrained.model.id)

        let rollback = try daemon.mnistctl("rollback")
        XCTAssertEqual(rollback.status, 0, rollback.stderr)
        XCTAssertEqual(try status().model.id, digitsModel)
        let digits = try mnistTestSet()
        let digitsBack = try accuracyThroughInbox("digits.idx3.gz", images: Array(digits.pixels.prefix(1000 * 784)), labels: Array(digits.labels.prefix(1000)))
        XCTAssertGreaterThanOrEqual(digitsBack, 0.99)
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testPNGFolderDatasetTrainsWithAHeldOutSplit() throws {
        let digits = try mnistTestSet()
        daemon.extraArguments = ["--min-accuracy", "0"]
        try daemon.start()
        let directory = daemon.datasets + "/scans"
        for index in 0..<300 {
            let label = Int(digits.labels[index])
            let folder = "\(directory)/\(label)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let style = DigitStyle(ink: (10, 10, 10), paper: (250, 250, 250), width: 56, height: 56, channels: 1)
            try Data(encodePNG(style.render(Array(digits.pixels[index * 784..<(index + 1) * 784]))))
                .write(to: URL(fileURLWithPath: "\(folder)/scan-\(index).png"))
        }
        let result = try daemon.mnistctl("retrain", ["--dataset", "scans", "--model", "mlp-seed", "--epochs", "1", "--force", "--wait"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("on every tenth image, held out of scans"), result.stdout)
        let model = try status().model
        XCTAssertTrue(model.id.hasPrefix("mlp-seed-"), model.id)
        XCTAssertEqual(model.dataset, "scans")
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testRetrainingKilledMidwayLeavesTheActiveModel() throws {
        let mnist = repositoryRoot + "/../shared/datasets/mnist"
        _ = try mnistTestSet()
        try daemon.start()
        let active = try status().model.id
        try runCommand("/bin/cp", ["-r", mnist, daemon.datasets + "/digits"])
        XCTAssertEqual(try daemon.mnistctl("retrain", ["--dataset", "digits", "--epochs", "1"]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 60) { ((try? self.status().retraining?.loss) ?? nil) != nil }, "training did not start")
        daemon.killHard()
        try daemon.start()
        let after = try status()
        XCTAssertEqual(after.model.id, active)
        XCTAssertNil(after.retraining)
        let stored = daemon.entries(daemon.state + "/models")
        XCTAssertEqual(stored, ["active", "\(active).weights"], "no partial model kept")
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// A retraining is background work: every thread that computes for it runs at nice 10, the
    /// kernel threads that split its products included, so that classification (nice 0) keeps
    /// the cores on a busy machine.
    func testEveryThreadTheRetrainingKeepsBusyRunsAtNiceTen() throws {
        let mnist = repositoryRoot + "/../shared/datasets/mnist"
        _ = try mnistTestSet()
        try daemon.start()
        let pid = try XCTUnwrap(daemon.process?.processIdentifier)
        try runCommand("/bin/cp", ["-r", mnist, daemon.datasets + "/digits"])
        XCTAssertEqual(try daemon.mnistctl("retrain", ["--dataset", "digits", "--epochs", "1"]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 60) { ((try? self.status().retraining?.loss) ?? nil) != nil }, "training did not start")
        let before = threadFigures(pid)
        usleep(1_500_000)
        let after = threadFigures(pid)
        let busy = after.filter { thread, figures in figures.ticks - (before[thread]?.ticks ?? 0) >= 15 }
        XCTAssertFalse(busy.isEmpty, "no thread was busy training")
        for (thread, figures) in busy {
            XCTAssertEqual(figures.nice, 10, "thread \(thread) (\(figures.name)) spent \(figures.ticks - (before[thread]?.ticks ?? 0)) ticks of 150 at nice \(figures.nice) while the daemon only retrained")
        }
        daemon.killHard()
    }

    /// Per thread of `pid`: its name, CPU clock ticks so far (user + system) and nice value.
    func threadFigures(_ pid: pid_t) -> [String: (name: String, ticks: Int, nice: Int)] {
        var figures: [String: (name: String, ticks: Int, nice: Int)] = [:]
        for thread in daemon.entries("/proc/\(pid)/task") {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            // Fields after the name: state is field 3; utime 14, stime 15, nice 19.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 17, let user = Int(fields[11]), let system = Int(fields[12]), let nice = Int(fields[16]) else { continue }
            figures[thread] = (String(stat[stat.index(after: open)..<close]), user + system, nice)
        }
        return figures
    }

    func testBadDatasetsAreRefusedAndTheActiveModelStays() throws {
        try daemon.start()
        let active = try status().model.id
        let cases: [(String, [UInt8], [UInt8], String)] = [
            ("mismatched", [UInt8](repeating: 0, count: 5 * 784), [1, 2, 3, 4], "the number of labels is not the number of images"),
            ("outofrange", [UInt8](repeating: 0, count: 4 * 784), [1, 2, 12, 4], "label 12 is outside 0...9"),
        ]
        for (name, images, labels, reason) in cases {
            let directory = daemon.datasets + "/" + name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try writeIDX(IDXArray(dimensions: [images.count / 784, 28, 28], bytes: images), to: directory + "/train-images-idx3-ubyte", compressed: false)
            try writeIDX(IDXArray(dimensions: [labels.count], bytes: labels), to: directory + "/train-labels-idx1-ubyte", compressed: false)
            let result = try daemon.mnistctl("retrain", ["--dataset", name, "--epochs", "1", "--wait"])
            XCTAssertEqual(result.status, 1, result.stdout)
            XCTAssertTrue((result.stdout + result.stderr).contains(reason), result.stdout + result.stderr)
            XCTAssertEqual(try status().retraining?.phase, .refused)
            XCTAssertEqual(try status().model.id, active)
        }
        let metrics = try daemon.metrics()
        XCTAssertEqual(metrics["mnistd_retrainings_total{result=\"refused\"}"], Double(cases.count))
        XCTAssertEqual(metrics["mnistd_retrainings_total{result=\"finished\"}"], 0)
        XCTAssertEqual(metrics["mnistd_retraining_phase{phase=\"refused\"}"], 1)
        let outside = try daemon.mnistctl("retrain", ["--dataset", "/etc"])
        XCTAssertEqual(outside.status, 1)
        XCTAssertTrue(outside.stderr.contains("/etc is not a dataset directory inside"), outside.stderr)
        let many = try daemon.mnistctl("retrain")
        XCTAssertTrue(many.stderr.contains("several datasets in"), many.stderr)
        XCTAssertEqual(try status().model.id, active)
        XCTAssertEqual(daemon.stop(), 0)
    }
}
