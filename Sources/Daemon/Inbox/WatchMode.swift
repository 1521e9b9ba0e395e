#if canImport(Glibc)
import Glibc
import CLinux
#endif

/// How the inbox is watched. inotify sees only what this host does: on a filesystem shared by
/// several hosts, files written by the others raise no event, and only listing the inbox finds them.
public enum WatchMode: String, Sendable, CaseIterable {
    /// inotify on a local filesystem; inotify and polling together on a shared one.
    case auto
    case inotify
    case poll

    /// What watches the inbox, and why, in words for the start log.
    public struct Choice: Equatable, Sendable {
        public let inotify: Bool
        public let polling: Bool
        public let reason: String
    }

    /// The watchers for an inbox on the filesystem whose statfs type is `filesystemType`.
    public func choice(filesystemType: Int64) -> Choice {
        let shared = Self.sharedFilesystems[filesystemType]
        switch self {
        case .inotify:
            return Choice(inotify: true, polling: false, reason: "watch = inotify" + (shared.map { " (files other hosts write to this \($0) inbox are found only at a rescan)" } ?? ""))
        case .poll:
            return Choice(inotify: false, polling: true, reason: "watch = poll")
        case .auto:
            guard let shared else { return Choice(inotify: true, polling: false, reason: "watch = auto, a local filesystem") }
            return Choice(inotify: true, polling: true,
                          reason: "watch = auto, a \(shared) filesystem: inotify does not see what other hosts write there, so the inbox is also listed")
        }
    }

    public func choice(forInbox inbox: String) -> Choice {
        choice(filesystemType: Int64(linux_filesystem_type(inbox)))
    }

    /// statfs types of filesystems that other hosts may write to.
    static let sharedFilesystems: [Int64: String] = [
        0x6969: "NFS", 0x517B: "SMB", 0xFF53_4D42: "CIFS", 0xFE53_4D42: "SMB2", 0x6573_5546: "FUSE (GlusterFS, sshfs, …)",
        0x00C3_6400: "CephFS", 0x0102_1997: "9p", 0x5346_414F: "AFS", 0x7461_636F: "OCFS2", 0x0116_1970: "GFS2",
        0x0BD0_0BD0: "Lustre", 0x7375_7245: "Coda",
    ]
}
