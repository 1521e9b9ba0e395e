import Classification
import ControlProtocol
import Daemon
import Formats
import Foundation
import SystemResources
import TestSupport
import XCTest

/// The control socket end to end: the real mnistctl against the real mnistd.
final class ControlTests: XCTestCase {
    var daemon: DaemonHarness!

    override func setUpWithError() throws { daemon = try DaemonHarness() }
    override func tearDown() { daemon = nil }

    func reply(_ result: CommandResult, file: StaticString = #filePath, line: UInt = #line) throws -> ControlReply {
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return try ControlCoding.decode(ControlReply.self, from: Array(result.stdout.utf8.prefix { $0 != 10 }))
    }

    /// `--socket` and `--json` work on either side of the command, as `git -C` does.
    func testSharedOptionsGoBeforeOrAfterTheCommand() throws {
        try daemon.start()
        let mnistctl = builtBinary("mnistctl")
        let before = try runCommand(mnistctl, ["--socket", daemon.socket, "status"])
        XCTAssertEqual(before.status, 0, before.stderr)
        XCTAssertTrue(before.stdout.hasPrefix("mnistd \(mnistdVersion), up "), before.stdout)
        for arguments in [["--json", "--socket=\(daemon.socket)", "models"], ["--socket", daemon.socket, "--json", "models"],
                          ["models", "--json", "--socket", daemon.socket]] {
            XCTAssertEqual(try reply(runCommand(mnistctl, arguments)).models?.count, 1, "\(arguments)")
        }
        let offline = try runCommand(mnistctl, ["--socket", daemon.socket, "samples", "--data", daemon.root, "--out", daemon.root])
        XCTAssertEqual(offline.status, 64, "a file command takes no --socket")
        XCTAssertTrue(offline.stderr.contains("Unknown option '--socket'"), offline.stderr)
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testEveryCommandAnswersThroughMnistctl() throws {
        try daemon.start()
        var info = stat()
        XCTAssertEqual(stat(daemon.socket, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o660, "the socket is mode 0660")

        try runCommand("/bin/cp", [repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", daemon.inbox + "/seven.png"])
        XCTAssertTrue(daemon.waitForOutcomes(["seven.png"]))
        let status = try XCTUnwrap(try reply(daemon.mnistctl("status", ["--json"])).status)
        XCTAssertEqual(status.filesDone, 1)
        XCTAssertEqual(status.imagesClassified, 1)
        XCTAssertEqual(status.queueDepth, 0)
        XCTAssertTrue(status.model.id.hasPrefix("cnn-") && status.model.active)
        let shipped = try LoadedModel.load(path: repositoryRoot + "/Sources/NeuralNet/DefaultWeights/mnist-cnn.weights")
        XCTAssertEqual(status.model.id, shipped.id)
        XCTAssertEqual(status.model.accuracy, shipped.metadata["test_accuracy"].flatMap(Double.init))
        XCTAssertEqual(status.latencyMilliseconds?.samples, 1)
        let human = try daemon.mnistctl("status")
        XCTAssertTrue(human.stdout.contains("files: 1 classified, 0 failed; 1 images"), human.stdout)

        let models = try XCTUnwrap(try reply(daemon.mnistctl("models", ["--json"])).models)
        XCTAssertEqual(models.map(\.id), [status.model.id])

        let classify = try daemon.mnistctl("classify", ["--json", repositoryRoot + "/samples/digit-2-pencil-on-paper-112px.png",
                                                       repositoryRoot + "/samples/first-100-test-digits-idx3-ubyte.gz", "/nonexistent.png"])
        let predictions = try XCTUnwrap(try reply(classify).predictions)
        XCTAssertEqual(predictions[0].labels, [2])
        XCTAssertEqual(predictions[1].labels?.count, 100)
        XCTAssertEqual(Array(predictions[1].labels!.prefix(5)), [7, 2, 1, 0, 4])
        XCTAssertTrue(predictions[2].error?.contains("/nonexistent.png: cannot open") == true)

        XCTAssertEqual(try reply(daemon.mnistctl("reload", ["--json"])).message, "active model: \(status.model.id)")
        let rollback = try daemon.mnistctl("rollback")
        XCTAssertEqual(rollback.status, 1)
        XCTAssertTrue(rollback.stderr.contains("no earlier model to roll back to"), rollback.stderr)
        let retrain = try daemon.mnistctl("retrain", ["--dataset", "../etc"])
        XCTAssertEqual(retrain.status, 1)
        XCTAssertTrue(retrain.stderr.contains("\"../etc\" is not a dataset name"), retrain.stderr)
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// Sends raw bytes on a fresh connection and returns the reply line (nil if none).
    func exchange(_ bytes: [UInt8], timeout: Double = 10) throws -> String? {
        let fd = try connect()
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !received.contains(10) {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(timeout * 1000)) == 1 else { return nil }
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { break }
            received += chunk[0..<n]
        }
        return String(decoding: received.prefix { $0 != 10 }, as: UTF8.self)
    }

    func connect() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in daemon.socket.utf8.enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return fd
    }

    func testGarbageOversizedSilentAndCrowdedClientsNeverStopClassification() throws {
        try daemon.start()
        // Twenty clients that connect and say nothing, held open throughout.
        let silent = try (0..<20).map { _ in try connect() }
        defer { silent.forEach { close($0) } }
        XCTAssertTrue(try exchange(Array("this is not json\n".utf8))?.contains("malformed request") == true)
        XCTAssertTrue(try exchange(Array("{\"command\":\"fly\"}\n".utf8))?.contains("unknown command \\\"fly\\\"") == true)
        XCTAssertTrue(try exchange([UInt8](repeating: 65, count: 200_000))?.contains("request line over 65536 bytes") == true)
        XCTAssertTrue(try exchange(Array("[1,2,3]\n".utf8))?.contains("\"ok\":false") == true)

        // A hundred clients at once while files arrive.
        let names = (0..<30).map { "crowd-\($0).png" }
        for name in names {
            try FileManager.default.copyItem(atPath: repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", toPath: daemon.staging + "/" + name)
        }
        let replies = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 100)
        replies.initialize(repeating: false)
        defer { replies.deallocate() }
        let group = DispatchGroup()
        nonisolated(unsafe) let shared = replies
        let socketPath = daemon.socket
        for index in 0..<100 {
            DispatchQueue.global().async(group: group) {
                let reply = try? ControlClient(socketPath: socketPath).send(ControlRequest(command: .status), timeout: 30)
                shared[index] = reply?.ok == true
            }
        }
        for name in names { rename(daemon.staging + "/" + name, daemon.inbox + "/" + name) }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        XCTAssertTrue(daemon.waitForOutcomes(names), "classification stalled")
        XCTAssertEqual(replies.filter { $0 }.count, 100, "every client got its status")
        XCTAssertEqual(try reply(daemon.mnistctl("status", ["--json"])).status?.filesDone, names.count)
        XCTAssertEqual(daemon.stop(), 0)
    }

    func testPeersOutsideTheAllowedGroupAreRefused() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to run mnistctl as another user") }
        daemon.extraArguments = ["--socket-group", "daemon"]
        try daemon.start()
        // Let anyone reach the socket so that the daemon's own check is what refuses.
        XCTAssertEqual(chmod(daemon.socket, 0o666), 0)
        for directory in [daemon.root, daemon.state] { chmod(directory, 0o755) }
        func asNobody(_ groupOptions: [String]) throws -> CommandResult {
            try runCommand("/usr/bin/setpriv", ["--reuid=nobody"] + groupOptions + [builtBinary("mnistctl"), "status", "--socket", daemon.socket])
        }
        let refused = try asNobody(["--regid=nogroup", "--clear-groups"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("permission denied: uid 65534 may not control mnistd"), refused.stderr + refused.stdout)
        XCTAssertTrue(daemon.log.contains("refused a control connection from uid 65534"), daemon.log)
        XCTAssertEqual(try asNobody(["--regid=daemon", "--clear-groups"]).status, 0, "a member by primary group is served")
        XCTAssertEqual(try asNobody(["--regid=nogroup", "--groups=daemon"]).status, 0, "a member by supplementary group is served")
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// A reload with another socket group serves that group from then on, and gives it the
    /// socket file (the daemon made it: no socket activation).
    func testAReloadedSocketGroupIsServedAtOnce() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to run mnistctl as another user") }
        let config = daemon.root + "/mnistd.conf"
        try "socket-group = daemon\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.extraArguments = ["--config", config]
        try daemon.start()
        for directory in [daemon.root, daemon.state] { chmod(directory, 0o755) }
        func asUsers() throws -> CommandResult {
            try runCommand("/usr/bin/setpriv", ["--reuid=nobody", "--regid=users", "--clear-groups", builtBinary("mnistctl"), "status", "--socket", daemon.socket])
        }
        XCTAssertEqual(try asUsers().status, 1, "group users is not served yet")
        try "socket-group = users\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(daemon.process!.processIdentifier, SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 10) { self.daemon.log.contains("reloaded socket-group: ") }, daemon.log)
        var info = stat()
        XCTAssertEqual(stat(daemon.socket, &info), 0)
        XCTAssertEqual(info.st_gid, getgrnam("users")!.pointee.gr_gid, "the socket file's group")
        let served = try asUsers()
        XCTAssertEqual(served.status, 0, served.stderr)
        XCTAssertEqual(daemon.stop(), 0)
    }
}
