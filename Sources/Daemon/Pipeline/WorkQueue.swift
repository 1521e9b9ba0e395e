import InputSpool
import SystemResources

/// The bounded hand-off between the watcher and the classifier worker. Offering never
/// blocks: when the queue is full the name is not kept, and a rescan of the inbox is owed
/// instead (the file itself stays in the inbox, so nothing is lost, only looked up later).
public final class WorkQueue: @unchecked Sendable {
    public enum Work: Equatable, Sendable {
        /// Inbox names to claim, in arrival order.
        case files([String])
        /// Look through the whole inbox: events were missed or not kept.
        case rescan
        /// Claims to finish: left by the last run, or taken over from another instance whose lease lapsed.
        case claims([ClaimedInput])
    }

    public let capacity: Int
    private let lock = ConditionLock()
    private var names: [String] = []
    private var queued: Set<String> = []
    private var rescanOwed = false
    private var claims: [[ClaimedInput]] = []
    private var closed = false

    public init(capacity: Int) {
        precondition(capacity > 0, "WorkQueue capacity must be positive")
        self.capacity = capacity
    }

    /// Adds a name unless it is already waiting. False when the queue was full.
    @discardableResult
    public func offer(_ name: String) -> Bool {
        lock.withLock {
            guard !closed, !queued.contains(name) else { return true }
            guard names.count < capacity else {
                rescanOwed = true
                lock.broadcast()
                return false
            }
            names.append(name)
            queued.insert(name)
            lock.broadcast()
            return true
        }
    }

    public func requestRescan() {
        lock.withLock {
            rescanOwed = true
            lock.broadcast()
        }
    }

    /// Hands over claims to finish; they go before new names, being older.
    public func offerClaims(_ inputs: [ClaimedInput]) {
        guard !inputs.isEmpty else { return }
        lock.withLock {
            claims.append(inputs)
            lock.broadcast()
        }
    }

    /// Waits for work: claims to finish, else up to `limit` names, or a rescan once no names
    /// wait; no names when `seconds` pass first. Nil once closed.
    public func take(limit: Int, waitingAtMost seconds: Double? = nil) -> Work? {
        lock.withLock {
            let deadline = seconds.map { monotonicMicroseconds() + Int64($0 * 1e6) }
            while !closed && names.isEmpty && !rescanOwed && claims.isEmpty {
                guard let deadline else { lock.wait(); continue }
                let left = deadline - monotonicMicroseconds()
                if left <= 0 { return .files([]) }
                lock.wait(seconds: Double(left) / 1e6)
            }
            if closed { return nil }
            if !claims.isEmpty { return .claims(claims.removeFirst()) }
            if names.isEmpty {
                rescanOwed = false
                return .rescan
            }
            let taken = Array(names.prefix(limit))
            names.removeFirst(taken.count)
            queued.subtract(taken)
            return .files(taken)
        }
    }

    /// Names waiting to be taken.
    public var depth: Int { lock.withLock { names.count } }

    public var isClosed: Bool { lock.withLock { closed } }

    /// Wakes the worker and makes `take` return nil from now on.
    public func close() {
        lock.withLock {
            closed = true
            lock.broadcast()
        }
    }
}
