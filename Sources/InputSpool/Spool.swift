#if canImport(Glibc)
import Glibc
#endif
import SystemResources

/// The directories the daemon works in.
public struct StateDirectories: Sendable {
    /// Where the others are by default, and models/ and datasets/ always.
    public let stateDirectory: String
    public var inbox: String
    public var outbox: String
    public var failed: String
    public var processed: String
    /// Model versions (`ModelStore`).
    public var models: String
    /// Labeled datasets to retrain on.
    public var datasets: String

    public init(stateDirectory: String, inbox: String? = nil, outbox: String? = nil, failed: String? = nil, processed: String? = nil) {
        self.stateDirectory = stateDirectory
        self.inbox = inbox ?? "\(stateDirectory)/inbox"
        self.outbox = outbox ?? "\(stateDirectory)/outbox"
        self.failed = failed ?? "\(stateDirectory)/failed"
        self.processed = processed ?? "\(stateDirectory)/processed"
        models = "\(stateDirectory)/models"
        datasets = "\(stateDirectory)/datasets"
    }

    /// Claimed inputs live inside the inbox (hidden, so never taken for a new arrival): a
    /// rename there is atomic because it never leaves the inbox's filesystem. Each owner
    /// (`ClaimOwner`) claims into a directory of its own there.
    public var claimed: String { "\(inbox)/.claimed" }
}

/// An input taken out of the inbox, at `claimed/<batch>/<name>`, until its outcome is committed.
public struct ClaimedInput: Sendable, Equatable {
    public let id: String
    public let name: String
    let directory: String
    /// Which of this owner's claim directories it was claimed into: a new one is made when
    /// another owner took the last one over (`Spool.ownership`).
    var generation = 0

    public var path: String { "\(directory)/\(name)" }
}

/// What became of one input.
public enum Outcome: Sendable, Equatable {
    /// Its predictions, as the CSV to publish in the outbox.
    case classified(csv: [UInt8])
    /// Why it could not be classified, for the `.error` file beside it in failed/.
    case failed(reason: String)
}

/// Where an input's report and the input itself ended up.
public struct Committed: Sendable, Equatable {
    public let input: ClaimedInput
    /// The published file: `outbox/<name>.csv` or `failed/<name>.error`, as a path; nil when
    /// another owner took the claim over (this one's lease had lapsed): the input is that
    /// owner's to answer, and nothing was published here.
    public let report: String?
    /// Where the input now is (nil when processed inputs are deleted).
    public let movedTo: String?
}

/// The life of an input, made safe against a crash and a power failure: claimed by an atomic
/// rename out of the inbox, its report written under a temporary name unique to the claim,
/// the report, the input and the claim flushed to disk, the report linked to its public name
/// (never replacing a file) and that name flushed, then the input renamed to processed/ or
/// failed/. Every step can be redone after a crash, and `unfinished()` tells which inputs
/// need it: a report already published is recognised by its temporary's inode and never
/// written twice. A batch's files are flushed together: one syncfs where the filesystem makes
/// that a barrier, else an fdatasync per file after writeback has started for all of them
/// (`FlushMethod`); a batch of one or two fsyncs its files on any filesystem.
///
/// Several daemons may share one inbox (a network filesystem): each claims into its owner's
/// directory (`ClaimOwner`), keeps a lease there (`renewLease`), and takes over the directory
/// of an owner whose lease lapsed (`adopt`), finishing its claims as a restart would.
public final class Spool: @unchecked Sendable {
    public let directories: StateDirectories
    public let owner: ClaimOwner
    let deleteProcessed: Bool
    /// syncfs only if it is a barrier for the inbox's filesystem and the outbox's.
    public let flushMethod: FlushMethod
    private let lock = ConditionLock()
    private var claims: UInt64 = 0
    /// Temporaries and claim directories of committed batches, removed after the next flush.
    private var unsettled: [String] = []
    private var unsettledClaims: Set<String> = []
    /// Claims whose report `prepare` wrote whole under its temporary name, for `commit` to use
    /// as it is when it flushes the batch as a whole (a temporary found otherwise may be a
    /// crash's half-written one).
    private var prepared: Set<String> = []
    /// A claim directory made ahead (`prepareClaimDirectory`), for the next `claim`.
    private var spareClaim: String?
    /// The inode of the owner's directory this spool made, and how many it has made: when
    /// another owner takes one over, a new one is made and the claims in the old one are no
    /// longer this spool's to publish.
    private var ownership: (inode: ino_t, generation: Int)

