import Foundation

/// A real GlusterFS volume on this host (replica 2, both bricks here) mounted three times with
/// FUSE: separate kernel caches, so each mount stands for another host — two run daemons, the
/// third is a scanner's. Made with `../shared/tools/gluster-fixture.sh` (which installs the
/// packages if missing), torn down whatever the test's outcome; one left by a crashed run is
/// torn down first.
public final class GlusterVolume {
    static let root = "/tmp/mnistd-gluster"
    static let mounts = ["a", "b", "c"].map { "/tmp/mnistd-gluster-mounts/\($0)" }
    static let volume = "mnistdtest"
    private static let fixture = repositoryRoot + "/../shared/tools/gluster-fixture.sh"
    private static var fixtureEnvironment: [String: String] {
        ["GLUSTER_ROOT": root, "MNT_A": mounts[0], "MNT_B": mounts[1], "GLUSTER_VOL": volume]
    }

    /// The two daemons' mounts and the scanner's.
    public var daemonMounts: [String] { Array(Self.mounts.prefix(2)) }
    public var scannerMount: String { Self.mounts[2] }

    /// Why no volume can be made here (not root, no FUSE, no fixture): a test skips on it.
    public struct Unavailable: Error { public let reason: String }

    public init() throws {
        guard getuid() == 0 else { throw Unavailable(reason: "GlusterFS needs root (glusterd, FUSE mounts)") }
        guard access("/dev/fuse", R_OK | W_OK) == 0 else { throw Unavailable(reason: "GlusterFS needs /dev/fuse") }
        guard FileManager.default.fileExists(atPath: Self.fixture) else { throw Unavailable(reason: "no GlusterFS fixture at \(Self.fixture)") }
        Self.tearDown()
        try FileManager.default.createDirectory(atPath: scannerMount, withIntermediateDirectories: true)
        let log = "/tmp/mnistd-gluster-fixture.log"
        let up = runScript("\"$1\" up && mount -t glusterfs -o log-file=\(Self.root)/mnt-c.log localhost:/\(Self.volume) \(scannerMount)",
                           arguments: [Self.fixture], logFile: log, environment: Self.fixtureEnvironment)
        guard up == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            Self.tearDown()
            throw GlusterError(description: "the GlusterFS volume could not be set up (\(Self.fixture) up, and a third mount):\n\(output)")
        }
    }

    public struct GlusterError: Error, CustomStringConvertible { public let description: String }

    /// Unmounts the scanner's mount, then the fixture's down (mounts, volume, glusterd, bricks).
    static func tearDown() {
        if (try? runCommand("/bin/mountpoint", ["-q", mounts[2]]))?.status == 0 {
            if (try? runCommand("/bin/umount", [mounts[2]]))?.status != 0 { _ = try? runCommand("/bin/umount", ["-l", mounts[2]]) }
        }
        guard FileManager.default.fileExists(atPath: fixture) else { return }
        _ = runScript("\"$1\" down", arguments: [fixture], logFile: "/dev/null", environment: fixtureEnvironment)
    }

    deinit { Self.tearDown() }
}
