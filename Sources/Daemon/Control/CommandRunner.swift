#if canImport(Glibc)
import Glibc
import ControlProtocol
import SystemResources
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
    private let wakeup: WakeupPipe
    private var thread: WorkerThread?
    private let handler: Handler

    /// Readable when replies are ready.
    var wakeDescriptor: pollfd { wakeup.pollDescriptor }

    init(handler: @escaping Handler) throws {
        wakeup = try WakeupPipe(for: "the control commands")
        self.handler = handler
        thread = WorkerThread(name: "control-cmds") { [self] in serve() }
    }

    func submit(_ request: ControlRequest, from peer: ControlPeer, client: UInt64) {
        lock.withLock {
            waiting.append((client, request, peer))
            lock.broadcast()
        }
    }

    /// The replies ready since the last call.
    func finished() -> [(client: UInt64, reply: ControlReply)] {
        wakeup.drain()
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
            wakeup.wake()
        }
    }
}