    /// This owner's directory in `claimed`: its batches, its lease, and the directories of the
    /// owners it took over.
    public var ownClaims: String { "\(directories.claimed)/\(owner.directoryName)" }
    /// Touched every few seconds while its owner lives.
    public var lease: String { "\(ownClaims)/\(Self.leaseName)" }
    static let leaseName = "lease"

    /// `flushMethod` nil: chosen by the filesystems (the benchmark compares both).
    public init(directories: StateDirectories, owner: ClaimOwner = .current(instance: "mnistd"), deleteProcessed: Bool = false,
                flushMethod: FlushMethod? = nil) throws {
        self.directories = directories
        self.owner = owner
        self.deleteProcessed = deleteProcessed
        let ownClaims = "\(directories.claimed)/\(owner.directoryName)"
        for directory in [directories.inbox, directories.claimed, ownClaims, directories.outbox, directories.failed, directories.processed]
        where linkStatus(directory) == nil {
            try makeDirectories(directory)
        }
        ownership = (linkStatus(ownClaims)?.st_ino ?? 0, 0)
        try Self.checkInputsCanMove(directories, deleteProcessed: deleteProcessed)
        let chosen = [directories.inbox, directories.outbox].map(FlushMethod.forFileSystem(containing:))
        self.flushMethod = flushMethod ?? (chosen.allSatisfy { $0 == .wholeFileSystem } ? .wholeFileSystem : .eachFile)
        _ = try renewLease()
    }

    /// Inputs move from the inbox to the claim directory, processed/ and failed/ by rename and
    /// link, which work only within one mount (a bind mount of the same filesystem is another
    /// one): tried at start with a probe file, to say so rather than strand every input.
    package static func checkInputsCanMove(_ directories: StateDirectories, deleteProcessed: Bool) throws {
        let probeName = ".mnistd-probe-\(getpid())"
        let probe = "\(directories.inbox)/\(probeName)"
        unlink(probe)
        // A probe that cannot be made leaves the question to the first commit, which says why.
        guard (try? createFile(probe, [], sync: false)) != nil else { return }
        defer { unlink(probe) }
        for directory in [directories.claimed, directories.failed] + (deleteProcessed ? [] : [directories.processed]) {
            let target = "\(directory)/\(probeName)"
            unlink(target)
            if link(probe, target) == 0 {
                unlink(target)
            } else if errno == EXDEV {
                throw FileSystemError("use \(directory) with inbox \(directories.inbox): they must be on the same mount (inputs move by rename)", directory, code: EXDEV)
            }
        }
    }

    /// Makes the directories again if someone removed them; errors are left for the next
    /// commit to report.
    public func recreateDirectories() {
        for directory in [directories.outbox, directories.failed, directories.processed] { try? makeDirectories(directory) }
    }

    /// Takes names out of the inbox, together into one claim directory (one directory per
    /// batch rather than per file: creating and removing directories is what costs). Names
    /// that are gone (claimed already) or are directories are skipped; names that cannot be
    /// moved are returned with the reason.
    public func claim(_ names: [String]) throws -> (claimed: [ClaimedInput], refused: [(name: String, error: FileSystemError)]) {
        let generation = try checkOwnership().generation
        let spare = lock.withLock { defer { spareClaim = nil }; return spareClaim }
        // A spare someone removed would make every rename fail as if its file were gone.
        let batch = try spare.flatMap { linkStatus("\(ownClaims)/\($0)") == nil ? nil : $0 } ?? makeClaimDirectory()
        let directory = "\(ownClaims)/\(batch)"
        var claimed: [ClaimedInput] = []
        var refused: [(name: String, error: FileSystemError)] = []
        for name in names {
            let source = "\(directories.inbox)/\(name)"
            guard let info = linkStatus(source), info.st_mode & S_IFMT != S_IFDIR else { continue }
            let input = ClaimedInput(id: Self.claimID(batch: batch, name: name), name: name, directory: directory, generation: generation)
            if rename(source, input.path) == 0 {
                claimed.append(input)
            } else if errno != ENOENT {
                refused.append((name, FileSystemError("claim", source)))
            }
        }
        if claimed.isEmpty { rmdir(directory) }
        return (claimed, refused)
    }

