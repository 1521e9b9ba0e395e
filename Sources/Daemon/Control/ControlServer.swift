#if canImport(Glibc)
import Glibc
import CLinux
import CSystemd
import ControlProtocol
import Formats
import Logging
import SystemResources
#endif

/// Limits that keep misbehaving clients from costing more than they should.
public struct ControlLimits: Sendable {
    public var maxLineBytes: Int
    public var maxClients: Int
    /// A client that says nothing for this long is disconnected.
    public var idleSeconds: Double
    /// A request line must be complete this long after its first byte: a client that trickles
    /// a byte now and then is never idle, but cannot hold its connection for ever.
    public var requestSeconds: Double

    public init(maxLineBytes: Int = 64 * 1024, maxClients: Int = 256, idleSeconds: Double = 30, requestSeconds: Double = 10) {
        self.maxLineBytes = maxLineBytes
        self.maxClients = maxClients
        self.idleSeconds = idleSeconds
        self.requestSeconds = requestSeconds
    }
}

/// The control socket: a Unix stream socket speaking one JSON object per line each way. One
/// thread serves every client with poll(), so garbage, oversized lines, silent or trickling
/// clients and crowds cost only their own connections; commands that read files or classify
/// run on a thread of their own (`CommandRunner`), one at a time, while `status` is answered
/// at once. Each client's requests are answered in order.
public final class ControlServer: Service, @unchecked Sendable {
    public let threadName = "control"
    public typealias Handler = (ControlRequest, ControlPeer) -> ControlReply

    private let listener: FileDescriptor
    /// Who may connect, asked at each connection (a reload may change the group).
    private let policy: @Sendable () -> PeerPolicy
    private let limits: ControlLimits
    private let logger: Logger
    private let handler: Handler
    private let stopSignal: WakeupPipe

    private struct Client {
        let id: UInt64
        let connection: FileDescriptor
        let peer: ControlPeer
        var input: [UInt8] = []
        var output: [UInt8] = []
        var lastActivity: Int64
        /// When the first byte of the request line still incomplete came.
        var requestStarted: Int64?
        /// A command of this client's runs: its next lines wait.
        var awaitingReply = false
        var closing = false
    }
    private var clientsAccepted: UInt64 = 0

    package init(listener: FileDescriptor, policy: @escaping @Sendable () -> PeerPolicy, limits: ControlLimits = ControlLimits(), logger: Logger,
                 handler: @escaping Handler) throws {
        self.listener = listener
        self.policy = policy
        self.limits = limits
        self.logger = logger
        self.handler = handler
        stopSignal = try WakeupPipe(for: "the control server")
        listener.makeNonBlocking()
    }

    /// The socket systemd passed (socket activation, `LISTEN_FDS`), if any.
    package static func activatedListener() -> FileDescriptor? {
        let count = sd_listen_fds(1)
        guard count >= 1 else { return nil }
        return FileDescriptor(owning: SD_LISTEN_FDS_START)
    }

    /// Binds a listening socket at `path` with mode 0660 (group `group` when given), replacing
    /// a stale socket left by an earlier run but never a live one or another kind of file.
    package static func listen(at path: String, group: UInt32?) throws -> FileDescriptor {
        let address = try UnixSocketAddress(path: path)
        if let existing = linkStatus(path) {
            guard existing.st_mode & S_IFMT == S_IFSOCK else { throw FileSystemError("bind the control socket at (not a socket)", path, code: EEXIST) }
            guard !isLive(address) else { throw FileSystemError("bind the control socket at (another daemon answers there)", path, code: EADDRINUSE) }
            unlink(path)
        }
        let socket = try FileDescriptor.unixSocket(SOCK_STREAM, for: path)
        // The socket file is created with the umask; tighten it before anyone can connect.
        let previous = umask(0o117)
        let bound = address.bind(socket.rawValue)
        umask(previous)
        guard bound == 0 else { throw FileSystemError("bind the control socket at", path) }
        chmod(path, 0o660)
        if let group, chown(path, UInt32.max, group) != 0 {
            throw FileSystemError("give the control socket to group \(group)", path)
        }
        guard Glibc.listen(socket.rawValue, 128) == 0 else { throw FileSystemError("listen on", path) }
        return socket
    }

