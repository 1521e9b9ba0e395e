import Foundation
import TestSupport
import XCTest

/// A real systemd as PID 1: `systemd-nspawn --boot` over an overlay of this machine's root
/// whose upper layer is a tmpfs, so that whatever the test installs, enables or breaks
/// inside is gone with it. Commands run inside through nsenter. Needs root and
/// systemd-container; the services this machine enables are left out of the container.
final class SystemdContainer {
    static let nspawn = "/usr/bin/systemd-nspawn"
    let root: String
    var tree: String { root + "/tree" }
    private var layers: String { root + "/layers" }
    private var logPath: String { root + "/nspawn.log" }
    private var process: Process?
    /// The container's PID 1, as this machine numbers it.
    private(set) var leader: pid_t = 0
    private var mounts: [String] = []

    init() throws {
        guard getuid() == 0 else { throw XCTSkip("a container with systemd as PID 1 needs root") }
        guard FileManager.default.isExecutableFile(atPath: Self.nspawn) else {
            throw XCTSkip("systemd-nspawn not installed (apt-get install systemd-container)")
        }
        root = "/tmp/mnistd-nspawn-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for directory in [tree, layers] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try mount(["-t", "tmpfs", "tmpfs", layers])
        for directory in ["upper", "work"] { try FileManager.default.createDirectory(atPath: "\(layers)/\(directory)", withIntermediateDirectories: true) }
        try mount(["-t", "overlay", "overlay", "-o", "lowerdir=/,upperdir=\(layers)/upper,workdir=\(layers)/work", tree])
        // Only what the test starts runs inside: none of this machine's services and timers.
        for wants in ["multi-user", "timers", "default", "sysinit", "getty", "sockets"] {
            let directory = "\(tree)/etc/systemd/system/\(wants).target.wants"
            for unit in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                try FileManager.default.removeItem(atPath: "\(directory)/\(unit)")
            }
        }
        // This machine forbids packages to start services (a container image's policy-rc.d); a
        // host that boots does not.
        try? FileManager.default.removeItem(atPath: tree + "/usr/sbin/policy-rc.d")
        try boot()
    }

    deinit {
        shutDown()
        for mount in mounts.reversed() { _ = try? runCommand("/bin/umount", ["-l", mount]) }
        try? FileManager.default.removeItem(atPath: root)
    }

    private func mount(_ arguments: [String]) throws {
        let mounted = try runCommand("/bin/mount", arguments)
        guard mounted.status == 0 else { throw XCTSkip("cannot mount \(arguments.joined(separator: " ")): \(mounted.stderr)") }
        mounts.append(arguments.last!)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Boots (again: a reboot keeps the files, not /run) and waits until systemd is up.
    func boot() throws {
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.nspawn)
        process.arguments = ["--quiet", "-D", tree, "--boot", "--register=no", "--keep-unit", "--link-journal=no"]
        let logFile = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = logFile
        process.standardError = logFile
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        guard waitUntil(timeout: 30, { self.findLeader() }) else { throw ContainerError("no systemd started in the container:\n\(self.log)") }
        // systemd's bus is there a moment after its start.
        var state = try run(["systemctl", "is-system-running", "--wait"])
        let deadline = Date().addingTimeInterval(30)
        while state.stderr.contains("Failed to connect to bus") && Date() < deadline {
            usleep(100_000)
            state = try run(["systemctl", "is-system-running", "--wait"])
        }
        guard ["running", "degraded"].contains(state.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ContainerError("the container did not boot (\(state.stdout)\(state.stderr), status \(state.status)):\n\(try run(["systemctl", "--failed", "--no-pager"]).stdout)\n\(log)")
        }
    }

    private func findLeader() -> Bool {
        guard let process, process.isRunning,
              let children = try? runCommand("/usr/bin/pgrep", ["-P", String(process.processIdentifier)]),
              let child = children.stdout.split(separator: "\n").first.flatMap({ pid_t($0) }),
              // Before its exec the child is a copy of systemd-nspawn, in none of the container's namespaces yet.
              (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8)) == "systemd\n" else { return false }
        leader = child
        return true
    }

    /// Runs a command inside, in every namespace of the container, as root.
    @discardableResult
    func run(_ command: [String]) throws -> CommandResult {
        try runCommand("/usr/bin/nsenter", ["-t", String(leader), "-a", "--"] + command)
    }

    /// Starts a shell command inside as `user` and returns at once: the caller waits for it.
    func startShell(_ script: String, as user: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["-t", String(leader), "-a", "--", "/usr/sbin/runuser", "-u", user, "--", "/bin/sh", "-c", script]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs a shell command inside as `user` (root when nil).
    @discardableResult
    func shell(_ script: String, as user: String? = nil) throws -> CommandResult {
        try run(user.map { ["/usr/sbin/runuser", "-u", $0, "--", "/bin/sh", "-c", script] } ?? ["/bin/sh", "-c", script])
    }

    /// Powers the container off (it is killed if it does not stop within 30 s: its PID 1 too,
    /// which would outlive a killed nspawn, and with it everything inside).
    func shutDown() {
        guard let process, process.isRunning else { return }
        _ = try? run(["systemctl", "poweroff", "--no-block"])
        if !waitUntil(timeout: 30, { !process.isRunning }) {
            kill(leader, SIGKILL)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        self.process = nil
    }
}

struct ContainerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