    /// Makes the next claim's directory ahead, off the path of the next arrival (creating a
    /// directory can cost a third of a millisecond on ext4). One left by a crash is empty, and
    /// removed by the next start's `unfinished()`.
    public func prepareClaimDirectory() {
        guard lock.withLock({ spareClaim == nil }), let batch = try? makeClaimDirectory() else { return }
        lock.withLock { spareClaim = batch }
    }

    /// Removes the directory made ahead, at a clean stop.
    public func discardSpareClaimDirectory() {
        guard let spare = lock.withLock({ defer { spareClaim = nil }; return spareClaim }) else { return }
        rmdir("\(ownClaims)/\(spare)")
    }

    /// Removes this owner's directory at a clean stop when nothing is left claimed in it, so
    /// that no other owner waits for its lease to lapse.
    public func retire() {
        discardSpareClaimDirectory()
        guard (try? directoryEntries(ownClaims)) == [Self.leaseName] else { return }
        unlink(lease)
        rmdir(ownClaims)
        syncDirectory(directories.claimed)
    }

    private func makeClaimDirectory() throws -> String {
        while true {
            // The owner's tag, so that the claim ids (and the temporaries named after them) say
            // whose they are; then time, so that ids stay unique across restarts; the counter within one.
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let sequence = lock.withLock { claims += 1; return claims }
            let time = String(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000, radix: 16)
            let id = "\(owner.tag)_\(time)-\(String(sequence, radix: 16))"
            if mkdir("\(ownClaims)/\(id)", 0o700) == 0 { return id }
            if errno == ENOENT, try checkOwnership().takenOver { continue }
            guard errno == EEXIST else { throw FileSystemError("create claim directory in", ownClaims) }
        }
    }

    /// A claim's id: its batch and a hash of its name (unique within the batch, whose names
    /// are unique), so that it can be derived again after a crash.
    static func claimID(batch: String, name: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return "\(batch)-\(String(hash, radix: 16))"
    }

    /// Inputs this owner claimed before a crash that still need finishing (those of owners it
    /// took over, and of the layout without owners, included); removes what finished inputs
    /// left behind (empty claim directories, published reports' temporary names). Only this
    /// owner's directory is read: the others' change under a reader's feet (a live owner
    /// settles its batches, owners are taken over and take over), and what they need is theirs
    /// to judge.
    public func unfinished() throws -> [ClaimedInput] {
        // This owner's directory is there (made again if another owner took it meanwhile)
        // before the layout without owners is moved into it.
        let generation = try checkOwnership().generation
        let unowned = try directoryEntries(directories.claimed).sorted().filter { name in
            ClaimOwner(directoryName: name) == nil
                && linkStatus("\(directories.claimed)/\(name)").map { $0.st_mode & S_IFMT == S_IFDIR } == true
        }
        let taken = takeIntoOwnClaims(unowned)
        let own = try claims(underOwner: ownClaims)
        let batches = taken + own.batches
        // What the last run did is on disk before its leftovers are judged by it.
        try flushDirectories(batches + [ownClaims])
        let pending = try inputs(inBatches: batches, generation: generation)
        let tags = Set([owner.tag] + own.ownersTakenOver.map(\.tag))
        removeEmptyOwners(under: ownClaims)
        // Only the temporaries of claims this owner holds, its own and those of the owners it
        // took over: nobody else can still need one of those whose claim is finished. Another
        // owner's, or one of the layout without owners (which any instance may have taken),
        // is left: a leftover costs a file, a wrong removal an answer twice.
        let live = Set(pending.map(\.id))
        removeTemporaries { id in !live.contains(id) && ClaimOwner.tag(ofClaim: id).map(tags.contains) == true }
        return pending
    }

