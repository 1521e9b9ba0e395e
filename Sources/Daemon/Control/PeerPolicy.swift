#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a control connection (`SO_PEERCRED`).
public struct ControlPeer: Sendable, Equatable {
    public let pid: Int32
    public let uid: UInt32
    public let gid: UInt32
}

/// Who may control the daemon: root, the daemon's own user, and members of one group.
public struct PeerPolicy: Sendable {
    public let daemonUID: UInt32
    public let group: UInt32?

    public init(daemonUID: UInt32 = geteuid(), group: UInt32? = nil) {
        self.daemonUID = daemonUID
        self.group = group
    }

    public func allows(_ peer: ControlPeer) -> Bool {
        if peer.uid == 0 || peer.uid == daemonUID { return true }
        guard let group else { return false }
        return peer.gid == group || supplementaryGroups(of: peer.pid).contains(group) || groups(ofUser: peer.uid).contains(group)
    }

    /// The peer process's supplementary groups, from /proc/PID/status (empty where /proc
    /// hides other users' processes, as in the hardened unit).
    private func supplementaryGroups(of pid: Int32) -> [UInt32] {
        guard let file = fopen("/proc/\(pid)/status", "r") else { return [] }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("Groups:") {
                return text.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { UInt32($0) }
            }
        }
        return []
    }

    /// The groups the system lists for a user (/etc/group and the like).
    private func groups(ofUser uid: UInt32) -> [UInt32] {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return [] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(entry.pw_name, entry.pw_gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(entry.pw_name, entry.pw_gid, &groups, &count) >= 0 else { return [] }
        }
        return Array(groups.prefix(Int(count)))
    }
}