    private static func isLive(_ address: UnixSocketAddress) -> Bool {
        guard let probe = try? FileDescriptor.unixSocket(SOCK_STREAM, for: "the control socket") else { return false }
        return address.connect(probe.rawValue) == 0
    }

    public func stop() { stopSignal.wake() }

    /// When a client's connection or request runs out of time.
    private func deadline(of client: Client) -> Int64 {
        // One waiting for its command's reply is not idle: the command is ours.
        let idle = client.awaitingReply ? Int64.max : client.lastActivity + Int64(limits.idleSeconds * 1e6)
        return min(idle, client.requestStarted.map { $0 + Int64(limits.requestSeconds * 1e6) } ?? .max)
    }

    /// Serves clients until `stop()`.
    public func run() {
        var clients: [Client] = []
        let runner: CommandRunner
        do {
            runner = try CommandRunner(handler: handler)
        } catch {
            logger.error("cannot serve control commands: \(error)", metadata: ["error": "\(error)"])
            return
        }
        defer {
            runner.stop()
            clients.removeAll()
        }
        while true {
            var fds = [pollfd(fd: listener.rawValue, events: Int16(POLLIN), revents: 0), stopSignal.pollDescriptor, runner.wakeDescriptor]
            for client in clients {
                fds.append(pollfd(fd: client.connection.rawValue, events: Int16(client.output.isEmpty ? POLLIN : POLLIN | POLLOUT), revents: 0))
            }
            let now = monotonicMicroseconds()
            let nextExpiry = clients.map(deadline).min().flatMap { $0 == .max ? nil : $0 }
            let timeout = nextExpiry.map { Int32(max(0, min(Int64(Int32.max), ($0 - now) / 1000 + 1))) } ?? -1
            guard pollRetrying(&fds, milliseconds: timeout) >= 0 else {
                logger.error("the control server stops: poll failed: \(String(cString: strerror(errno)))")
                return
            }
            if fds[1].revents != 0 { return }
            if fds[2].revents != 0 {
                for (id, reply) in runner.finished() {
                    guard let index = clients.firstIndex(where: { $0.id == id }) else { continue }  // gone meanwhile
                    clients[index].awaitingReply = false
                    self.reply(&clients[index], reply, thenClose: false)
                    handleLines(&clients[index], runner: runner)
                }
            }
            for index in clients.indices.reversed() {
                let events = fds[index + 3].revents
                if events != 0 { service(&clients[index], events: events, runner: runner) }
                let now = monotonicMicroseconds()
                if let started = clients[index].requestStarted, now - started > Int64(limits.requestSeconds * 1e6) {
                    logger.debug("closing a control connection whose request did not complete", metadata: ["peer_uid": "\(clients[index].peer.uid)"])
                    clients[index].input.removeAll()
                    clients[index].requestStarted = nil
                    reply(&clients[index], .failure("request not completed within \(fixed(limits.requestSeconds, 0)) s"), thenClose: true)
                } else if now > deadline(of: clients[index]) && clients[index].output.isEmpty {
                    logger.debug("closing an idle control connection", metadata: ["peer_uid": "\(clients[index].peer.uid)"])
                    clients[index].closing = true
                }
                if clients[index].closing && clients[index].output.isEmpty && !clients[index].awaitingReply {
                    clients.remove(at: index)
                }
            }
            if fds[0].revents & Int16(POLLIN) != 0 { acceptClients(&clients) }
        }
    }

