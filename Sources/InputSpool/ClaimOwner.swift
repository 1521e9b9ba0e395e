#if canImport(Glibc)
import Glibc
#endif
import SystemResources

/// Who holds a claim: one daemon instance, on one host, in one boot. Several daemons may share
/// an inbox on a network filesystem; each claims into a directory of its own named for its
/// owner (`inbox/.claimed/<instance>@<host>@<boot>`), so that whatever one leaves behind is
/// told apart from the others' and can be taken over when its lease lapses.
public struct ClaimOwner: Sendable, Equatable, Hashable {
    public let instance: String
    public let host: String
    /// The start of the kernel's boot id: after a reboot the same host and instance are a new
    /// owner, and the old one is known to be dead.
    public let boot: String

    /// Characters a name part may not hold: the separator, a path's, and none at all.
    static let separator: Character = "@"

    public init(instance: String, host: String, boot: String) {
        func part(_ text: String) -> String {
            let cleaned = String(text.map { $0 == Self.separator || $0 == "/" || $0.isWhitespace ? "_" : $0 })
            return cleaned.isEmpty ? "_" : cleaned
        }
        self.instance = part(instance)
        self.host = part(host)
        self.boot = part(boot)
    }

    /// Parses a claim directory's name; nil for any other entry (the batches of a single
    /// daemon's spool as it was before owners, `<time>-<sequence>`, hold no separator).
    public init?(directoryName: String) {
        let parts = directoryName.split(separator: Self.separator, omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        self.init(instance: String(parts[0]), host: String(parts[1]), boot: String(parts[2]))
    }

    /// This process's owner for the instance named `instance` (`mnistd` for the plain service,
    /// the template's instance name for `mnistd@NAME`).
    public static func current(instance: String) -> ClaimOwner {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count - 1) == 0
            ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown-host"
        return ClaimOwner(instance: instance, host: host, boot: bootID() ?? bootMinute())
    }

    /// The kernel's boot id, shortened; nil where /proc/sys is hidden (systemd's ProcSubset=pid).
    static func bootID() -> String? {
        // A proc file says its size is 0: read, not readFile.
        var bytes = [UInt8](repeating: 0, count: 64)
        let file = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        let count = max(0, read(file, &bytes, bytes.count))
        let id = String(String(decoding: bytes.prefix(count), as: UTF8.self).filter(\.isHexDigit).prefix(12))
        return id.isEmpty ? nil : id
    }

    /// The minute the system booted, from its clocks: a boot id where the kernel's cannot be
    /// read. A clock step may change it between two starts in one boot; the new start then
    /// takes its own earlier claims over at once (`isEarlierBoot`), which is what a restart does anyway.
    static func bootMinute() -> String {
        var now = timespec(), sinceBoot = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        clock_gettime(CLOCK_BOOTTIME, &sinceBoot)
        return "t" + String((Int64(now.tv_sec) - Int64(sinceBoot.tv_sec)) / 60, radix: 16)
    }

    public var directoryName: String { "\(instance)\(Self.separator)\(host)\(Self.separator)\(boot)" }

    /// Whether `other` is this instance on this host in an earlier boot: certainly dead.
    public func isEarlierBoot(of other: ClaimOwner) -> Bool {
        other.instance == instance && other.host == host && other.boot != boot
    }

    /// A short tag carried by the names of this owner's claims and temporaries, so that a
    /// temporary in the shared outbox can be traced to the owner that wrote it.
    public var tag: String {
        var hash: UInt32 = 0x811C_9DC5
        for byte in directoryName.utf8 { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// The owner tag a claim id or batch name starts with (`<tag>_...`); nil for a batch of
    /// the layout without owners.
    static func tag(ofClaim id: String) -> String? {
        guard let underscore = id.firstIndex(of: "_"), id.distance(from: id.startIndex, to: underscore) == 8 else { return nil }
        return String(id[..<underscore])
    }
}

/// When a lease was last touched, as its file says (the clock of the host that touched it).
public struct LeaseStamp: Sendable, Equatable {
    public let seconds: Int64
    public let nanoseconds: Int64

    public init(_ time: timespec) {
        seconds = Int64(time.tv_sec)
        nanoseconds = Int64(time.tv_nsec)
    }

    /// Whether this time is at least `seconds` before `later`.
    public func isAtLeast(_ seconds: Double, before later: LeaseStamp) -> Bool {
        Double(later.seconds - self.seconds) + Double(later.nanoseconds - nanoseconds) / 1e9 >= seconds
    }
}

/// Tells which other owners are dead: those whose lease has not changed for `timeout` by this
/// host's own monotonic clock. Only change is compared, never one host's time against
/// another's, so clocks that disagree by any amount cannot make a live owner look dead. An
/// earlier boot of this very owner is dead at once.
public struct LeaseObserver: Sendable {
    public let timeoutMicroseconds: Int64
    /// Each owner's lease as last seen, and since when (monotonic microseconds) it has looked so.
    private var seen: [ClaimOwner: (stamp: LeaseStamp?, since: Int64)] = [:]

    public init(timeoutSeconds: Double) {
        timeoutMicroseconds = Int64(timeoutSeconds * 1e6)
    }

    /// Records what a look at the other owners found at `now`; returns those to take over.
    public mutating func lapsed(_ owners: [(owner: ClaimOwner, lease: LeaseStamp?)], me: ClaimOwner, now: Int64) -> [ClaimOwner] {
        var current: [ClaimOwner: (stamp: LeaseStamp?, since: Int64)] = [:]
        for (owner, stamp) in owners {
            if let previous = seen[owner], previous.stamp == stamp {
                current[owner] = previous
            } else {
                current[owner] = (stamp, now)
            }
        }
        seen = current
        return owners.map(\.owner).filter { owner in
            me.isEarlierBoot(of: owner) || now - current[owner]!.since >= timeoutMicroseconds
        }
    }
}
