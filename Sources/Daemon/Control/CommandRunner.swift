#if canImport(Glibc)
import Glibc
#endif

/// Runs the control commands that read files or classify (everything but `status`) one at a
/// time on a thread of their own, so the socket thread keeps serving every other client while
/// one waits; each reply comes back through `finished()`, announced on `wakeDescriptor`.
final class CommandRunner: @unchecked Sendable {
    typealias Handler = (ControlRequest, ControlPeer) -> ControlReply

    private let lock = ConditionLock()
    private var waiting: [(client: UInt64, request: ControlRequest, peer: ControlPeer)] = []
    private var replies: [(client: UInt64, reply: ControlReply)] = []
    private var stopping = false
    private let wakePipe: (read: Int32, write: Int32)
    private var thread: WorkerThread?
    private let handler: Handler

    /// Readable when replies are ready.
    var wakeDescriptor: Int32 { wakePipe.read }

    init(handler: @escaping Handler) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw FileSystemError("create a pipe for", "the control commands") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wakePipe = (fds[0], fds[1])
        self.handler = handler
        thread = WorkerThread(name: "control-cmds") { [self] in serve() }
    }

    deinit {
        close(wakePipe.read)
        close(wakePipe.write)
    }

    func submit(_ request: ControlRequest, from peer: ControlPeer, client: UInt64) {
        lock.withLock {
            waiting.append((client, request, peer))
            lock.broadcast()
        }
    }

    /// The replies ready since the last call.
    func finished() -> [(client: UInt64, reply: ControlReply)] {
        var drained = [UInt8](repeating: 0, count: 256)
        while read(wakePipe.read, &drained, drained.count) > 0 {}
        return lock.withLock { defer { replies.removeAll() }; return replies }
    }

    /// Finishes the command in hand, drops the others, and waits for the thread.
    func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        thread?.join()
        thread = nil
    }

    private func serve() {
        while true {
            let next: (client: UInt64, request: ControlRequest, peer: ControlPeer)? = lock.withLock {
                while !stopping && waiting.isEmpty { lock.wait() }
                return stopping ? nil : waiting.removeFirst()
            }
            guard let next else { return }
            let reply = handler(next.request, next.peer)
            lock.withLock { replies.append((next.client, reply)) }
            var byte: UInt8 = 1
            _ = write(wakePipe.write, &byte, 1)
        }
    }
}