    /// Moves batches of the layout before owners (`claimed/<batch>`) into this owner's
    /// directory, each by one rename: of several instances starting at once after an upgrade,
    /// one finishes each batch. Returns the batches that could not be moved (still there, for a
    /// reason other than another instance taking them first), to be finished where they are.
    private func takeIntoOwnClaims(_ unowned: [String]) -> [String] {
        unowned.compactMap { name in
            let source = "\(directories.claimed)/\(name)"
            if rename(source, "\(ownClaims)/\(name)") == 0 { return nil }
            return errno == ENOENT && linkStatus(source) == nil ? nil : source
        }
    }

    /// The batch directories under an owner's directory, those of the owners it took over
    /// included, at any depth, and those owners.
    private func claims(underOwner directory: String) throws -> (batches: [String], ownersTakenOver: [ClaimOwner]) {
        var batches: [String] = [], owners: [ClaimOwner] = []
        for name in try directoryEntries(directory).sorted() {
            let path = "\(directory)/\(name)"
            guard linkStatus(path).map({ $0.st_mode & S_IFMT == S_IFDIR }) == true else { continue }
            guard let taken = ClaimOwner(directoryName: name) else {
                batches.append(path)
                continue
            }
            let below = try claims(underOwner: path)
            batches += below.batches
            owners += [taken] + below.ownersTakenOver
        }
        return (batches, owners)
    }

    /// The inputs claimed in batch directories; empty ones are removed.
    private func inputs(inBatches batches: [String], generation: Int) throws -> [ClaimedInput] {
        var pending: [ClaimedInput] = []
        for directory in batches {
            let names = try directoryEntries(directory).sorted()
            if names.isEmpty { rmdir(directory) }
            let batch = String(directory[directory.index(after: directory.lastIndex(of: "/")!)...])
            pending += names.map { ClaimedInput(id: Self.claimID(batch: batch, name: $0), name: $0, directory: directory, generation: generation) }
        }
        return pending
    }

    /// Removes, below an owner's directory, the directories of owners taken over that hold nothing more.
    private func removeEmptyOwners(under directory: String) {
        for name in (try? directoryEntries(directory)) ?? [] where ClaimOwner(directoryName: name) != nil {
            let taken = "\(directory)/\(name)"
            removeEmptyOwners(under: taken)
            unlink("\(taken)/\(Self.leaseName)")
            rmdir(taken)
        }
    }

    /// Removes the reports' temporaries in outbox/ and failed/ whose claim id `isLeftover` says.
    private func removeTemporaries(where isLeftover: (String) -> Bool) {
        for directory in [directories.outbox, directories.failed] {
            for name in (try? directoryEntries(directory)) ?? [] {
                guard let id = Self.claimID(ofTemporary: name), isLeftover(id) else { continue }
                unlink("\(directory)/\(name)")
            }
        }
    }

    static func temporaryName(_ id: String) -> String { ".mnistd-\(id).tmp" }

    /// Batches this small fsync each report instead of flushing the whole filesystem.
    static let filesFlushedAlone = 2
    /// Leftovers of committed batches kept at most before `settle` runs anyway.
    static let maximumUnsettled = 256

    static func claimID(ofTemporary name: String) -> String? {
        guard name.hasPrefix(".mnistd-"), name.hasSuffix(".tmp") else { return nil }
        return String(name.dropFirst(".mnistd-".count).dropLast(".tmp".count))
    }

