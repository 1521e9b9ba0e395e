import ControlProtocol
import Daemon
import Formats
import Foundation
import SystemResources
import TestSupport
import XCTest
@testable import mnistd

/// mnistd as systemd runs it: the units, the notify protocol, the watchdog, socket activation.
final class ServiceTests: XCTestCase {
    var daemon: DaemonHarness!

    override func setUpWithError() throws { daemon = try DaemonHarness() }
    override func tearDown() { daemon = nil }

    /// The units, with ExecStart pointing at the binary just built (verify checks it exists).
    func unitsForThisBuild() throws -> (service: String, socket: String) {
        let directory = daemon.root + "/units"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let service = try String(contentsOfFile: repositoryRoot + "/systemd/mnistd.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/mnistd", with: builtBinary("mnistd"))
        try service.write(toFile: directory + "/mnistd.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: repositoryRoot + "/systemd/mnistd.socket", toPath: directory + "/mnistd.socket")
        return (directory + "/mnistd.service", directory + "/mnistd.socket")
    }

    func systemdAnalyze() throws -> String {
        let path = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("\(path) not installed (apt-get install systemd)") }
        return path
    }

    /// One version, written once: `--version` of both binaries, the package's (the Makefile's)
    /// and the daemon's status (checked with socket activation, below) agree.
    func testBothBinariesAndThePackageGiveOneVersion() throws {
        for binary in ["mnistd", "mnistctl"] {
            let printed = try runCommand(builtBinary(binary), ["--version"])
            XCTAssertEqual(printed.status, 0, printed.stderr)
            XCTAssertEqual(printed.stdout, mnistdVersion + "\n", binary)
        }
        let make = try runCommand("/usr/bin/make", ["-s", "-C", repositoryRoot, "print-version"])
        XCTAssertEqual(make.stdout, mnistdVersion + "\n", make.stderr)
        // dpkg takes the package's version from the changelog's first line.
        let changelog = try String(contentsOfFile: repositoryRoot + "/debian/changelog", encoding: .utf8)
        XCTAssertTrue(changelog.hasPrefix("mnistd (\(mnistdVersion)) "), "debian/changelog: \(changelog.prefix(40))")
    }

    /// The manuals are written by hand: each must name every option and subcommand the
    /// binaries have (as `--experimental-dump-help` lists them), and render without a warning.
    func testTheManualsDescribeEveryOptionAndRenderCleanly() throws {
        for (binary, manual) in [("mnistd", "man/mnistd.8"), ("mnistctl", "man/mnistctl.1")] {
            let source = try String(contentsOfFile: repositoryRoot + "/" + manual, encoding: .utf8)
            let dump = try runCommand(builtBinary(binary), ["--experimental-dump-help"])
            let tree = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
            var missing: [String] = []
            func visit(_ command: [String: Any], isRoot: Bool) {
                let name = command["commandName"] as? String ?? ""
                if !isRoot && name != "help" && !source.contains(".B \(name)") && !source.contains(".BI \(name) ") {
                    missing.append("subcommand \(name)")
                }
                for argument in command["arguments"] as? [[String: Any]] ?? [] {
                    for long in (argument["names"] as? [[String: Any]] ?? []) where long["kind"] as? String == "long" {
                        let option = "\\-\\-" + (long["name"] as? String ?? "").replacingOccurrences(of: "-", with: "\\-")
                        if !source.contains(option) { missing.append("\(name) --\(long["name"] ?? "")") }
                    }
                }
                for subcommand in command["subcommands"] as? [[String: Any]] ?? [] { visit(subcommand, isRoot: false) }
            }
            visit(try XCTUnwrap(tree["command"] as? [String: Any]), isRoot: true)
            XCTAssertEqual(missing, [], "\(manual) does not describe these")
            let rendered = try runCommand("/usr/bin/man", ["--warnings", "-E", "UTF-8", "-l", repositoryRoot + "/" + manual],
                                          environment: ["MANWIDTH": "80", "MANPAGER": "cat"])
            XCTAssertEqual(rendered.status, 0, rendered.stderr)
            XCTAssertEqual(rendered.stderr, "", "\(manual): groff warns")
            XCTAssertTrue(rendered.stdout.contains("EXIT STATUS") && rendered.stdout.contains("SEE ALSO"), manual)
        }
    }

