import CSystemd

/// Tells the service manager how the daemon is doing (`sd_notify`): a no-op unless it was
/// started with `NOTIFY_SOCKET` set, as systemd does for `Type=notify` units.
public struct ServiceNotifier: Sendable {
    public init() {}

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    public func status(_ text: String) { send("STATUS=\(text)") }

    public func reloading() { send("RELOADING=1") }

    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    private func send(_ state: String) {
        _ = sd_notify(0, state)
    }
}