    /// Writes a batch's reports under their temporary names ahead of `commit`, on the caller's
    /// thread: creating files is what costs most on some filesystems (ext4 without a journal
    /// checks recently deleted inodes one by one), and the classifier has time the writer lacks.
    /// A report that cannot be written here is left for `commit`, which tells why. Batches of
    /// one or two, whose files are fsynced one by one, are left to `commit` whole.
    public func prepare(_ batch: [(ClaimedInput, Outcome)]) {
        guard batch.count > Self.filesFlushedAlone else { return }
        for (input, outcome) in batch {
            let (directory, _, bytes) = destination(of: outcome)
            let temporary = "\(directory)/\(Self.temporaryName(input.id))"
            // Only a fresh temporary: one already there (a crash's) is commit's to judge.
            guard (try? createFile(temporary, bytes, sync: false)) != nil else { continue }
            _ = lock.withLock { prepared.insert(input.id) }
        }
    }

    /// Where an outcome's report goes, its suffix and its bytes.
    private func destination(of outcome: Outcome) -> (directory: String, suffix: String, bytes: [UInt8]) {
        switch outcome {
        case .classified(let csv): (directories.outbox, ".csv", csv)
        case .failed(let reason): (directories.failed, ".error", Array((reason + "\n").utf8))
        }
    }

    /// Publishes the outcomes of a batch of claimed inputs with one flush to disk for all: the
    /// reports are written, flushed with the inputs and linked under their names, then the
    /// inputs leave their claims. Claims another owner took over are left to it.
    public func commit(_ batch: [(ClaimedInput, Outcome)]) throws -> [Committed] {
        let generation = try checkOwnership().generation
        var owned = try commitOwned(batch.filter { $0.0.generation == generation }).makeIterator()
        return batch.map { input, _ in input.generation == generation ? owned.next()! : Committed(input: input, report: nil, movedTo: nil) }
    }

    private func commitOwned(_ batch: [(ClaimedInput, Outcome)]) throws -> [Committed] {
        guard !batch.isEmpty else { return [] }
        var reports = try writeReports(batch)
        let reportDirectories = Set(reports.map(\.directory))
        // syncfs flushes everything dirty on the filesystem, ours or not: worth it for a
        // batch, not for one or two files.
        if flushMethod == .wholeFileSystem && batch.count > Self.filesFlushedAlone {
            for directory in reportDirectories.union([directories.inbox]) { try syncFileSystem(containing: directory) }
            removeSettled()
        } else {
            // The inputs too, so that what processed/ and failed/ keep is whole (a deleted
            // one needs nothing); and the claims' renames, so that an input whose report is
            // published cannot reappear in the inbox.
            let inputs = zip(batch, reports).filter { !(deleteProcessed && $0.1.directory == directories.outbox) }.map(\.0.0.path)
            try flushFiles(reports.filter { $0.name == nil }.map(\.temporary) + inputs)
            for directory in Set(batch.map(\.0.directory)).union([directories.inbox]) { syncDirectory(directory) }
        }
        for index in reports.indices where reports[index].name == nil {
            let report = reports[index]
            let isFailure = report.directory == directories.failed
            reports[index].name = try place(
                report.temporary, into: report.directory, preferred: batch[index].0.name, suffix: report.suffix, by: .link,
                // A failed input takes the name of its `.error` file, so that name must be free too.
                taken: { isFailure && linkStatus("\(report.directory)/\($0)") != nil })
        }
        // The reports' names must be on disk before any input leaves its claim.
        for directory in reportDirectories { syncDirectory(directory) }
        let committed = try zip(batch, reports).map { try release($0.0, $0.1, report: $1) }
        // The moves are atomic renames and need no flush of their own: until one is on disk,
        // the input is still claimed and its temporary still says its report is published. So
        // temporaries and claim directories go only after a later flush (`removeSettled`).
        let backlog = lock.withLock {
            unsettled += reports.map(\.temporary)
            unsettledClaims.formUnion(batch.map(\.0.directory))
            return unsettled.count
        }
        // A steady trickle of single files never leaves the writer idle: settle now and then.
        if backlog >= Self.maximumUnsettled { settle() }
        return committed
    }