    private func acceptClients(_ clients: inout [Client]) {
        while true {
            let fd = retryingOnInterrupt { linux_accept(listener.rawValue, Int32(SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue)) }
            guard fd >= 0 else { return }
            let connection = FileDescriptor(owning: fd)
            var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
            guard linux_peer_credentials(fd, &pid, &uid, &gid) == 0 else { continue }
            let peer = ControlPeer(pid: pid, uid: uid, gid: gid)
            guard policy().allows(peer) else {
                logger.warning("refused a control connection from uid \(uid) (pid \(pid)): not root, the daemon's user or its group",
                               metadata: ["peer_uid": "\(uid)", "peer_pid": "\(pid)"])
                sendAndClose(connection, .failure("permission denied: uid \(uid) may not control mnistd"))
                continue
            }
            guard clients.count < limits.maxClients else {
                logger.warning("refused a control connection: \(limits.maxClients) clients already connected")
                sendAndClose(connection, .failure("too many clients (\(limits.maxClients)); try again"))
                continue
            }
            clientsAccepted += 1
            clients.append(Client(id: clientsAccepted, connection: connection, peer: peer, lastActivity: monotonicMicroseconds()))
        }
    }

    /// A one-line reply to a client that will not be served; best effort, never blocks.
    private func sendAndClose(_ connection: FileDescriptor, _ reply: ControlReply) {
        let bytes = ControlCoding.encode(reply: reply)
        _ = bytes.withUnsafeBytes { send(connection.rawValue, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        connection.close()
    }

    private func service(_ client: inout Client, events: Int16, runner: CommandRunner) {
        if events & Int16(POLLOUT) != 0 { flush(&client) }
        if events & Int16(POLLIN) != 0 && !client.closing {
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            let count = recv(client.connection.rawValue, &chunk, chunk.count, 0)
            if count > 0 {
                client.lastActivity = monotonicMicroseconds()
                client.input += chunk[0..<count]
                handleLines(&client, runner: runner)
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                client.closing = true
                client.output.removeAll()
            }
        } else if events & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
            client.closing = true
            client.output.removeAll()
        }
    }

    /// Answers the client's complete lines in order, until one hands its command to the runner.
    private func handleLines(_ client: inout Client, runner: CommandRunner) {
        while !client.awaitingReply && !client.closing, let newline = client.input.firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(client.input[..<newline])
            client.input.removeSubrange(...newline)
            guard line.count <= limits.maxLineBytes else {
                reply(&client, .failure("request line over \(limits.maxLineBytes) bytes"), thenClose: true)
                return
            }
            switch parse(line) {
            case .success(let request) where request.command.isAnsweredAtOnce:
                reply(&client, handler(request, client.peer), thenClose: false)
            case .success(let request):
                client.awaitingReply = true
                runner.submit(request, from: client.peer, client: client.id)
            case .failure(let refusal):
                reply(&client, refusal.reply, thenClose: false)
            }
        }
        if client.input.count > limits.maxLineBytes {
            client.input.removeAll()
            reply(&client, .failure("request line over \(limits.maxLineBytes) bytes"), thenClose: true)
        }
        // Only a line not yet complete runs against the request clock.
        let partial = !client.input.isEmpty && !client.input.contains(UInt8(ascii: "\n"))
        client.requestStarted = partial ? client.requestStarted ?? monotonicMicroseconds() : nil
    }

    private struct Refusal: Error {
        let reply: ControlReply
    }

    private func parse(_ line: [UInt8]) -> Result<ControlRequest, Refusal> {
        guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) else {
            return .failure(Refusal(reply: .failure("empty request: expected one JSON object with a \"command\" string per line")))
        }
        do {
            return .success(try ControlCoding.decode(ControlRequest.self, from: line))
        } catch let unknown as UnknownCommand {
            return .failure(Refusal(reply: .failure("\(unknown)")))
        } catch {
            return .failure(Refusal(reply: .failure("malformed request: expected one JSON object with a \"command\" string per line")))
        }
    }

    private func reply(_ client: inout Client, _ reply: ControlReply, thenClose: Bool) {
        client.output += ControlCoding.encode(reply: reply)
        client.closing = client.closing || thenClose
        flush(&client)
    }

    private func flush(_ client: inout Client) {
        while !client.output.isEmpty {
            let sent = client.output.withUnsafeBytes { send(client.connection.rawValue, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            if sent > 0 {
                client.output.removeFirst(sent)
            } else if sent < 0 && (errno == EAGAIN || errno == EINTR) {
                return
            } else {
                client.output.removeAll()
                client.closing = true
                return
            }
        }
    }
}
