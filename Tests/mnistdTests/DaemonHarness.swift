import Daemon
import Formats
import Foundation
import TestSupport
import XCTest

/// A real `mnistd` process on a temporary state directory, its stderr kept in a log file.
final class DaemonHarness {
    let root: String
    let state: String
    var inbox: String { state + "/inbox" }
    var outbox: String { state + "/outbox" }
    var failed: String { state + "/failed" }
    var processed: String { state + "/processed" }
    var logPath: String { root + "/mnistd.log" }
    let socket: String
    var datasets: String { state + "/datasets" }

    /// Runs `mnistctl <command> --socket <this daemon's socket> arguments…`.
    @discardableResult
    func mnistctl(_ command: String, _ arguments: [String] = []) throws -> CommandResult {
        try runCommand(builtBinary("mnistctl"), [command, "--socket", socket] + arguments)
    }
    /// The running daemon's metrics, as `mnistctl metrics` prints them.
    func metrics(file: StaticString = #filePath, line: UInt = #line) throws -> Scrape {
        let printed = try mnistctl("metrics")
        XCTAssertEqual(printed.status, 0, printed.stderr, file: file, line: line)
        return Scrape(printed.stdout)
    }

    private(set) var process: Process?
    var extraArguments: [String] = []

    /// A state directory elsewhere (on a filesystem under test) gets its socket beside the
    /// log instead: not every filesystem can hold a socket.
    init(stateDirectory: String? = nil) throws {
        root = "/tmp/mnistd-it-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        state = stateDirectory ?? root + "/var"
        socket = stateDirectory == nil ? state + "/mnistd.sock" : root + "/mnistd.sock"
        try FileManager.default.createDirectory(atPath: root + "/staging", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: root)
    }

    var staging: String { root + "/staging" }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The end of the log without the line of each classified input: thousands of them hide the
    /// starts, stops and errors that tell why a test failed.
    var notableLog: String {
        String(log.split(separator: "\n").filter { !$0.contains(" info classified ") }.joined(separator: "\n").suffix(4000))
    }

    /// What the daemon told its (stand-in) service manager since the last start.
    private(set) var notify: NotifyListener?

    /// Starts the daemon and waits until it tells the (stand-in) service manager it is ready.
    func start(logTarget: String = "stderr", environment: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws {
        let notify = try NotifyListener(path: "\(root)/notify-\(UInt32.random(in: 0...UInt32.max)).sock")
        self.notify = notify
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtBinary("mnistd"))
        let socketArguments = socket.hasPrefix(state + "/") ? [] : ["--socket", socket]
        process.arguments = ["--state-dir", state, "--log-target", logTarget] + socketArguments + extraArguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["NOTIFY_SOCKET": notify.path]) { $1 }) { $1 }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        self.process = process
        let ready = notify.waitFor("READY=1", timeout: 30)
        XCTAssertTrue(ready != nil && process.isRunning, "mnistd did not become ready:\n\(log)", file: file, line: line)
    }

    /// SIGTERM, and the exit status.
    @discardableResult
    func stop() -> Int32 {
        guard let process else { return -1 }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    func killHard() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    var isRunning: Bool { process?.isRunning ?? false }

    func entries(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// The names of the inputs claimed and not yet finished, whichever instance holds them.
    func claimedInputs() -> Set<String> { mnistdTests.claimedInputs(inbox: inbox) }

    /// The CSV for an input, parsed (nil while it does not exist).
    func csv(for name: String) -> [[String]]? {
        guard let text = try? String(contentsOfFile: "\(outbox)/\(name).csv", encoding: .utf8) else { return nil }
        return parseCSV(text)
    }

    /// Waits until every name has its CSV or its `.error` and has left the inbox (the spool
    /// publishes a report before it moves the input); false on timeout.
    func waitForOutcomes(_ names: [String], timeout: Double = 60) -> Bool {
        waitUntil(timeout: timeout) {
            let done = Set(self.entries(self.outbox)).union(self.entries(self.failed))
            let inInbox = Set(self.entries(self.inbox)).union(self.claimedInputs())
            return names.allSatisfy { (done.contains("\($0).csv") || done.contains("\($0).error")) && !inInbox.contains($0) }
        }
    }
}

/// The names of the inputs claimed in `inbox` and not yet finished, whichever instance holds
/// them (claim directories hold batches, leases and the directories of instances taken over).
func claimedInputs(inbox: String) -> Set<String> {
    var names: Set<String> = []
    var directories = ["\(inbox)/.claimed"]
    while let directory = directories.popLast() {
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []) {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: "\(directory)/\(name)", isDirectory: &isDirectory)
            if isDirectory.boolValue { directories.append("\(directory)/\(name)") } else if name != "lease" { names.insert(name) }
        }
    }
    return names
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// The MNIST test split, or a skip saying where it was looked for.
func mnistTestSet() throws -> LabeledByteImages {
    let directory = repositoryRoot + "/../shared/datasets/mnist"
    guard FileManager.default.fileExists(atPath: directory + "/t10k-labels-idx1-ubyte.gz") else {
        throw XCTSkip("MNIST not found at \(directory)")
    }
    return try readMNIST(directory: directory, split: .test)
}
