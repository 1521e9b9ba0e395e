@testable import InputSpool
import SystemResources
import XCTest

final class SpoolTests: XCTestCase {
    var root = ""
    var spool: Spool!

    override func setUpWithError() throws {
        root = "/tmp/mnistd-spool-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        spool = try Spool(directories: StateDirectories(stateDirectory: root))
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func drop(_ name: String, _ text: String = "input") throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: "\(root)/inbox/\(name)"))
    }

    func contents(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(directory)").sorted()
    }

    /// The claim batches of the spool's owner.
    func batches() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: spool.ownClaims).filter { $0 != "lease" }.sorted()
    }

    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// Commits and settles, as the writer does once idle.
    func commit(_ batch: [(ClaimedInput, Outcome)]) throws -> [Committed] {
        let committed = try spool.commit(batch)
        spool.settle()
        return committed
    }

    func claim(_ name: String) throws -> ClaimedInput? {
        let (claimed, refused) = try spool.claim([name])
        XCTAssertTrue(refused.isEmpty)
        return claimed.first
    }

    let csv = Outcome.classified(csv: Array("source,label\r\n".utf8))

    func testClassifiedInputEndsInProcessedWithItsCSV() throws {
        try drop("digit.png")
        let input = try XCTUnwrap(try claim("digit.png"))
        XCTAssertEqual(try contents("inbox"), [".claimed"])
        let committed = try commit([(input, csv)])
        XCTAssertEqual(committed.map(\.report), ["\(root)/outbox/digit.png.csv"])
        XCTAssertEqual(committed.map(\.movedTo), ["\(root)/processed/digit.png"])
        XCTAssertEqual(try contents("outbox"), ["digit.png.csv"])
        XCTAssertEqual(try contents("processed"), ["digit.png"])
        spool.settle()
        XCTAssertEqual(try batches(), [])
        spool.retire()
        XCTAssertEqual(try contents("inbox/.claimed"), [], "a clean stop leaves no owner behind")
        XCTAssertEqual(try read("\(root)/outbox/digit.png.csv"), "source,label\r\n")
    }

    func testFailedInputLiesBesideItsReason() throws {
        try drop("bad.png")
        let input = try XCTUnwrap(try claim("bad.png"))
        _ = try commit([(input, .failed(reason: "bad.png: not a PNG"))])
        XCTAssertEqual(try contents("failed"), ["bad.png", "bad.png.error"])
        XCTAssertEqual(try read("\(root)/failed/bad.png.error"), "bad.png: not a PNG\n")
    }

    func testNameCollisionsNeverOverwrite() throws {
        for round in 0..<3 {
            try drop("digit.png", "round \(round)")
            try drop("bad.png", "round \(round)")
            let good = try XCTUnwrap(try claim("digit.png"))
            let bad = try XCTUnwrap(try claim("bad.png"))
            _ = try commit([(good, .classified(csv: Array("csv \(round)".utf8))), (bad, .failed(reason: "reason \(round)"))])
        }
        XCTAssertEqual(try contents("outbox"), ["digit-1.png.csv", "digit-2.png.csv", "digit.png.csv"])
        XCTAssertEqual(try contents("processed"), ["digit-1.png", "digit-2.png", "digit.png"])
        XCTAssertEqual(try contents("failed"), ["bad-1.png", "bad-1.png.error", "bad-2.png", "bad-2.png.error", "bad.png", "bad.png.error"])
        XCTAssertEqual(try read("\(root)/outbox/digit-2.png.csv"), "csv 2")
        XCTAssertEqual(try read("\(root)/processed/digit-2.png"), "round 2")
        XCTAssertEqual(try read("\(root)/failed/bad-1.png"), "round 1")
        XCTAssertEqual(try read("\(root)/failed/bad-1.png.error"), "reason 1\n")
    }

    func testClaimingTwiceOrClaimingADirectoryGivesNil() throws {
        try drop("digit.png")
        XCTAssertNotNil(try claim("digit.png"))
        XCTAssertNil(try claim("digit.png"))
        try FileManager.default.createDirectory(atPath: "\(root)/inbox/folder", withIntermediateDirectories: false)
        XCTAssertNil(try claim("folder"))
        XCTAssertEqual(try contents("inbox"), [".claimed", "folder"])
    }

    /// A crash can stop a commit between any two of its steps; each state must finish with
    /// exactly one report and the input in processed/, whatever was done before, however the
    /// spool flushes.
    func testEveryCrashPointRecoversToExactlyOneReport() throws {
        enum Stop: CaseIterable { case afterClaim, afterTemporaryWritten, afterLinked, afterInputMoved, afterCommit, afterSettle }
        for method in [FlushMethod.wholeFileSystem, .eachFile] {
            for stop in Stop.allCases {
                try? FileManager.default.removeItem(atPath: root)
                spool = try Spool(directories: StateDirectories(stateDirectory: root), flushMethod: method)
                try drop("digit.png")
                let input = try XCTUnwrap(try claim("digit.png"))
                let temporary = "\(root)/outbox/\(Spool.temporaryName(input.id))"
                switch stop {
                case .afterClaim: break
                case .afterTemporaryWritten:
                    try Data("partial".utf8).write(to: URL(fileURLWithPath: temporary))
                case .afterLinked, .afterInputMoved:
                    try Data("source,label\r\n".utf8).write(to: URL(fileURLWithPath: temporary))
                    XCTAssertEqual(link(temporary, "\(root)/outbox/digit.png.csv"), 0)
                    if stop == .afterInputMoved { XCTAssertEqual(rename(input.path, "\(root)/processed/digit.png"), 0) }
                case .afterCommit:
                    _ = try spool.commit([(input, csv)])
                    XCTAssertTrue(FileManager.default.fileExists(atPath: temporary), "removed before a flush made the move durable")
                case .afterSettle:
                    _ = try commit([(input, csv)])
                    spool.settle()
                    XCTAssertFalse(FileManager.default.fileExists(atPath: temporary))
                }
                // The restarted daemon: a new spool on the same directories.
                spool = try Spool(directories: StateDirectories(stateDirectory: root), flushMethod: method)
                let pending = try spool.unfinished()
                XCTAssertEqual(pending.map(\.name), [.afterInputMoved, .afterCommit, .afterSettle].contains(stop) ? [] : ["digit.png"], "\(stop)")
                _ = try commit(pending.map { ($0, csv) })
                spool.settle()
                XCTAssertEqual(try contents("outbox"), ["digit.png.csv"], "\(stop)")
                XCTAssertEqual(try contents("processed"), ["digit.png"], "\(stop)")
                XCTAssertEqual(try batches(), [], "\(stop)")
                XCTAssertEqual(try read("\(root)/outbox/digit.png.csv"), "source,label\r\n", "\(stop), \(method)")
            }
        }
    }

    /// syncfs only where it waits for every dirty file (ext4 here, tmpfs); an fsync per file
    /// elsewhere (FUSE, NFS…: PowerFailureTests shows the start log naming it on LazyFS).
    func testTheFlushMethodFollowsTheFileSystem() throws {
        XCTAssertEqual(FlushMethod.forFileSystem(containing: "/dev/shm"), .wholeFileSystem)
        XCTAssertEqual(FlushMethod.forFileSystem(containing: "/proc"), .eachFile)
        XCTAssertEqual(FlushMethod.forFileSystem(containing: "/no/such/directory"), .eachFile)
        if FlushMethod.forFileSystem(containing: root) == .wholeFileSystem {
            XCTAssertEqual(spool.flushMethod, .wholeFileSystem)
            XCTAssertEqual(try Spool(directories: spool.directories, flushMethod: .eachFile).flushMethod, .eachFile)
        }
    }

    func testABatchSharesOneClaimDirectoryUntilItsLastInputIsCommitted() throws {
        for name in ["a.png", "b.png", "c.png"] { try drop(name) }
        let (claimed, refused) = try spool.claim(["a.png", "gone.png", "b.png", "c.png"])
        XCTAssertTrue(refused.isEmpty)
        XCTAssertEqual(claimed.map(\.name), ["a.png", "b.png", "c.png"])
        XCTAssertEqual(Set(claimed.map(\.directory)).count, 1)
        XCTAssertEqual(Set(claimed.map(\.id)).count, 3)
        _ = try commit([(claimed[1], csv)])
        XCTAssertEqual(try batches().count, 1)
        // A restart in between finds the other two, with the same ids.
        let pending = try Spool(directories: spool.directories).unfinished()
        XCTAssertEqual(pending.map(\.id), [claimed[0].id, claimed[2].id])
        XCTAssertEqual(pending.map(\.path), [claimed[0].path, claimed[2].path])
        _ = try commit(pending.map { ($0, csv) })
        XCTAssertEqual(try batches(), [])
        XCTAssertEqual(try contents("outbox"), ["a.png.csv", "b.png.csv", "c.png.csv"])
    }

    /// A commit the disk refused half-way is simply tried again: the temporaries it left
    /// (written or published) are recognised, nothing is written twice.
    func testACommitRetriedAfterAFailureFinishesOnce() throws {
        try drop("a.png")
        try drop("b.png")
        let (claimed, _) = try spool.claim(["a.png", "b.png"])
        // The failed attempt had published a's report and left b's half-written.
        let temporaryA = "\(root)/outbox/\(Spool.temporaryName(claimed[0].id))"
        try Data("source,label\r\n".utf8).write(to: URL(fileURLWithPath: temporaryA))
        XCTAssertEqual(link(temporaryA, "\(root)/outbox/a.png.csv"), 0)
        try Data("sou".utf8).write(to: URL(fileURLWithPath: "\(root)/outbox/\(Spool.temporaryName(claimed[1].id))"))
        _ = try commit(claimed.map { ($0, csv) })
        XCTAssertEqual(try contents("outbox"), ["a.png.csv", "b.png.csv"])
        XCTAssertEqual(try read("\(root)/outbox/b.png.csv"), "source,label\r\n")
        XCTAssertEqual(try contents("processed"), ["a.png", "b.png"])
    }

    /// Reports written ahead by `prepare` are published as they are, whether their batch is
    /// committed whole or one by one (each is flushed before its link either way); a temporary
    /// `prepare` did not write in this run (a crash's) is written again.
    /// (The commit is given other bytes than `prepare` was, to tell which were published.)
    func testPreparedReportsArePublishedAsWrittenAndOnlyWhenSafe() throws {
        for name in ["a.png", "b.png", "c.png", "d.png"] { try drop(name) }
        let (claimed, _) = try spool.claim(["a.png", "b.png", "c.png", "d.png"])
        // A crash's half-written temporary for d: prepare leaves it alone.
        try Data("sou".utf8).write(to: URL(fileURLWithPath: "\(root)/outbox/\(Spool.temporaryName(claimed[3].id))"))
        spool.prepare(claimed.map { ($0, csv) })
        let later = Outcome.classified(csv: Array("written by commit\r\n".utf8))
        _ = try spool.commit([claimed[0], claimed[1], claimed[3]].map { ($0, later) })
        _ = try commit([(claimed[2], later)])
        XCTAssertEqual(try ["a", "b", "c", "d"].map { try read("\(root)/outbox/\($0).png.csv") },
                       ["source,label\r\n", "source,label\r\n", "source,label\r\n", "written by commit\r\n"])
        XCTAssertEqual(try contents("processed"), ["a.png", "b.png", "c.png", "d.png"])
        XCTAssertEqual(try batches(), [])
        // One or two files are fsynced one by one at commit: nothing to write ahead.
        try drop("e.png")
        let single = try XCTUnwrap(try claim("e.png"))
        spool.prepare([(single, csv)])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(root)/outbox/\(Spool.temporaryName(single.id))"))
    }

    /// The claim directory made ahead is the next claim's; one removed by hand is replaced;
    /// a clean stop removes it, and after a crash the next start does.
    func testAClaimDirectoryMadeAheadServesTheNextClaim() throws {
        spool.prepareClaimDirectory()
        let spare = try XCTUnwrap(try batches().first)
        try drop("a.png")
        XCTAssertEqual(try claim("a.png")?.directory, "\(spool.ownClaims)/\(spare)")

        spool.prepareClaimDirectory()
        let removed = try XCTUnwrap(try batches().first { $0 != spare })
        XCTAssertEqual(rmdir("\(spool.ownClaims)/\(removed)"), 0)
        try drop("b.png")
        let b = try XCTUnwrap(try claim("b.png"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: b.path))

        spool.prepareClaimDirectory()
        XCTAssertEqual(try batches().count, 3)
        spool.discardSpareClaimDirectory()
        XCTAssertEqual(try batches().count, 2)
        spool.prepareClaimDirectory()
        let pending = try Spool(directories: spool.directories).unfinished()
        XCTAssertEqual(pending.map(\.name), ["a.png", "b.png"])
        XCTAssertEqual(try batches().count, 2, "the crash's empty spare is removed")
    }

    func testDeleteProcessedRemovesClassifiedInputsOnly() throws {
        spool = try Spool(directories: StateDirectories(stateDirectory: root), deleteProcessed: true)
        try drop("digit.png")
        try drop("bad.png")
        let good = try XCTUnwrap(try claim("digit.png"))
        let bad = try XCTUnwrap(try claim("bad.png"))
        let committed = try commit([(good, csv), (bad, .failed(reason: "no"))])
        XCTAssertEqual(committed.map(\.movedTo), [nil, "\(root)/failed/bad.png"])
        XCTAssertEqual(try contents("processed"), [])
        XCTAssertEqual(try contents("outbox"), ["digit.png.csv"])
    }
}