    /// A report on its way: its temporary file, and its published name once it has one.
    private struct PendingReport {
        let directory: String
        let suffix: String
        let temporary: String
        var name: String?
    }

    /// Each outcome's report in its temporary file (not yet flushed), unless `prepare` wrote it
    /// already or an earlier attempt published it (its name is then known).
    private func writeReports(_ batch: [(ClaimedInput, Outcome)]) throws -> [PendingReport] {
        let written = lock.withLock { batch.map { prepared.remove($0.0.id) != nil } }
        return try zip(batch, written).map { item, wasPrepared in
            let (input, outcome) = item
            let (directory, suffix, bytes) = destination(of: outcome)
            let temporary = "\(directory)/\(Self.temporaryName(input.id))"
            var report = PendingReport(directory: directory, suffix: suffix, temporary: temporary)
            // Written whole by `prepare`, this process: on disk by the time it is linked.
            if wasPrepared { return report }
            // A temporary already there is left by a crash or by an attempt the disk refused:
            // if it was published, that name stands; otherwise it is written again.
            if let existing = linkStatus(temporary) {
                if existing.st_nlink > 1, let published = entry(in: directory, sameFileAs: existing, excluding: Self.temporaryName(input.id)) {
                    report.name = String(published.dropLast(suffix.count))
                    return report
                }
                unlink(temporary)
            }
            try createFile(temporary, bytes, sync: false)
            return report
        }
    }

    /// The input, its report published, leaves its claim: deleted, or moved beside its report's
    /// kind (processed or failed) under the report's name.
    private func release(_ input: ClaimedInput, _ outcome: Outcome, report: PendingReport) throws -> Committed {
        let reportName = report.name!
        var movedTo: String? = nil
        if case .classified = outcome, deleteProcessed {
            if unlink(input.path) != 0 && errno != ENOENT { throw FileSystemError("delete", input.path) }
        } else {
            let destination = report.directory == directories.failed ? directories.failed : directories.processed
            movedTo = try move(input, into: destination, preferred: reportName)
        }
        return Committed(input: input, report: "\(report.directory)/\(reportName)\(report.suffix)", movedTo: movedTo)
    }

    /// Moves a claimed input into `directory` without replacing anything, atomically: it is
    /// either still claimed or moved, whenever a crash comes.
    private func move(_ input: ClaimedInput, into directory: String, preferred: String) throws -> String? {
        // Moved by a link whose unlink a crash cut short: it is there already.
        if let info = linkStatus(input.path), info.st_nlink > 1,
           let moved = entry(in: directory, sameFileAs: info, excluding: "") {
            unlink(input.path)
            return "\(directory)/\(moved)"
        }
        do {
            return "\(directory)/\(try place(input.path, into: directory, preferred: preferred, by: .rename))"
        } catch let error as FileSystemError where error.code == ENOENT {
            return nil  // removed from the claim directory by hand: nothing left to move
        }
    }

    /// Flushes the inputs' moves and removes what committed batches left (temporaries, empty
    /// claim directories): called when the writer is idle and before it stops.
    public func settle() {
        let claims = lock.withLock { unsettledClaims }
        guard (try? flushDirectories(Array(claims))) != nil else { return }
        removeSettled()
    }

    /// Makes the entries of the spool's directories and of `claims` durable (renames, links,
    /// removals): syncfs, or an fsync per directory.
    private func flushDirectories(_ claims: [String]) throws {
        let spool = [directories.inbox, directories.claimed, directories.outbox, directories.failed, directories.processed]
        switch flushMethod {
        case .wholeFileSystem: for directory in [directories.inbox, directories.outbox] { try syncFileSystem(containing: directory) }
        case .eachFile: for directory in spool + claims { syncDirectory(directory) }
        }
    }

