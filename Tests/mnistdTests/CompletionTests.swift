import Foundation
import TestSupport
import XCTest

/// mnistctl's bash completion, run by a real bash as a user's Tab would: files, directories and
/// weights where the commands take them, and from a running daemon its model ids and datasets.
final class CompletionTests: XCTestCase {
    var daemon: DaemonHarness!
    var script: String { daemon.root + "/mnistctl.bash" }
    var work: String { daemon.root + "/work" }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/bin/bash") else { throw XCTSkip("bash not installed") }
        daemon = try DaemonHarness()
        let generated = try runCommand(builtBinary("mnistctl"), ["--generate-completion-script", "bash"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        try generated.stdout.write(toFile: script, atomically: true, encoding: .utf8)
        for directory in ["digits", "runs"] {
            try FileManager.default.createDirectory(atPath: "\(work)/\(directory)", withIntermediateDirectories: true)
        }
        for file in ["notes.txt", "model.weights", "seven.png"] { XCTAssertTrue(FileManager.default.createFile(atPath: "\(work)/\(file)", contents: Data())) }
    }

    override func tearDown() { daemon = nil }

    /// What Tab offers at the end of `line` (after `mnistctl `), typed in the work directory.
    func complete(_ line: String) throws -> Set<String> {
        let typed = builtBinary("mnistctl") + " " + line
        let completed = try runCommand("/bin/bash", ["-c", """
            cd '\(work)' && source '\(script)'
            COMP_LINE='\(typed)'; COMP_POINT=${#COMP_LINE}
            read -ra COMP_WORDS <<< "$COMP_LINE"
            [[ "$COMP_LINE" == *' ' ]] && COMP_WORDS+=('')
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            _mnistctl "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"  # as bash calls it
            printf '%s\\n' "${COMPREPLY[@]}"
            """])
        XCTAssertEqual(completed.status, 0, completed.stderr)
        return Set(completed.stdout.split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) })
    }

    func testFilesAndDirectoriesWhereTheCommandsTakeThem() throws {
        let directories: Set<String> = ["digits", "runs"]
        XCTAssertEqual(try complete("train --data "), directories, "train --data takes a directory")
        XCTAssertEqual(try complete("eval --report "), directories)
        XCTAssertTrue(try complete("predict ").isSuperset(of: ["notes.txt", "model.weights", "seven.png"]), "predict takes any file")
        let weights = try complete("eval --weights ")
        XCTAssertTrue(weights.contains("model.weights") && !weights.contains("notes.txt"), "\(weights)")
        XCTAssertTrue(try complete("classify s").contains("seven.png"))
    }

    func testModelIdsAndDatasetsComeFromTheRunningDaemon() throws {
        try daemon.start()
        for name in ["letters", "digits-2026"] {
            try FileManager.default.createDirectory(atPath: "\(daemon.datasets)/\(name)", withIntermediateDirectories: true)
        }
        let status = try daemon.mnistctl("models")
        let id = try XCTUnwrap(status.stdout.firstMatch(of: /cnn-[0-9a-f]+/).map { String($0.output) }, status.stdout)
        XCTAssertEqual(try complete("rollback --socket \(daemon.socket) "), [id])
        XCTAssertEqual(try complete("rollback --socket \(daemon.socket) xyz"), [])
        XCTAssertEqual(try complete("retrain --socket \(daemon.socket) --dataset "), ["letters", "digits-2026"])
        XCTAssertEqual(try complete("retrain --socket \(daemon.socket) --dataset l"), ["letters"])
        XCTAssertEqual(daemon.stop(), 0)
        XCTAssertEqual(try complete("rollback --socket \(daemon.socket) "), [], "no daemon, nothing offered (and no error)")
    }
}
