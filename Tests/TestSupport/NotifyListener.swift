#if canImport(Glibc)
import Glibc
#endif
import SystemResources

/// The service manager's end of the notify protocol: a datagram socket to pass to a child as
/// `NOTIFY_SOCKET`, on which its `READY=1`, `STATUS=…` and other messages arrive. The
/// benchmark and the tests use it to start the real daemon as systemd would.
public final class NotifyListener {
    public let path: String
    private let socket: FileDescriptor

    public init(path: String) throws {
        self.path = path
        socket = try FileDescriptor.unixSocket(SOCK_DGRAM, for: path)
        guard try UnixSocketAddress(path: path).bind(socket.rawValue) == 0 else { throw FileSystemError("bind a notify socket at", path) }
    }

    deinit { unlink(path) }

    /// The next message, or nil after `timeout` seconds.
    public func receive(timeout: Double) -> String? {
        var descriptors = [pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)]
        guard pollRetrying(&descriptors, milliseconds: Int32(max(0, timeout) * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(socket.rawValue, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    /// Reads messages until one holds `line` as one of its lines; returns all read, or nil
    /// after `timeout` seconds.
    public func waitFor(_ line: String, timeout: Double) -> [String]? {
        var seen: [String] = []
        let deadline = Double(monotonicMicroseconds()) / 1e6 + timeout
        while let message = receive(timeout: deadline - Double(monotonicMicroseconds()) / 1e6) {
            seen.append(message)
            if message.split(separator: "\n").contains(Substring(line)) { return seen }
        }
        return nil
    }
}
