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

    init() throws {
        let binary: String
        switch Self.executable {
        case .success(let path): binary = path
        case .failure(let reason): throw XCTSkip(reason.message)
        }
        self.binary = binary
        root = "/tmp/mnistd-lazyfs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for directory in [mountPoint, backing] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try """
        [faults]
        fifo_path="\(fifo)"
        [cache]
        apply_eviction=false
        [cache.simple]
        custom_size="256mb"
        blocks_per_page=1
        [filesystem]
        log_all_operations=false
        logfile="\(logPath)"

        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        try mount()
    }

    private let binary: String

    deinit {
        unmount()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Mounts (again, after a crash) the backing directory at `mountPoint`.
    func mount() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [mountPoint, "--config-path", configPath, "-o", "allow_other", "-o", "modules=subdir", "-o", "subdir=\(backing)", "-f"]
        process.environment = ["LD_LIBRARY_PATH": (binary as NSString).deletingLastPathComponent]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        guard waitUntil(timeout: 30, { isMounted && log.contains("waiting for fault commands") }) else {
            throw XCTSkip("LazyFS did not mount at \(mountPoint):\n\(log)")
        }
    }

    var isMounted: Bool {
        ((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").contains(" \(mountPoint) fuse.lazyfs ")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Whether LazyFS is gone (a crash fault kills it).
    var hasCrashed: Bool { !(process?.isRunning ?? false) }

    /// The power failure: every byte not fsynced is gone. Returns once LazyFS has done it.
    func clearCache() {
        let done = log.components(separatedBy: "cache is cleared").count
        command("lazyfs::clear-cache")
        XCTAssertTrue(waitUntil(timeout: 30) { log.components(separatedBy: "cache is cleared").count > done }, "LazyFS did not clear its cache:\n\(log)")
    }

    /// Arms a power failure at the first `operation` (fsync, write, create, rename, link,
    /// unlink…) on a path matching `from` (and `to`, for rename and link), `before` or after
    /// it: LazyFS then kills itself, its cache unwritten.
    func crash(at operation: String, before: Bool, from: String, to: String? = nil) {
        let armed = log.components(separatedBy: "VALID crash fault").count
        command("lazyfs::crash::timing=\(before ? "before" : "after")::op=\(operation)::from_rgx=\(from)" + (to.map { "::to_rgx=\($0)" } ?? ""))
        XCTAssertTrue(waitUntil(timeout: 10) { log.components(separatedBy: "VALID crash fault").count > armed }, "LazyFS did not take the fault:\n\(log)")
        XCTAssertFalse(log.contains("INVALID crash fault"), "LazyFS refused the fault:\n\(log)")
    }

    private func command(_ text: String) {
        guard let handle = FileHandle(forWritingAtPath: fifo) else { return XCTFail("cannot open LazyFS's fifo \(fifo)") }
        handle.write(Data((text + "\n").utf8))
        handle.closeFile()
    }

    /// Unmounts and ends the process (after a crash too, whose mount is left dangling).
    func unmount() {
        if isMounted { _ = try? runCommand("/bin/umount", ["-l", mountPoint]) }
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        process = nil
    }
}
