@testable import InputSpool
import SystemResources
import XCTest

/// Several owners (daemons on several hosts) on one spool's directories: claims are exclusive,
/// a dead owner's claims are taken over once, and what a live owner needs is left alone.
final class SharedSpoolTests: XCTestCase {
    var root = ""
    let csv = Outcome.classified(csv: Array("source,label\r\n".utf8))

    override func setUpWithError() throws {
        root = "/tmp/mnistd-shared-spool-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func spool(_ instance: String, host: String = "host-a", boot: String = "b00t") throws -> Spool {
        try Spool(directories: StateDirectories(stateDirectory: root), owner: ClaimOwner(instance: instance, host: host, boot: boot))
    }

    func drop(_ names: [String]) throws {
        for name in names { try Data("input".utf8).write(to: URL(fileURLWithPath: "\(root)/inbox/\(name)")) }
    }

    func contents(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(directory)").sorted()
    }

    func testOwnersRacingForTheSameNamesClaimEachFileOnce() throws {
        let names = (0..<200).map { "digit-\($0).png" }
        let first = try spool("one"), second = try spool("two")
        try drop(names)
        final class Claims: @unchecked Sendable { var names: [[String]] = [[], []] }
        let claims = Claims()
        let spools = [first, second]
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            // Opposite orders, so that the two meet in the middle and race for every name there.
            for name in index == 0 ? names : names.reversed() {
                claims.names[index] += ((try? spools[index].claim([name]).claimed) ?? []).map(\.name)
            }
        }
        XCTAssertEqual(Set(claims.names[0]).intersection(claims.names[1]), [])
        XCTAssertEqual(Set(claims.names[0] + claims.names[1]), Set(names))
        XCTAssertFalse(claims.names[0].isEmpty || claims.names[1].isEmpty)
    }

    /// The dead owner had published one report and left another half-written: the owner that
    /// takes over publishes each once; a second taker gets nothing; the first owner, back from a
    /// pause longer than the lease, finds its claims gone and publishes nothing.
    func testALapsedOwnersClaimsAreTakenOverOnceAndNotAnsweredByItAnyMore() throws {
        let paused = try spool("paused"), taker = try spool("taker"), late = try spool("late")
        try drop(["a.png", "b.png"])
        let (claimed, _) = try paused.claim(["a.png", "b.png"])
        XCTAssertEqual(claimed.count, 2)
        let temporaryA = "\(root)/outbox/\(Spool.temporaryName(claimed[0].id))"
        try Data("source,label\r\n".utf8).write(to: URL(fileURLWithPath: temporaryA))
        XCTAssertEqual(link(temporaryA, "\(root)/outbox/a.png.csv"), 0)
        try Data("sou".utf8).write(to: URL(fileURLWithPath: "\(root)/outbox/\(Spool.temporaryName(claimed[1].id))"))

        let adopted = try XCTUnwrap(try taker.adopt(paused.owner))
        XCTAssertEqual(adopted.map(\.name), ["a.png", "b.png"])
        XCTAssertNil(try late.adopt(paused.owner), "one rename, one winner")
        let committed = try taker.commit(adopted.map { ($0, csv) })
        taker.settle()
        XCTAssertEqual(committed.map(\.report), ["\(root)/outbox/a.png.csv", "\(root)/outbox/b.png.csv"])

        // The paused owner wakes: its commit publishes nothing, and its lease renewal says why.
        let stale = try paused.commit(claimed.map { ($0, csv) })
        XCTAssertEqual(stale.map(\.report), [nil, nil])
        XCTAssertEqual(try contents("outbox"), ["a.png.csv", "b.png.csv"])
        XCTAssertEqual(try String(contentsOfFile: "\(root)/outbox/b.png.csv", encoding: .utf8), "source,label\r\n")
        XCTAssertEqual(try contents("processed"), ["a.png", "b.png"])
        XCTAssertFalse(try paused.renewLease(), "its new directory is its own")
        // It goes on claiming into a new directory of its own.
        try drop(["c.png"])
        let next = try paused.claim(["c.png"]).claimed
        XCTAssertEqual(try paused.commit(next.map { ($0, csv) }).map(\.report), ["\(root)/outbox/c.png.csv"])
        // The taker's directory holds nothing of the dead owner's once settled.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: taker.ownClaims).filter { $0 != "lease" }, [])
    }

    /// A daemon starting beside a live one removes its own leftovers only: the other's reports
    /// written ahead under temporary names stay until it publishes them.
    func testAStartingOwnerLeavesTheTemporariesOfALiveOneAlone() throws {
        let live = try spool("live")
        let names = ["a.png", "b.png", "c.png"]
        try drop(names)
        let (claimed, _) = try live.claim(names)
        live.prepare(claimed.map { ($0, csv) })
        let written = try contents("outbox")
        XCTAssertEqual(written.count, 3)
        // An earlier run of the starting owner left a temporary of a finished claim.
        let starting = try spool("starting")
        let leftover = ".mnistd-\(starting.owner.tag)_1-1-abc.tmp"
        FileManager.default.createFile(atPath: "\(root)/outbox/\(leftover)", contents: Data())
        XCTAssertEqual(try starting.unfinished(), [])
        XCTAssertEqual(try contents("outbox"), written, "its own leftover removed, the live owner's kept")
        XCTAssertEqual(try live.commit(claimed.map { ($0, csv) }).compactMap(\.report).count, 3)
    }

    /// A live owner claims and settles batches all the time, so its batch directories come and go
    /// while a restarting owner looks through them for the temporaries still needed: one that
    /// vanishes there must not keep the restarting owner from finishing its own claims (it found
    /// none, and they stayed claimed until its next restart).
    func testARestartingOwnerFindsItsClaimsWhileALiveOnesBatchesComeAndGo() throws {
        let restarting = try spool("restarting"), live = try spool("live")
        try drop(["mine.png"])
        XCTAssertEqual(try restarting.claim(["mine.png"]).claimed.count, 1)
        final class Flag: @unchecked Sendable { var stop = false }
        let flag = Flag()
        let churn = Thread {
            var index = 0
            while !flag.stop {
                let batch = "\(live.ownClaims)/\(live.owner.tag)_churn-\(index % 4)"
                mkdir(batch, 0o700)
                rmdir(batch)
                index += 1
            }
        }
        churn.start()
        defer { flag.stop = true }
        let deadline = Date().addingTimeInterval(2)
        var looks = 0
        while Date() < deadline {
            XCTAssertEqual(try restarting.unfinished().map(\.name), ["mine.png"])
            looks += 1
        }
        XCTAssertGreaterThan(looks, 100)
    }

    /// A daemon of the layout before owners left a batch claimed at the top of `claimed/`; after
    /// the upgrade two instances start on the inbox at once: one of them finishes it, not both.
    func testABatchOfTheLayoutWithoutOwnersIsFinishedByOneOwnerOnly() throws {
        let first = try spool("first"), second = try spool("second")
        let legacy = "\(root)/inbox/.claimed/18f3a-2"
        try FileManager.default.createDirectory(atPath: legacy, withIntermediateDirectories: true)
        try Data("input".utf8).write(to: URL(fileURLWithPath: "\(legacy)/a.png"))
        let taken = try first.unfinished()
        XCTAssertEqual(taken.map(\.name), ["a.png"])
        XCTAssertEqual(try second.unfinished(), [], "the other instance's already")
        XCTAssertEqual(try first.commit(taken.map { ($0, csv) }).compactMap(\.report).count, 1)
        XCTAssertEqual(try contents("outbox").filter { !$0.hasPrefix(".") }, ["a.png.csv"])
    }

    /// Taken over between its start and its look at what is left (its lease had lapsed while it
    /// was down): the starting owner makes its directory again and still takes the batches of
    /// the layout without owners, rather than taking its missing directory for another
    /// instance having taken them.
    func testAnOwnerTakenOverAsItStartsStillTakesTheBatchesWithoutOwners() throws {
        let starting = try spool("starting")
        let legacy = "\(root)/inbox/.claimed/18f3a-2"
        try FileManager.default.createDirectory(atPath: legacy, withIntermediateDirectories: true)
        try Data("input".utf8).write(to: URL(fileURLWithPath: "\(legacy)/a.png"))
        let taker = try spool("taker")
        XCTAssertEqual(try taker.adopt(starting.owner), [])
        XCTAssertEqual(try starting.unfinished().map(\.name), ["a.png"])
    }

    /// A starting owner removes only the temporaries of claims it holds. Whether another
    /// owner still needs one cannot be told by looking: its claim may be in flight at that very
    /// moment — a directory being taken over (renamed from one owner's into another's), a batch
    /// of the layout without owners being taken by an instance that started at the same time.
    /// A published report whose temporary went is published again: two CSVs for one input.
    func testAStartingOwnerRemovesOnlyTheTemporariesOfClaimsItHolds() throws {
        let dead = try spool("dead"), taker = try spool("taker")
        try drop(["x.png"])
        let claimed = try dead.claim(["x.png"]).claimed
        let temporary = "\(root)/outbox/\(Spool.temporaryName(claimed[0].id))"
        try Data("source,label\r\n".utf8).write(to: URL(fileURLWithPath: temporary))
        XCTAssertEqual(link(temporary, "\(root)/outbox/x.png.csv"), 0)
        let adopted = try XCTUnwrap(try taker.adopt(dead.owner))
        // The taker's directory in flight (another owner taking it over) while one more starts.
        let away = "\(root)/in-flight"
        XCTAssertEqual(rename(taker.ownClaims, away), 0)
        // And a temporary of the layout without owners whose batch another instance is taking.
        let unowned = "\(root)/outbox/\(Spool.temporaryName(Spool.claimID(batch: "18f3a-2", name: "y.png")))"
        XCTAssertTrue(FileManager.default.createFile(atPath: unowned, contents: Data("source,label\r\n".utf8)))
        XCTAssertEqual(try spool("starting").unfinished(), [])
        XCTAssertNotNil(linkStatus(temporary), "the taken-over owner's temporary")
        XCTAssertNotNil(linkStatus(unowned), "the temporary of the layout without owners")
        XCTAssertEqual(rename(away, taker.ownClaims), 0)
        _ = try taker.commit(adopted.map { ($0, csv) })
        XCTAssertEqual(try contents("outbox").filter { !$0.hasPrefix(".") }, ["x.png.csv"], "answered once")
    }

    /// A live owner's published report keeps its temporary until its input's move is on disk:
    /// another owner starting meanwhile must not remove it, or a power failure that undoes the
    /// move would have the input answered twice.
    func testAStartingOwnerLeavesTheTemporariesOfACommitNotYetSettled() throws {
        let live = try spool("live")
        try drop(["a.png"])
        let claimed = try live.claim(["a.png"]).claimed
        _ = try live.commit(claimed.map { ($0, csv) })
        XCTAssertEqual(try spool("starting").unfinished(), [])
        // The power failure: the input's move to processed/ had not reached the disk.
        XCTAssertEqual(rename("\(root)/processed/a.png", claimed[0].path), 0)
        let restarted = try spool("live")
        let pending = try restarted.unfinished()
        XCTAssertEqual(pending.map(\.name), ["a.png"])
        _ = try restarted.commit(pending.map { ($0, csv) })
        XCTAssertEqual(try contents("outbox").filter { !$0.hasPrefix(".") }, ["a.png.csv"], "answered once")
    }

    /// An owner that took others over and then died is taken over in turn, with theirs.
    func testClaimsTakenOverTwiceAreFinishedByTheLastTaker() throws {
        let first = try spool("first"), second = try spool("second"), third = try spool("third")
        try drop(["a.png", "b.png"])
        XCTAssertEqual(try first.claim(["a.png"]).claimed.count, 1)
        XCTAssertEqual(try second.claim(["b.png"]).claimed.count, 1)
        XCTAssertEqual(try second.adopt(first.owner)?.count, 1)
        // The second dies before finishing: a restart of the third, or its lease watch, finds both.
        let adopted = try XCTUnwrap(try third.adopt(second.owner))
        XCTAssertEqual(adopted.map(\.name).sorted(), ["a.png", "b.png"])
        _ = try third.commit(adopted.map { ($0, csv) })
        third.settle()
        XCTAssertEqual(try contents("outbox"), ["a.png.csv", "b.png.csv"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: third.ownClaims), ["lease"])
    }

    func testALeaseLapsesOnlyWhenItStaysUnchangedForTheTimeout() {
        let me = ClaimOwner(instance: "mnistd", host: "a", boot: "1")
        let other = ClaimOwner(instance: "mnistd", host: "b", boot: "1")
        var observer = LeaseObserver(timeoutSeconds: 60)
        // The other host's clock is a day behind: only change counts.
        let dayAgo = LeaseStamp(timespec(tv_sec: 1_000, tv_nsec: 0))
        XCTAssertEqual(observer.lapsed([(other, dayAgo)], me: me, now: 0), [])
        XCTAssertEqual(observer.lapsed([(other, dayAgo)], me: me, now: 59_000_000), [])
        let renewed = LeaseStamp(timespec(tv_sec: 1_005, tv_nsec: 0))
        XCTAssertEqual(observer.lapsed([(other, renewed)], me: me, now: 70_000_000), [], "renewed: the wait starts again")
        XCTAssertEqual(observer.lapsed([(other, renewed)], me: me, now: 129_000_000), [])
        XCTAssertEqual(observer.lapsed([(other, renewed)], me: me, now: 130_000_000), [other])
        // No lease at all counts as unchanged too; an earlier boot of this owner is dead at once.
        let earlierBoot = ClaimOwner(instance: "mnistd", host: "a", boot: "0")
        var fresh = LeaseObserver(timeoutSeconds: 60)
        XCTAssertEqual(fresh.lapsed([(other, nil), (earlierBoot, renewed)], me: me, now: 0), [earlierBoot])
        XCTAssertEqual(fresh.lapsed([(other, nil)], me: me, now: 60_000_000), [other])
    }

    func testOwnerNamesRoundTripAndAreTolerantOfOddHostNames() {
        let owner = ClaimOwner(instance: "scanner 2", host: "a@b/c", boot: "1f2e")
        XCTAssertEqual(owner.directoryName, "scanner_2@a_b_c@1f2e")
        XCTAssertEqual(ClaimOwner(directoryName: owner.directoryName), owner)
        XCTAssertNil(ClaimOwner(directoryName: "18f3a-2"), "a batch of the layout without owners")
        XCTAssertEqual(ClaimOwner.tag(ofClaim: "\(owner.tag)_18f3a-2-9c"), owner.tag)
        XCTAssertNil(ClaimOwner.tag(ofClaim: "18f3a-2-9c"))
        XCTAssertEqual(ClaimOwner.current(instance: "x").boot, ClaimOwner.bootID())
        XCTAssertEqual(ClaimOwner.bootID()?.count, 12)
        XCTAssertEqual(ClaimOwner.bootMinute(), ClaimOwner.bootMinute())
    }
}