    /// Removes the leftovers of batches committed before the last flush.
    private func removeSettled() {
        let (temporaries, claims) = lock.withLock {
            defer { unsettled.removeAll(); unsettledClaims.removeAll() }
            return (unsettled, unsettledClaims)
        }
        for temporary in temporaries { unlink(temporary) }
        // Fails, as it should, while other inputs of the same claim batch are still there.
        for directory in claims { rmdir(directory) }
        // Batches of owners taken over leave those owners' directories empty at last.
        if claims.contains(where: { !$0.hasPrefix(ownClaims + "/") || $0.dropFirst(ownClaims.count + 1).contains("/") }) {
            removeEmptyOwners(under: ownClaims)
        }
    }

    /// Whether this owner's directory is still the one it made; when another owner has taken it
    /// over, a new one is made (with its lease) and the generation of claims moves on.
    @discardableResult
    public func checkOwnership() throws -> (generation: Int, takenOver: Bool) {
        try lock.withLock {
            let current = linkStatus(ownClaims)
            if let current, current.st_ino == ownership.inode { return (ownership.generation, false) }
            if current == nil { try makeDirectories(ownClaims) }
            guard let made = linkStatus(ownClaims) else { throw FileSystemError("create", ownClaims) }
            ownership = (made.st_ino, ownership.generation + 1)
            spareClaim = nil
            return (ownership.generation, true)
        }
    }

    /// Touches this owner's lease, so that other owners see it alive. True when another owner
    /// had taken its directory over meanwhile (its claims are that owner's now).
    public func renewLease() throws -> Bool {
        let takenOver = try checkOwnership().takenOver
        _ = try touchLease()
        return takenOver
    }

    /// The time now by the clock that stamps the inbox's files (the file server's, or the
    /// writers' on filesystems whose clients stamp them): the lease touched and read back.
    /// Nil when the lease cannot be touched.
    public func fileSystemTime() -> LeaseStamp? { try? touchLease() }

    private func touchLease() throws -> LeaseStamp {
        let file = try FileDescriptor.open(lease, O_WRONLY | O_CREAT, mode: 0o644)
        var info = stat()
        guard futimens(file.rawValue, nil) == 0, fstat(file.rawValue, &info) == 0 else { throw FileSystemError("renew the lease", lease) }
        return LeaseStamp(info.st_mtim)
    }

    /// The other owners with a directory in `claimed`, each with when its lease was last
    /// touched (by its own clock; nil without a lease).
    public func otherOwners() throws -> [(owner: ClaimOwner, lease: LeaseStamp?)] {
        try directoryEntries(directories.claimed).sorted().compactMap { name in
            guard name != owner.directoryName, let other = ClaimOwner(directoryName: name) else { return nil }
            return (other, linkStatus("\(directories.claimed)/\(name)/\(Self.leaseName)").map { LeaseStamp($0.st_mtim) })
        }
    }

    /// Takes over the claims of `other`, whose lease lapsed: its directory moves into this
    /// owner's by one rename, which only one of several owners trying at once can win; its
    /// claims are returned to be finished as a restart finishes its own. Nil when another
    /// owner won.
    public func adopt(_ other: ClaimOwner) throws -> [ClaimedInput]? {
        let generation = try checkOwnership().generation
        let source = "\(directories.claimed)/\(other.directoryName)"
        let taken = "\(ownClaims)/\(other.directoryName)"
        guard rename(source, taken) == 0 else {
            if errno == ENOENT { return nil }
            throw FileSystemError("take over the claims in", source)
        }
        unlink("\(taken)/\(Self.leaseName)")
        let batches = try claims(underOwner: taken).batches
        try flushDirectories(batches + [taken, ownClaims])
        let pending = try inputs(inBatches: batches, generation: generation)
        removeEmptyOwners(under: ownClaims)
        // The temporaries of the reports it had finished: nobody needs them any more.
        let live = Set(pending.map(\.id))
        removeTemporaries { ClaimOwner.tag(ofClaim: $0) == other.tag && !live.contains($0) }
        return pending
    }

    /// Whether committed batches left anything for `settle` to remove.
    public var needsSettling: Bool { lock.withLock { !unsettled.isEmpty || !unsettledClaims.isEmpty } }
}
