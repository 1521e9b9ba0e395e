#if canImport(Glibc)
import Glibc
import InputSpool
import Logging
import SystemResources
#endif

/// Finds arrivals by listing the inbox every `intervalSeconds`: the only way to see files
/// other hosts write to a shared filesystem. A file is taken once it has been left alone for
/// `stableSeconds`: it looks the same — size, modification time, inode — in two listings that
/// far apart, or its modification time is already that old by the filesystem's own clock
/// (`fileSystemTime`), so that a file renamed in whole is taken at the first listing that sees
/// it, and one still being written in place waits (the writer's rename into the visible name
/// remains the contract; this guards those that break it). An unchanged folder costs one
/// directory listing an interval.
public final class InboxPoller: Service, @unchecked Sendable {
    public let threadName = "inbox-poller"
    private let inbox: String
    private let queue: WorkQueue
    private let logger: Logger
    /// Now, by the clock that stamps the inbox's files; nil: unknown (only two listings tell).
    private let fileSystemTime: () -> LeaseStamp?
    let intervalSeconds: Double
    /// How long a new or changed file must stay the same before it is taken.
    var stableSeconds: Double { min(intervalSeconds, 0.5) }
    private let stopping = StopFlag()
    /// Each input's look at the last listing, by name as bytes.
    private var lastSeen: [[UInt8]: FileLook] = [:]
    /// Why the last listing failed, once said.
    private var listingProblem: String?

    struct FileLook: Equatable {
        let inode: UInt64
        let size: Int64
        let modified: LeaseStamp

        init(_ info: stat) {
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = LeaseStamp(info.st_mtim)
        }
    }

    public init(inbox: String, queue: WorkQueue, logger: Logger, intervalSeconds: Double, fileSystemTime: @escaping () -> LeaseStamp?) {
        self.inbox = inbox
        self.queue = queue
        self.logger = logger
        self.intervalSeconds = intervalSeconds
        self.fileSystemTime = fileSystemTime
    }

    public func run() {
        repeat {} while !stopping.pause(seconds: look() ? stableSeconds : intervalSeconds)
    }

    public func stop() { stopping.raise() }

    /// Lists the inbox and offers what stayed the same since the last listing; whether some
    /// file is new or changed (it is looked at again sooner).
    func look() -> Bool {
        let names: [[UInt8]]
        do {
            names = try directoryEntryBytes(inbox)
            if listingProblem != nil { logger.notice("the inbox can be listed again", metadata: ["file": "\(inbox)"]) }
            listingProblem = nil
        } catch {
            if listingProblem == nil {
                logger.error("cannot list the inbox; trying again every \(intervalSeconds) s: \(error)", metadata: ["file": "\(inbox)", "error": "\(error)"])
            }
            listingProblem = "\(error)"
            return false
        }
        var seen: [[UInt8]: FileLook] = [:]
        var unsettled = false
        // Read once a listing, and only when something new is there: it writes the lease.
        var now: LeaseStamp?
        var asked = false
        for name in names where InboxNames.isInput(escapedName(name) ?? String(decoding: name, as: UTF8.self)) {
            var info = stat()
            guard lstat(cPath(inbox, name), &info) == 0, info.st_mode & S_IFMT != S_IFDIR else { continue }
            let current = FileLook(info)
            if !asked && lastSeen[name] != current {
                now = fileSystemTime()
                asked = true
            }
            if lastSeen[name] == current || now.map({ current.modified.isAtLeast(stableSeconds, before: $0) }) == true {
                offerArrival(name, inbox: inbox, queue: queue, logger: logger)
            } else {
                unsettled = true
            }
            seen[name] = current
        }
        lastSeen = seen
        return unsettled
    }
}

/// Offers an arrived inbox name to the queue; one that is not UTF-8 first takes its escaped
/// form (its rename is then the arrival of that name).
func offerArrival(_ name: [UInt8], inbox: String, queue: WorkQueue, logger: Logger) {
    if escapedName(name) == nil {
        queue.offer(String(decoding: name, as: UTF8.self))
    } else {
        InboxNames.escape(name, in: inbox, logger: logger)
    }
}
