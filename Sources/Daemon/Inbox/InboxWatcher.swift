#if canImport(Glibc)
import Glibc
import InputSpool
import Logging
import SystemResources
#endif

/// Watches the inbox with inotify and offers every arrived input to the work queue. It
/// blocks in poll() with no timeout, so an idle daemon uses no CPU.
///
/// A file has arrived when it is closed after writing (`IN_CLOSE_WRITE`) or renamed into the
/// inbox (`IN_MOVED_TO`). Entries made whole in one step announce themselves only by
/// `IN_CREATE`: symbolic links, FIFOs, hard links — from outside the inbox, or from a hidden
/// temporary unlinked at once (Maildir-style delivery) — and `O_TMPFILE` files linked in. A file
/// created to be written is opened in the same system call, so its `IN_CREATE` is followed by
/// `IN_OPEN` at once: a created name that no open follows within `creationGrace` has arrived.
/// If the kernel's event queue overflows, or the inbox itself is removed and made again, the
/// whole inbox is rescanned: events may be lost, files are not. When the mount table changes
/// (a mount over the running inbox hides the watched directory) or the inbox comes back, it is
/// watched only if inputs can still move from it (`prepareInbox`), and never through a
/// symbolic link put in its place; until then files dropped there stay where they are.
public final class InboxWatcher: Service, @unchecked Sendable {
    public let threadName = "inbox-watcher"
    private let inbox: String
    private let queue: WorkQueue
    private let counters: DaemonCounters
    private let logger: Logger
    /// Makes the inbox again if it is missing, and throws unless inputs can move from it.
    private let prepareInbox: () throws -> Void
    private let inotify: FileDescriptor
    private var watch: Int32 = -1
    /// `/proc/self/mountinfo`, which poll() reports changed (POLLPRI) when anything is mounted.
    private let mountTable: FileDescriptor?
    /// Why the inbox is not watched, once said (nil while watched).
    private var unusableReason: String?
    private let stopSignal: WakeupPipe

    static let events = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_OPEN | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
    /// How long an open may follow its file's creation (both happen in one system call: this
    /// only covers reading the two events in different batches).
    static let creationGraceMicroseconds: Int64 = 50_000
    /// Regular files created but not yet opened (by name as bytes), with when their creation was seen.
    private var createdUnopened: [[UInt8]: Int64] = [:]

    public init(inbox: String, queue: WorkQueue, counters: DaemonCounters, logger: Logger, prepareInbox: @escaping () throws -> Void) throws {
        self.inbox = inbox
        self.queue = queue
        self.counters = counters
        self.logger = logger
        self.prepareInbox = prepareInbox
        mountTable = try? FileDescriptor.open("/proc/self/mountinfo", O_RDONLY)
        let inotify = inotify_init1(Int32(IN_CLOEXEC))
        guard inotify >= 0 else { throw FileSystemError("start inotify for", inbox) }
        self.inotify = FileDescriptor(owning: inotify)
        stopSignal = try WakeupPipe(for: inbox)
        watch = inotify_add_watch(inotify, inbox, Self.events)
        guard watch >= 0 else { throw FileSystemError("watch", inbox) }
    }

    /// Reads events until `stop()`.
    public func run() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var fds = [pollfd(fd: inotify.rawValue, events: Int16(POLLIN), revents: 0), stopSignal.pollDescriptor,
                       pollfd(fd: mountTable?.rawValue ?? -1, events: Int16(POLLPRI), revents: 0)]
            // Only while the inbox is gone, or a creation awaits its open, is there anything to
            // do without an event; otherwise wait forever.
            let nextDeadline = createdUnopened.values.min().map { $0 + Self.creationGraceMicroseconds }
            let timeout = watch < 0 ? 1000 : nextDeadline.map { Int32(clamping: max(0, $0 - monotonicMicroseconds()) / 1000 + 1) } ?? -1
            // A failed poll (out of memory) reports nothing ready: the loop comes round again.
            _ = pollRetrying(&fds, milliseconds: timeout)
            if fds[1].revents != 0 { return }
            if fds[2].revents & Int16(POLLPRI | POLLERR) != 0 { mountsChanged() }
            if watch < 0 { rewatch() }
            guard fds[0].revents & Int16(POLLIN) != 0 else {
                offerCreatedUnopened()
                continue
            }
            let count = buffer.withUnsafeMutableBytes { inotify.read(into: $0) }
            guard count > 0 else { continue }
            buffer.withUnsafeBytes { handle(events: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            offerCreatedUnopened()
        }
    }

