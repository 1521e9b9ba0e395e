import Foundation
import TestSupport
import XCTest

/// A LazyFS mount (../shared/tools/lazyfs): a FUSE filesystem over a backing directory that
/// keeps written data in its own cache until fsync, so that dropping the cache is a power
/// failure. Metadata (create, rename, link, unlink) reaches the backing directory at once.
final class LazyFS {
    let root: String
    var mountPoint: String { root + "/mnt" }
    var backing: String { root + "/backing" }
    private var fifo: String { root + "/faults.fifo" }
    private var logPath: String { root + "/lazyfs.log" }
    private var configPath: String { root + "/lazyfs.toml" }
    private var process: Process?
    private let watchdog: Watchdog

    /// Built once per build directory from the shared sources (it installs its own packages);
    /// nil, with the reason, where it cannot run (not root, no FUSE, no sources).
    private static let executable: Result<String, SkipReason> = {
        let sources = repositoryRoot + "/../shared/tools/lazyfs/build.sh"
        guard getuid() == 0 else { return .failure(SkipReason("LazyFS needs root (FUSE mounts)")) }
        guard access("/dev/fuse", R_OK | W_OK) == 0 else { return .failure(SkipReason("LazyFS needs /dev/fuse")) }
        guard FileManager.default.fileExists(atPath: sources) else { return .failure(SkipReason("LazyFS sources not found at \(sources)")) }
        let output = repositoryRoot + "/.build/lazyfs"
        let binary = output + "/lazyfs"
        if !FileManager.default.isExecutableFile(atPath: binary) {
            guard let built = try? runCommand("/bin/sh", [sources, output]), built.status == 0 else {
                return .failure(SkipReason("LazyFS did not build (\(sources) \(output))"))
            }
        }
        return .success(binary)
    }()

    struct SkipReason: Error { let message: String; init(_ message: String) { self.message = message } }

