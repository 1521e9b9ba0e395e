import CSystemd
import SystemResources
#if canImport(Glibc)
import Glibc
#endif

/// Tells the service manager how the daemon is doing (the `sd_notify` protocol): a no-op unless
/// it was started with `NOTIFY_SOCKET` set, as systemd does for `Type=notify` units. A manager
/// that does not read its messages (the kernel keeps a few unread, then a sender waits) holds
/// the daemon up a few seconds at most, and a status line not at all: it is dropped.
public struct ServiceNotifier: Sendable {
    public init() {}

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    public func reloading() { send("RELOADING=1") }

    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    /// The line `systemctl status` shows; the next one will do if this one finds no room.
    public func status(_ text: String) { send("STATUS=\(text)", waitingAtMost: 0) }

    /// Tells the watchdog the daemon is alive.
    public func watchdog() { send("WATCHDOG=1") }

    /// Whether a service manager listens (systemd sets `NOTIFY_SOCKET` for `Type=notify` units).
    public var isListened: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// The watchdog interval systemd asks for (`WatchdogSec=`), in microseconds, if any.
    public var watchdogMicroseconds: Int64? {
        var microseconds: UInt64 = 0
        return sd_watchdog_enabled(0, &microseconds) > 0 ? Int64(microseconds) : nil
    }

    private func send(_ state: String, waitingAtMost seconds: Double = 5) {
        guard let socket = getenv("NOTIFY_SOCKET") else { return }
        _ = sendDatagram(Array(state.utf8), to: String(cString: socket), waitingAtMost: seconds)
    }
}
