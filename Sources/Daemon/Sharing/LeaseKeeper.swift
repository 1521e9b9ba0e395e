#if canImport(Glibc)
import Glibc
import InputSpool
import Logging
import SystemResources
#endif

/// Keeps this instance alive in the eyes of the others sharing its inbox, and finishes for
/// them: every `renewalSeconds` it touches this instance's lease, looks at the others', and
/// takes over the claims of each whose lease has not changed for the timeout (`LeaseObserver`),
/// handing them to the worker through the queue. On a local inbox with one daemon it only
/// touches a file now and then.
final class LeaseKeeper: Service, @unchecked Sendable {
    let threadName = "lease-keeper"
    let spool: Spool
    let queue: WorkQueue
    let counters: DaemonCounters
    let logger: Logger
    let timeoutSeconds: Double
    private let stopping = StopFlag()
    /// The last renewal's error, once said.
    private var renewalProblem: String?

    init(spool: Spool, queue: WorkQueue, counters: DaemonCounters, logger: Logger, timeoutSeconds: Double) {
        self.spool = spool
        self.queue = queue
        self.counters = counters
        self.logger = logger
        self.timeoutSeconds = timeoutSeconds
    }

    /// A quarter of the timeout, at most 5 s: a lease renewed late once is not taken for dead.
    var renewalSeconds: Double { min(5, timeoutSeconds / 4) }

    func run() {
        var observer = LeaseObserver(timeoutSeconds: timeoutSeconds)
        repeat {
            renew()
            do {
                for owner in observer.lapsed(try spool.otherOwners(), me: spool.owner, now: monotonicMicroseconds()) {
                    guard let inputs = try spool.adopt(owner) else { continue }
                    counters.adopted(inputs.count)
                    logger.warning("took over \(inputs.count) claimed input(s) of \(owner.directoryName), whose lease lapsed",
                                   metadata: ["instance": "\(owner.directoryName)"])
                    queue.offerClaims(inputs)
                }
            } catch {
                logger.error("cannot look at the other instances' claims: \(error)", metadata: ["error": "\(error)"])
            }
        } while !stopping.pause(seconds: renewalSeconds)
    }

    private func renew() {
        do {
            if try spool.renewLease() {
                logger.error("another instance took over this one's claims while its lease had lapsed: those inputs are answered there",
                             metadata: ["file": "\(spool.ownClaims)"])
            }
            if renewalProblem != nil { logger.notice("the lease is renewed again") }
            renewalProblem = nil
        } catch {
            if renewalProblem == nil {
                logger.error("cannot renew this instance's lease; others will take its claims over after the timeout: \(error)",
                             metadata: ["file": "\(spool.lease)", "error": "\(error)"])
            }
            renewalProblem = "\(error)"
        }
    }

    func stop() { stopping.raise() }
}