    /// A LazyFS that answers nothing for `hangLimit` seconds is reported to `onHang` (the
    /// test fails) and its connection aborted, so that nothing waits on it for ever. Its log
    /// holds every operation, for that report, unless not `logsEveryOperation`.
    init(hangLimit: Double = 30, logsEveryOperation: Bool = true, onHang: @escaping @Sendable (String) -> Void = { XCTFail($0) }) throws {
        let binary: String
        switch Self.executable {
        case .success(let path): binary = path
        case .failure(let reason): throw XCTSkip(reason.message)
        }
        self.binary = binary
        Self.staleRunsReaped
        root = "\(Self.rootPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        watchdog = Watchdog(mountPoint: root + "/mnt", logPath: root + "/lazyfs.log", limit: hangLimit, onHang: onHang)
        for directory in [mountPoint, backing] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        _ = FileManager.default.createFile(atPath: backing + Watchdog.probe, contents: nil)
        try """
        [faults]
        fifo_path="\(fifo)"
        [cache]
        apply_eviction=false
        [cache.simple]
        custom_size="256mb"
        blocks_per_page=1
        [filesystem]
        log_all_operations=\(logsEveryOperation)
        logfile="\(logPath)"

        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        try mount()
    }

    private let binary: String

    deinit {
        unmount()
        watchdog.stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    private static let rootPrefix = "/tmp/mnistd-lazyfs-"

    /// What a killed test run left: LazyFS mounts (a dead LazyFS's answers ENOTCONN, a hung
    /// one nothing at all, and either stays mounted) and the processes that still use them
    /// (LazyFS, daemons). Reaped once per test process; runs of live test processes (another
    /// `swift test`) are left alone.
    private static let staleRunsReaped: Void = {
        func ownerIsDead(_ root: String) -> Bool {
            guard let pid = root.dropFirst(rootPrefix.count).split(separator: "-").first.flatMap({ Int32($0) }) else { return false }
            // A killed test process whose threads wait on its hung LazyFS stays a zombie until
            // that wait ends: it is dead, and its mount is what holds it.
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let state = stat.split(separator: ")").last?.split(separator: " ").first else { return true }
            return state == "Z"
        }
        let mounts = fuseMounts().filter { $0.mountPoint.hasPrefix(rootPrefix) && ownerIsDead($0.mountPoint) }
        let roots = Set(mounts.map { ($0.mountPoint as NSString).deletingLastPathComponent }).union(
            ((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [])
                .map { "/tmp/" + $0 }.filter { $0.hasPrefix(rootPrefix) && ownerIsDead($0) })
        guard !roots.isEmpty else { return }
        for pid in processes(naming: roots) { kill(pid, SIGKILL) }
        for mount in mounts {
            abortConnection(mount.connection, mountedAt: mount.mountPoint)
            _ = try? runCommand("/bin/umount", ["-l", mount.mountPoint])
        }
        let stillMounted = Set(fuseMounts().map(\.mountPoint))
        for root in roots where !stillMounted.contains(root + "/mnt") { try? FileManager.default.removeItem(atPath: root) }
    }()

    /// Mounts (again, after a crash) the backing directory at `mountPoint`.
    func mount() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        // -s: one FUSE thread. LazyFS's cache (libpcache) reads and changes its maps without
        // a common lock (Cache::unlockItem looks its mutex up unlocked while other requests
        // insert and erase), so concurrent requests corrupt it: LazyFS aborted
        // (unordered_map::at) or crashed, or an item lock was left held and every request then
        // waited for ever, holding its callers in the kernel (request_wait_answer) for ever too.
        process.arguments = [mountPoint, "--config-path", configPath, "-o", "allow_other", "-o", "modules=subdir", "-o", "subdir=\(backing)", "-f", "-s"]
        process.environment = ["LD_LIBRARY_PATH": (binary as NSString).deletingLastPathComponent]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        guard waitUntil(timeout: 30, { isMounted && log.contains("waiting for fault commands") }),
              let connection = Self.fuseMounts().last(where: { $0.mountPoint == mountPoint })?.connection else {
            throw XCTSkip("LazyFS did not mount at \(mountPoint):\n\(log)")
        }
        watchdog.watch(Watchdog.Mount(connection: connection, pid: process.processIdentifier))
    }

    var isMounted: Bool { Self.fuseMounts().contains { $0.mountPoint == mountPoint } }

    /// LazyFS mounts, from the mount table alone (a look at a mount itself could wait on it).
    private static func fuseMounts() -> [(mountPoint: String, connection: String)] {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").compactMap { line in
            // "id parent major:minor root mountpoint options… - fuse.lazyfs …"; a FUSE
            // connection is named by its minor device number.
            let fields = line.split(separator: " ")
            guard fields.count > 4, line.contains(" - fuse.lazyfs "), let minor = fields[2].split(separator: ":").last else { return nil }
            return (String(fields[4]), String(minor))
        }
    }

    /// Every waiting request of the connection fails (ENOTCONN), and so ends its wait; the
    /// mount stays, answering ENOTCONN, until unmounted.
    fileprivate static func abortConnection(_ connection: String, mountedAt mountPoint: String) {
        let connections = "/sys/fs/fuse/connections"
        // fusectl is there where systemd mounted it, not in every container; one mounted here
        // is unmounted again, so that the test leaves the machine's mounts as it found them.
        let mountedHere = !FileManager.default.fileExists(atPath: "\(connections)/\(connection)")
            && (try? runCommand("/bin/mount", ["-t", "fusectl", "fusectl", connections]))?.status == 0
        defer { if mountedHere { _ = try? runCommand("/bin/umount", [connections]) } }
        do {
            try "1".write(toFile: "\(connections)/\(connection)/abort", atomically: false, encoding: .utf8)
        } catch {
            // A forced unmount aborts the connection first, then unmounts if nothing uses it.
            _ = try? runCommand("/bin/umount", ["-f", mountPoint])
        }
    }

    private static func processes(naming roots: Set<String>) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            guard let pid = Int32(name), let arguments = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else { return nil }
            let commandLine = String(decoding: arguments, as: UTF8.self)
            return roots.contains { commandLine.contains($0 + "/") } ? pid : nil
        }
    }

    var log: String { log(from: 0) }

    /// The log from `offset` on: it holds every operation, so commands look only at what
    /// came after them.
    private func log(from offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: logPath) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    private var logSize: UInt64 { (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? UInt64) ?? 0 }

    /// The LazyFS process now mounted.
    var processIdentifier: Int32? { process?.processIdentifier }

    /// Whether LazyFS is gone (a crash fault kills it).
    var hasCrashed: Bool { !(process?.isRunning ?? false) }

    /// The power failure: every byte not fsynced is gone. Returns once LazyFS has done it.
    func clearCache() {
        let start = logSize
        guard command("lazyfs::clear-cache") else { return }
        XCTAssertTrue(waitUntil(timeout: 30) { log(from: start).contains("cache is cleared") }, "LazyFS did not clear its cache:\n\(log.suffix(3000))")
    }

    /// Arms a power failure at the first `operation` (fsync, write, create, rename, link,
    /// unlink…) on a path matching `from` (and `to`, for rename and link), `before` or after
    /// it: LazyFS then kills itself, its cache unwritten.
    func crash(at operation: String, before: Bool, from: String, to: String? = nil) {
        let start = logSize
        guard command("lazyfs::crash::timing=\(before ? "before" : "after")::op=\(operation)::from_rgx=\(from)" + (to.map { "::to_rgx=\($0)" } ?? "")) else { return }
        // "VALID crash fault" ends "INVALID crash fault" too: either is the answer.
        XCTAssertTrue(waitUntil(timeout: 10) { log(from: start).contains("VALID crash fault") }, "LazyFS did not take the fault:\n\(log.suffix(3000))")
        XCTAssertFalse(log(from: start).contains("INVALID crash fault"), "LazyFS refused the fault:\n\(log.suffix(3000))")
    }

    /// False (the test failed) when LazyFS did not get it.
    private func command(_ text: String) -> Bool {
        // Not blocking: with LazyFS gone the fifo has no reader, and opening it would wait for ever.
        let fd = open(fifo, O_WRONLY | O_NONBLOCK)
        guard fd >= 0 else {
            XCTFail("cannot send \(text) to LazyFS (\(String(cString: strerror(errno)))): it is not running:\n\(log.suffix(3000))")
            return false
        }
        defer { close(fd) }
        let line = Array((text + "\n").utf8)
        guard write(fd, line, line.count) == line.count else {
            XCTFail("LazyFS's fifo took \(text) only in part")
            return false
        }
        return true
    }

    /// Unmounts and ends the process (after a crash too, whose mount is left dangling).
    func unmount() {
        watchdog.watch(nil)
        if isMounted { _ = try? runCommand("/bin/umount", ["-l", mountPoint]) }
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        process = nil
    }
}

/// LazyFS must answer: a request it leaves unanswered holds its caller (the daemon, the test's
/// writer, the test's own checks) in the kernel, unkillably once LazyFS has read it, and with
/// it the whole `swift test`. A probe stats a file every half second; one left unanswered for
/// `limit` seconds is reported with what LazyFS was doing, and the connection is aborted:
/// every request waiting on it fails (ENOTCONN), so the test fails instead of hanging.
private final class Watchdog: @unchecked Sendable {
    struct Mount { let connection: String; let pid: Int32 }

    /// A regular file, at the root: LazyFS answers a directory's stat without its cache, so
    /// that stat went on being answered while every file operation waited on a lost lock.
    static let probe = "/.watchdog-probe"

    private let lock = NSLock()
    private var mount: Mount?
    private var probeSince: Date?
    private var stopped = false
    private let running = DispatchGroup()
    private let mountPoint: String

    init(mountPoint: String, logPath: String, limit: Double, onHang: @escaping @Sendable (String) -> Void) {
        self.mountPoint = mountPoint
        running.enter()
        Thread { [self] in
            defer { running.leave() }
            while !isStopped {
                lock.withLock { probeSince = Date() }
                var status = stat()
                _ = stat(mountPoint + Self.probe, &status)
                lock.withLock { probeSince = nil }
                usleep(500_000)
            }
        }.start()
        running.enter()
        Thread { [self] in
            defer { running.leave() }
            while !isStopped {
                usleep(100_000)
                let (since, mount) = lock.withLock { (probeSince, self.mount) }
                guard let since, let mount, Date().timeIntervalSince(since) > limit else { continue }
                // Reported before the stuck calls return, and with LazyFS as the hang left it.
                onHang(Self.describeHang(of: mount, after: limit, logPath: logPath))
                LazyFS.abortConnection(mount.connection, mountedAt: mountPoint)
                // One report per hang: the aborted probe comes back at once.
                _ = waitUntil(timeout: 10) { lock.withLock { probeSince != since } }
            }
        }.start()
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    /// The mount to watch now: nil while there is none (a probe then only sees the bare mount point).
    func watch(_ mount: Mount?) { lock.withLock { self.mount = mount } }

    /// Returns once the watchdog is quiet, so that no report lands on another test.
    func stop() {
        lock.withLock { stopped = true }
        running.wait()
    }

    private static func describeHang(of mount: Mount, after limit: Double, logPath: String) -> String {
        let waiting = (try? String(contentsOfFile: "/sys/fs/fuse/connections/\(mount.connection)/waiting", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        let threads = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(mount.pid)/task")) ?? []).sorted().map { task in
            let wchan = (try? String(contentsOfFile: "/proc/\(mount.pid)/task/\(task)/wchan", encoding: .utf8)) ?? "?"
            return "\(task): \(wchan.isEmpty || wchan == "0" ? "running" : wchan)"
        }
        let log = ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").suffix(40).joined(separator: "\n")
        return """
        LazyFS (pid \(mount.pid)) answered nothing for \(Int(limit)) s, \(waiting) requests waiting: its connection \
        (\(mount.connection)) is aborted so that they fail instead of hanging the test run.
        Its threads wait in: \(threads.joined(separator: ", "))
        The end of its log:
        \(log)
        """
    }
}
