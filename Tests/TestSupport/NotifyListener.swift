#if canImport(Glibc)
import Glibc
#endif
import SystemResources

/// The service manager's end of the notify protocol: a datagram socket to pass to a child as
/// `NOTIFY_SOCKET`, on which its `READY=1`, `STATUS=…` and other messages arrive. The
/// benchmark and the tests use it to start the real daemon as systemd would. Like systemd, it
/// reads every message as it comes (on a thread of its own): a sender is never held up by a
/// full queue (the kernel keeps only a few datagrams unread).
public final class NotifyListener {
    public let path: String
    private let received: ReceivedMessages
    private let reader: WorkerThread

    public init(path: String) throws {
        self.path = path
        let socket = try FileDescriptor.unixSocket(SOCK_DGRAM, for: path)
        guard try UnixSocketAddress(path: path).bind(socket.rawValue) == 0 else { throw FileSystemError("bind a notify socket at", path) }
        let received = ReceivedMessages(socket: socket)
        self.received = received
        reader = WorkerThread(name: "notify-listener") { received.readUntilStopped() }
    }

    deinit {
        received.stopping.raise()
        reader.join()
        unlink(path)
    }

    /// The next message, or nil after `timeout` seconds.
    public func receive(timeout: Double) -> String? { received.next(timeout: timeout) }

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

/// The messages read and not yet taken, filled by the reader thread.
private final class ReceivedMessages: @unchecked Sendable {
    let socket: FileDescriptor
    let stopping = StopFlag()
    private let lock = ConditionLock()
    private var messages: [String] = []

    init(socket: FileDescriptor) { self.socket = socket }

    func readUntilStopped() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopping.isRaised {
            var descriptors = [pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)]
            guard pollRetrying(&descriptors, milliseconds: 100) == 1 else { continue }
            let count = recv(socket.rawValue, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let message = String(decoding: buffer[0..<count], as: UTF8.self)
            lock.withLock {
                messages.append(message)
                lock.broadcast()
            }
        }
    }

    func next(timeout: Double) -> String? {
        let deadline = monotonicMicroseconds() + Int64(max(0, timeout) * 1e6)
        return lock.withLock {
            while messages.isEmpty {
                let left = deadline - monotonicMicroseconds()
                guard left > 0 else { return nil }
                lock.wait(seconds: Double(left) / 1e6)
            }
            return messages.removeFirst()
        }
    }
}