    /// Offers the created files no open followed within the grace period: they were made whole.
    private func offerCreatedUnopened() {
        let now = monotonicMicroseconds()
        for (name, seen) in createdUnopened where now - seen >= Self.creationGraceMicroseconds {
            createdUnopened[name] = nil
            arrived(name)
        }
    }

    public func stop() { stopSignal.wake() }

    private func handle(events: UnsafeRawBufferPointer) {
        var offset = 0
        while offset + 16 <= events.count {
            let descriptor = events.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = events.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let length = Int(events.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            let name = Array(events[(offset + 16)..<min(events.count, offset + 16 + length)].prefix { $0 != 0 })
            offset += 16 + length

            if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                logger.warning("inotify queue overflowed; rescanning the inbox")
                counters.inotifyOverflowed()
                queue.requestRescan()
            } else if descriptor == watch, mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) != 0 {
                logger.error("the inbox was removed or moved; waiting for it to come back", metadata: ["file": "\(inbox)"])
                inotify_rm_watch(inotify.rawValue, watch)
                watch = -1
            } else if !name.isEmpty, InboxNames.isInput(escapedName(name) ?? String(decoding: name, as: UTF8.self)),
                      mask & UInt32(IN_ISDIR) == 0 {
                handle(name, mask: mask)
            }
        }
    }

    private func handle(_ name: [UInt8], mask: UInt32) {
        var info = stat()
        if mask & UInt32(IN_CLOSE_WRITE | IN_MOVED_TO) != 0 {
            createdUnopened[name] = nil
            arrived(name)
        } else if mask & UInt32(IN_OPEN) != 0 {
            // Being written: its close will say when it is whole.
            createdUnopened[name] = nil
        } else if mask & UInt32(IN_CREATE) != 0, lstat(cPath(inbox, name), &info) == 0 {
            if info.st_mode & S_IFMT != S_IFREG || info.st_nlink > 1 {
                arrived(name)  // never written and closed: whole now
            } else {
                createdUnopened[name] = monotonicMicroseconds()
            }
        }
    }

    private func arrived(_ name: [UInt8]) { offerArrival(name, inbox: inbox, queue: queue, logger: logger) }

    private func rewatch() {
        do {
            if let info = linkStatus(inbox), info.st_mode & S_IFMT == S_IFLNK {
                throw FileSystemError("watch the inbox (it was replaced by a symbolic link, which is not followed)", inbox, code: ELOOP)
            }
            try prepareInbox()
        } catch {
            if unusableReason != "\(error)" {
                unusableReason = "\(error)"
                logger.error("not watching the inbox until it is usable again; files there stay where they are: \(error)",
                             metadata: ["file": "\(inbox)", "error": "\(error)"])
            }
            return
        }
        watch = inotify_add_watch(inotify.rawValue, inbox, Self.events)
        guard watch >= 0 else { return }
        unusableReason = nil
        logger.notice("the inbox is back; rescanning it", metadata: ["file": "\(inbox)"])
        queue.requestRescan()
    }

    /// Something was mounted or unmounted: the watched inbox may be hidden by another
    /// directory, or inputs may no longer move from it. Either way it is set aside, and the
    /// retry every second (`rewatch`) says why and takes it up again once usable.
    private func mountsChanged() {
        // The change is reported until the table is read again.
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        if let mountTable {
            lseek(mountTable.rawValue, 0, SEEK_SET)
            while scratch.withUnsafeMutableBytes({ mountTable.read(into: $0) }) > 0 {}
        }
        guard watch >= 0 else { return }
        // Adding a watch gives back the same descriptor while the path leads to the watched directory.
        let current = inotify_add_watch(inotify.rawValue, inbox, Self.events)
        if current == watch, (try? prepareInbox()) != nil { return }
        if current >= 0 && current != watch { inotify_rm_watch(inotify.rawValue, current) }
        inotify_rm_watch(inotify.rawValue, watch)
        watch = -1
    }
}