    func testUnitsVerify() throws {
        let analyze = try systemdAnalyze()
        let units = try unitsForThisBuild()
        let verify = try runCommand(analyze, ["verify", "--man=no", units.service, units.socket])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertEqual(verify.stderr, "", "systemd-analyze verify warns")
    }

    func testHardeningExposureIsAtMostTwo() throws {
        let analyze = try systemdAnalyze()
        let units = try unitsForThisBuild()
        let security = try runCommand(analyze, ["security", "--offline=yes", "--no-pager", units.service])
        let line = try XCTUnwrap(security.stdout.split(separator: "\n").first { $0.contains("Overall exposure level for mnistd.service:") },
                                 security.stdout + security.stderr)
        let score = try XCTUnwrap(Double(line.split(separator: ":")[1].split(separator: " ")[0]), String(line))
        XCTAssertLessThanOrEqual(score, 2.0, String(line))
    }

    func testNotifyProtocolAndWatchdogAsSystemdSeesIt() throws {
        // WATCHDOG_USEC as systemd sets it for WatchdogSec=0.4s: a ping every 0.2 s.
        try daemon.start(environment: ["WATCHDOG_USEC": "400000"])
        let notify = try XCTUnwrap(daemon.notify)
        XCTAssertNotNil(notify.waitFor("WATCHDOG=1", timeout: 5), "no WATCHDOG=1")

        // A classifier stuck longer than the interval on one input stops the pings.
        let test = try mnistTestSet()
        var pixels: [UInt8] = []
        for _ in 0..<4 { pixels += test.pixels }
        try writeIDX(IDXArray(dimensions: [4 * test.count, 28, 28], bytes: pixels), to: daemon.staging + "/big.idx3", compressed: false)
        XCTAssertEqual(rename(daemon.staging + "/big.idx3", daemon.inbox + "/big.idx3"), 0)
        XCTAssertTrue(waitUntil(timeout: 10) { self.daemon.log.contains("no watchdog ping") }, "pings went on while stuck:\n\(daemon.log)")
        XCTAssertTrue(daemon.waitForOutcomes(["big.idx3"], timeout: 120))
        XCTAssertNotNil(notify.waitFor("WATCHDOG=1", timeout: 5), "pings resume once the classifier is free")

        kill(daemon.process!.processIdentifier, SIGHUP)
        let reload = try XCTUnwrap(notify.waitFor("READY=1", timeout: 10))
        XCTAssertTrue(reload.contains { $0.contains("RELOADING=1") }, "\(reload)")
        kill(daemon.process!.processIdentifier, SIGTERM)
        XCTAssertNotNil(notify.waitFor("STOPPING=1", timeout: 10))
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// `systemctl status` shows the files done within a second or so of their CSVs, with or
    /// without a watchdog (it once followed the watchdog's pings: up to 30 s late, or never).
    func testTheStatusLineFollowsTheFilesDone() throws {
        try daemon.start()
        let notify = try XCTUnwrap(daemon.notify)
        /// The messages received until one says `text`, or nil after `timeout` seconds.
        func status(saying text: String, timeout: Double) -> String? {
            let deadline = Date().addingTimeInterval(timeout)
            while let message = notify.receive(timeout: deadline.timeIntervalSinceNow) {
                if message.hasPrefix("STATUS=model cnn-") && message.contains(text) { return message }
            }
            return nil
        }
        for (count, name) in ["a.png", "b.png", "c.png"].enumerated() {
            try FileManager.default.copyItem(atPath: repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", toPath: daemon.staging + "/" + name)
            XCTAssertEqual(rename(daemon.staging + "/" + name, daemon.inbox + "/" + name), 0)
            XCTAssertTrue(daemon.waitForOutcomes([name]))
            XCTAssertNotNil(status(saying: "; \(count + 1) files classified, 0 failed", timeout: 3), "no STATUS= after \(count + 1) files")
        }
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// A service manager that reads nothing (the kernel then keeps a couple of its messages
    /// and makes further senders wait) holds the daemon up a few seconds at most: status
    /// lines are dropped, and a stop still ends. Once, the status thread and the stop waited
    /// on it for ever.
    func testAManagerThatReadsNothingCannotHoldTheDaemon() throws {
        guard getuid() == 0 else { throw XCTSkip("shortening the datagram queue (net.unix.max_dgram_qlen) needs root") }
        let sysctl = "/proc/sys/net/unix/max_dgram_qlen"
        let original = try String(contentsOfFile: sysctl, encoding: .utf8)
        try "2\n".write(toFile: sysctl, atomically: false, encoding: .utf8)
        // The limit is the socket's from its creation on.
        let deaf = daemon.root + "/deaf.sock"
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(socket) }
        let bound = try UnixSocketAddress(path: deaf).bind(socket)
        try original.write(toFile: sysctl, atomically: false, encoding: .utf8)
        XCTAssertEqual(bound, 0)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtBinary("mnistd"))
        process.arguments = ["--state-dir", daemon.state, "--log-target", "stderr"]
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": deaf]) { $1 }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: daemon.logPath))
        process.standardError = log
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
        XCTAssertTrue(waitUntil(timeout: 30) { self.daemon.log.contains("mnistd started") }, daemon.log)
        // Each CSV changes the counters: a status line each second, none of them read.
        for index in 0..<5 {
            let name = "file-\(index).png"
            try FileManager.default.copyItem(atPath: repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", toPath: daemon.staging + "/" + name)
            XCTAssertEqual(rename(daemon.staging + "/" + name, daemon.inbox + "/" + name), 0)
            XCTAssertTrue(daemon.waitForOutcomes([name]), daemon.log)
            usleep(1_100_000)
        }
        let stopped = Date()
        process.terminate()
        XCTAssertTrue(waitUntil(timeout: 20) { !process.isRunning }, "the daemon did not stop: it waits on its service manager")
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 12)
        if !process.isRunning { XCTAssertEqual(process.terminationStatus, 0) }
    }

    func testSocketActivationTakesThePassedSocket() throws {
        let activate = "/usr/bin/systemd-socket-activate"
        guard FileManager.default.isExecutableFile(atPath: activate) else { throw XCTSkip("\(activate) not installed") }
        let socket = daemon.root + "/activated.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: activate)
        process.arguments = ["-l", socket, builtBinary("mnistd"), "--state-dir", daemon.state, "--log-target", "stderr"]
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: daemon.logPath))
        process.standardError = log
        process.standardOutput = log
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        XCTAssertTrue(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: socket) })
        // The first connection starts the daemon, which then answers on the socket it was
        // given. (Asked in-process: Foundation loses track of a second child while this one
        // runs.)
        let reply = try ControlClient(socketPath: socket).send(ControlRequest(command: .status), timeout: 60)
        XCTAssertTrue(reply.ok, "\(reply)\n\(daemon.log)")
        XCTAssertEqual(reply.status?.version, mnistdVersion)
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.state + "/mnistd.sock"), "bound its own socket too")
    }

    func testConfigurationFileSetsOptionsAndRefusesUnknownKeys() throws {
        let config = daemon.root + "/mnistd.conf"
        try "# test\noutbox = \(daemon.root)/results\ndelete-processed = true\nmin_confidence = 0.5\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.extraArguments = ["--config", config]
        try daemon.start()
        try runCommand("/bin/cp", [repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", daemon.inbox + "/seven.png"])
        let blank = try encodePNG(RasterImage(width: 50, height: 40, channels: 1, samples: [UInt8](repeating: 255, count: 2000)))
        try Data(blank).write(to: URL(fileURLWithPath: daemon.staging + "/blank.png"))
        try runCommand("/bin/mv", [daemon.staging + "/blank.png", daemon.inbox + "/blank.png"])
        let results = daemon.root + "/results"
        XCTAssertTrue(waitUntil(timeout: 30) {
            ["seven", "blank"].allSatisfy { FileManager.default.fileExists(atPath: "\(results)/\($0).png.csv") }
        }, daemon.log)
        XCTAssertEqual(daemon.stop(), 0)
        XCTAssertEqual(daemon.entries(daemon.processed), [], "delete-processed = true deletes")
        let seven = parseCSV(try String(contentsOfFile: results + "/seven.png.csv", encoding: .utf8))
        XCTAssertEqual(Array(seven[1][2...3]), ["7", "ok"])
        let empty = parseCSV(try String(contentsOfFile: results + "/blank.png.csv", encoding: .utf8))
        XCTAssertEqual(Array(empty[1][2...3]), ["", "empty"], "a blank page gets no guess")
        XCTAssertTrue(daemon.log.contains("classified blank.png: empty"), daemon.log)

        try "min-confidence = 1.5\n".write(toFile: config, atomically: true, encoding: .utf8)
        let outOfRange = try runCommand(builtBinary("mnistd"), ["--config", config, "--state-dir", daemon.state])
        XCTAssertEqual(outOfRange.status, 64)
        XCTAssertTrue(outOfRange.stderr.contains("--min-confidence must be between 0 and 1, got 1.5"), outOfRange.stderr)

        try "outbox = /tmp/x\ncolour = blue\n".write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try runCommand(builtBinary("mnistd"), ["--config", config, "--state-dir", daemon.state])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("\(config):2: unknown key \"colour\""), refused.stderr)
    }

    /// `--check-config` says every problem at once, each with the file:line that set it (or
    /// as the command line's, when that set it), with status 64; a good configuration, status 0.
    func testCheckConfigListsEveryProblemWithItsPlace() throws {
        let config = daemon.root + "/mnistd.conf"
        try """
        state-dir = \(daemon.state)
        colour = blue
        min-confidence = 1.5
        metrics-interval = 0
        state dir
        socket-group = no-such-group-here
        min-accuracy = 0.9

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let checked = try runCommand(builtBinary("mnistd"), ["--config", config, "--check-config", "--min-accuracy", "7"])
        XCTAssertEqual(checked.status, 64, checked.stdout)
        XCTAssertEqual(checked.stderr.split(separator: "\n").map { String($0.prefix(60)) }, [
            "\(config):2: unknown key \"colour\" (known: delete-processed, failed, inbox,",
            "\(config):5: expected \"key = value\", found \"state dir\"",
            "\(config):3: min-confidence must be between 0 and 1, got 1.5",
            "\(config):4: metrics-interval must be between 0.01 and 3600 seconds, got 0.0",
            "--min-accuracy must be between 0 and 1, got 7.0",
            "\(config):6: socket-group: no group named no-such-group-here",
        ].map { String($0.prefix(60)) })

        try "state-dir = \(daemon.state)\nweights = \(daemon.root)/missing.weights\n".write(toFile: config, atomically: true, encoding: .utf8)
        let missingWeights = try runCommand(builtBinary("mnistd"), ["--config", config, "--check-config"])
        XCTAssertEqual(missingWeights.status, 64)
        XCTAssertTrue(missingWeights.stderr.hasPrefix("\(config):2: weights: "), missingWeights.stderr)

        let shipped = try runCommand(builtBinary("mnistd"), ["--config", repositoryRoot + "/systemd/mnistd.conf", "--check-config",
                                                             "--socket-group", "root", "--state-dir", daemon.state])
        XCTAssertEqual(shipped.status, 0, shipped.stderr)
        XCTAssertEqual(shipped.stdout, "configuration OK\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.state), "a check makes nothing")
    }

    /// A reload (SIGHUP, as `systemctl reload` sends) reads the configuration file again:
    /// what can change live applies from the next input on, the rest is said, key by key, to
    /// wait for a restart, and a file with a mistake changes nothing.
    func testReloadAppliesTheConfigurationFileKeyByKey() throws {
        let config = daemon.root + "/mnistd.conf"
        try "max-file-bytes = 100000\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.extraArguments = ["--config", config]
        try daemon.start()
        func drop(_ name: String) throws {
            try FileManager.default.copyItem(atPath: repositoryRoot + "/samples/digit-7-mnist-28px-gray.png", toPath: daemon.staging + "/" + name)
            XCTAssertEqual(rename(daemon.staging + "/" + name, daemon.inbox + "/" + name), 0)
            XCTAssertTrue(daemon.waitForOutcomes([name]), daemon.log)
        }
        func reload(until line: String) {
            kill(daemon.process!.processIdentifier, SIGHUP)
            XCTAssertTrue(waitUntil(timeout: 10) { self.daemon.log.contains(line) }, daemon.log)
        }
        try drop("before.png")
        XCTAssertNotNil(daemon.csv(for: "before.png"))

        try "max-file-bytes = 100\nmin-confidence = 0.5\noutbox = \(daemon.root)/elsewhere\n".write(toFile: config, atomically: true, encoding: .utf8)
        reload(until: "reloaded the model")
        XCTAssertTrue(daemon.log.contains("reloaded max-file-bytes: 100000 → 100"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reloaded min-confidence: off → 0.5"), daemon.log)
        XCTAssertTrue(daemon.log.contains("outbox changed to \(daemon.root)/elsewhere (now \(daemon.outbox)): it takes effect at the next restart"), daemon.log)
        try drop("after.png")
        let refusal = try String(contentsOfFile: daemon.failed + "/after.png.error", encoding: .utf8)
        XCTAssertTrue(refusal.contains("raise --max-file-bytes"), refusal)

        try "max-file-bytes = 100000\ncolour = blue\n".write(toFile: config, atomically: true, encoding: .utf8)
        reload(until: "the configuration was not reloaded")
        XCTAssertTrue(daemon.log.contains("\(config):2: unknown key \"colour\""), daemon.log)
        try drop("kept.png")
        XCTAssertTrue(FileManager.default.fileExists(atPath: daemon.failed + "/kept.png.error"), "a bad file changed a setting")
        XCTAssertEqual(daemon.stop(), 0)
    }

    /// A configuration error exits with a status the unit does not restart on.
    func testAConfigurationErrorStopsTheUnitInsteadOfRestartingIt() throws {
        let config = daemon.root + "/bad.conf"
        try "colour = blue\n".write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try runCommand(builtBinary("mnistd"), ["--config", config, "--state-dir", daemon.state])
        XCTAssertNotEqual(refused.status, 0)
        let unit = try String(contentsOfFile: repositoryRoot + "/systemd/mnistd.service", encoding: .utf8)
        let settings = unit.split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertTrue(settings.contains("Restart=on-failure"), unit)
        let prevented = settings.filter { $0.hasPrefix("RestartPreventExitStatus=") }
            .flatMap { $0.dropFirst("RestartPreventExitStatus=".count).split(separator: " ").map(String.init) }
        XCTAssertTrue(prevented.contains(String(refused.status)), "exit \(refused.status) is restarted: \(prevented)")
    }

    /// The configuration file's keys are listed by hand (ArgumentParser does not list its
    /// options): every option must be one, and every key the shipped file shows must exist.
    func testEveryOptionIsAConfigurationKeyAndTheShippedFileUsesOnlyThose() throws {
        let fullHelp = MNISTD.helpMessage(columns: 10_000)
        let help = try XCTUnwrap(fullHelp.range(of: "OPTIONS:").map { fullHelp[$0.upperBound...] }, fullHelp)
        let options = Set(help.matches(of: /--([a-z][a-z-]*)/).map { String($0.output.1) }).subtracting(["help", "config", "version", "check-config"])
        let keys = MNISTD.configurationOptions.union(MNISTD.configurationFlags)
        XCTAssertEqual(options.subtracting(keys), [], "options a configuration file cannot set")
        XCTAssertEqual(keys.subtracting(options), [], "keys that are no option")
        let shipped = try String(contentsOfFile: repositoryRoot + "/systemd/mnistd.conf", encoding: .utf8)
        let shown = shipped.split(separator: "\n").compactMap { line in
            line.firstMatch(of: #/^#? ?([a-z][a-z-]*) = /#).map { String($0.output.1) }
        }
        XCTAssertGreaterThan(shown.count, 10)
        XCTAssertEqual(Set(shown).subtracting(keys), [], "the shipped mnistd.conf shows keys mnistd does not know")
    }
}
