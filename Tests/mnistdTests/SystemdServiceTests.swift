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
    static let inbox = "/var/lib/mnistd/inbox", outbox = "/var/lib/mnistd/outbox"

    override func setUpWithError() throws {
        container = try SystemdContainer()
    }

    override func tearDown() { container = nil }

    func systemctl(_ arguments: String...) throws -> String {
        try container.run(["systemctl"] + arguments).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func property(_ name: String) throws -> String { try systemctl("show", "-p", name, "--value", "mnistd.service") }

    /// The unit's journal inside the container, for failure messages.
    func journal() -> String {
        (try? container.run(["journalctl", "-u", "mnistd", "--no-pager", "-n", "60"]))?.stdout ?? "(no journal)"
    }

    func exists(_ path: String) -> Bool { (try? container.run(["test", "-e", path]))?.status == 0 }

    /// A script that drops `names` as alice, each a sample written beside the inbox and
    /// renamed in, `pause` seconds apart.
    func dropping(_ names: [String], pause: Double = 0) -> String {
        names.map { "cp /srv/samples/digit-7-mnist-28px-gray.png ~/\($0) && mv ~/\($0) \(Self.inbox)/\($0) && sleep \(pause)" }
            .joined(separator: " && ")
    }

    func drop(_ count: Int, prefix: String) throws -> [String] {
        let names = (0..<count).map { "\(prefix)-\($0).png" }
        let dropped = try container.shell(dropping(names), as: "alice")
        XCTAssertEqual(dropped.status, 0, dropped.stderr)
        return names
    }

    func waitForCSVs(_ names: [String], timeout: Double = 60) -> Bool {
        waitUntil(timeout: timeout) {
            let listed = (try? self.container.run(["ls", Self.outbox]))?.stdout.split(separator: "\n").map(String.init) ?? []
            return Set(names.map { $0 + ".csv" }).isSubset(of: Set(listed))
        }
    }

    func testThePackageUnderARealSystemd() throws {
        let make = try runCommand("/usr/bin/make", ["-C", repositoryRoot, "deb"])
        XCTAssertEqual(make.status, 0, String(make.stdout.suffix(3000)) + make.stderr)
        let deb = "\(repositoryRoot)/mnistd_\(Self.version)_amd64.deb"
        try FileManager.default.copyItem(atPath: deb, toPath: container.tree + "/root/mnistd.deb")
        try FileManager.default.copyItem(atPath: repositoryRoot + "/samples", toPath: container.tree + "/srv/samples")

        // Installed: enabled and started, as Debian's services are.
        let installed = try container.run(["dpkg", "-i", "/root/mnistd.deb"])
        XCTAssertEqual(installed.status, 0, installed.stdout + installed.stderr)
        XCTAssertEqual(try systemctl("is-enabled", "mnistd.service", "mnistd.socket"), "enabled\nenabled")
        XCTAssertTrue(waitUntil(timeout: 30) { (try? self.systemctl("is-active", "mnistd.service")) == "active" }, journal())

        try aGroupMemberDropsFilesAndReadsTheirCSVs()
        try twoTemplateInstancesShareAnInbox()
        try socketActivationServesAGroupMemberAfterAReboot()
        try theWatchdogRestartsAStoppedDaemon()
        try aBadConfigurationFailsOnceWithItsPlace()
        try reloadAppliesAChangedKey()
        try anUpgradeKeepsItRunningAndLosesNoInput(deb)
        try removeKeepsTheConfigurationAndPurgeKeepsOnlyTheState()
    }

    func aGroupMemberDropsFilesAndReadsTheirCSVs() throws {
        XCTAssertEqual(try container.run(["useradd", "--create-home", "--groups", "mnistd", "alice"]).status, 0)
        let names = try drop(3, prefix: "alice")
        XCTAssertTrue(waitForCSVs(names), journal())
        let csv = try container.shell("cat \(Self.outbox)/\(names[0]).csv", as: "alice")
        XCTAssertEqual(csv.status, 0, "alice cannot read her CSV: \(csv.stderr)")
        XCTAssertTrue(csv.stdout.contains("\(names[0]),0,7,ok,"), csv.stdout)
        let status = try container.shell("mnistctl status", as: "alice")
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("3 classified"), status.stdout)
    }

    /// Two instances of the template unit, each with its configuration file, share one inbox
    /// (as daemons on two hosts would on a network filesystem), under the unit's hardening:
    /// each input answered once, each instance claiming into a directory of its own, reachable
    /// on its own socket, and leaving nothing claimed when stopped.
    func twoTemplateInstancesShareAnInbox() throws {
        let shared = "/srv/shared", instances = ["alpha", "beta"]
        let keys = ["inbox", "outbox", "failed", "processed"].map { "\($0) = \(shared)/\($0)" }.joined(separator: "\\n")
        let setUp = try container.shell("""
            mkdir -p \(shared) && chown mnistd:mnistd \(shared) && \
            for name in \(instances.joined(separator: " ")); do printf '\(keys)\\n' > /etc/mnistd/$name.conf; done && \
            mkdir -p /etc/systemd/system/mnistd@.service.d && \
            printf '[Service]\\nReadWritePaths=\(shared)\\n' > /etc/systemd/system/mnistd@.service.d/shared.conf && \
            systemctl daemon-reload && systemctl start \(instances.map { "mnistd@\($0)" }.joined(separator: " "))
            """)
        let units = instances.map { "mnistd@\($0).service" }
        let journals = { (try? self.container.run(["journalctl"] + units.flatMap { ["-u", $0] } + ["--no-pager", "-n", "80"]))?.stdout ?? "" }
        XCTAssertEqual(setUp.status, 0, setUp.stderr + journals())
        let names = (0..<40).map { "shared-\($0).png" }
        let dropped = try container.shell(names.map {
            "cp /srv/samples/digit-7-mnist-28px-gray.png \(shared)/inbox/.\($0).tmp && mv \(shared)/inbox/.\($0).tmp \(shared)/inbox/\($0)"
        }.joined(separator: " && "))
        XCTAssertEqual(dropped.status, 0, dropped.stderr)
        XCTAssertTrue(waitUntil(timeout: 60) {
            let listed = (try? self.container.run(["ls", "\(shared)/outbox"]))?.stdout.split(separator: "\n").map(String.init) ?? []
            return Set(names.map { "\($0).csv" }).isSubset(of: Set(listed))
        }, journals())
        XCTAssertEqual(try container.shell("ls \(shared)/outbox | wc -l; ls \(shared)/processed | wc -l").stdout, "40\n40\n", "each answered once")
        let owners = try container.run(["ls", "\(shared)/inbox/.claimed"]).stdout
        for instance in instances {
            XCTAssertTrue(owners.contains("\(instance)@"), owners)
            let status = try container.run(["mnistctl", "status", "--socket", "/run/mnistd-\(instance)/control.sock"])
            XCTAssertEqual(status.status, 0, status.stderr)
            XCTAssertTrue(journals().contains("as \(instance)@"), journals())
        }
        print("SystemdServiceTests: template instances claimed as \(owners.split(separator: "\n"))")
        XCTAssertEqual(try container.shell("systemctl stop \(units.joined(separator: " ")) && ls -A \(shared)/inbox/.claimed").stdout, "",
                       "stopped cleanly, nothing left claimed")
        XCTAssertEqual(try container.shell("""
            rm -r /etc/systemd/system/mnistd@.service.d \(instances.map { "/etc/mnistd/\($0).conf" }.joined(separator: " ")) && systemctl daemon-reload
            """).status, 0)
    }

    /// Only the socket enabled, then a reboot: a fresh /run, no daemon until a group member
    /// asks for one through the socket.
    func socketActivationServesAGroupMemberAfterAReboot() throws {
        // The service's Also= would disable the socket with it: enable that again on its own.
        XCTAssertEqual(try container.shell("systemctl disable --now mnistd.service && systemctl enable mnistd.socket").status, 0)
        container.shutDown()
        try container.boot()
        XCTAssertEqual(try systemctl("is-active", "mnistd.socket"), "active")
        XCTAssertEqual(try systemctl("is-active", "mnistd.service"), "inactive")
        let status = try container.shell("mnistctl status", as: "alice")
        let runtime = (try? container.run(["ls", "-la", "/run/mnistd"]))?.stdout ?? ""
        XCTAssertEqual(status.status, 0, "socket activation for a group member after a reboot: \(status.stderr)\n\(runtime)")
        XCTAssertTrue(waitUntil(timeout: 30) { (try? self.systemctl("is-active", "mnistd.service")) == "active" }, journal())
        XCTAssertEqual(try container.run(["systemctl", "enable", "mnistd.service"]).status, 0)
    }

    /// A frozen daemon misses its watchdog pings: systemd kills and restarts it (a drop-in
    /// shortens the unit's 60 s so the test does not wait that long).
    func theWatchdogRestartsAStoppedDaemon() throws {
        try container.shell("mkdir -p /etc/systemd/system/mnistd.service.d && printf '[Service]\\nWatchdogSec=3s\\n' > /etc/systemd/system/mnistd.service.d/watchdog.conf")
        XCTAssertEqual(try container.run(["systemctl", "daemon-reload"]).status, 0)
        XCTAssertEqual(try container.run(["systemctl", "restart", "mnistd.service"]).status, 0, journal())
        let frozen = try property("MainPID"), restarts = Int(try property("NRestarts")) ?? -1
        XCTAssertEqual(try container.run(["kill", "-STOP", frozen]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 30) {
            (try? self.property("MainPID")) != frozen && (try? self.systemctl("is-active", "mnistd.service")) == "active"
        }, journal())
        XCTAssertEqual(Int(try property("NRestarts")), restarts + 1)
        XCTAssertTrue(journal().contains("Watchdog timeout"), journal())
        try container.shell("rm -r /etc/systemd/system/mnistd.service.d && systemctl daemon-reload")
    }

    /// A bad key fails the start once, naming the file and line, and the unit does not retry.
    func aBadConfigurationFailsOnceWithItsPlace() throws {
        let configuration = "/etc/mnistd/mnistd.conf"
        let lines = try container.run(["wc", "-l", configuration]).stdout.split(separator: " ").first.flatMap { Int($0) } ?? 0
        try container.shell("cp \(configuration) /root/mnistd.conf.good && echo 'min-confidense = 0.8' >> \(configuration)")
        _ = try container.run(["systemctl", "restart", "mnistd.service"])
        sleep(7)  // the unit's RestartSec is 2 s: a restart loop would have begun
        XCTAssertEqual(try systemctl("is-active", "mnistd.service"), "failed")
        // A manual restart sets the counter to 0; systemd's own restarts would count up.
        XCTAssertEqual(try property("NRestarts"), "0", "the unit restarted on a configuration error")
        XCTAssertEqual(journal().components(separatedBy: "unknown key \"min-confidense\"").count - 1, 1, "one start, one message")
        XCTAssertEqual(try property("ExecMainStatus"), "64")
        XCTAssertTrue(journal().contains("\(configuration):\(lines + 1): unknown key \"min-confidense\""), journal())
        try container.shell("cp /root/mnistd.conf.good \(configuration) && systemctl reset-failed mnistd.service && systemctl start mnistd.service")
        XCTAssertEqual(try systemctl("is-active", "mnistd.service"), "active", journal())
    }

    /// `systemctl reload` applies a changed key to the running daemon: a smaller file limit
    /// sends the next input to failed/, saying which option would take it.
    func reloadAppliesAChangedKey() throws {
        let configuration = "/etc/mnistd/mnistd.conf"
        try container.shell("cp \(configuration) /root/mnistd.conf.good && echo 'max-file-bytes = 100' >> \(configuration)")
        let pid = try property("MainPID")
        XCTAssertEqual(try container.run(["systemctl", "reload", "mnistd.service"]).status, 0, journal())
        XCTAssertEqual(try property("MainPID"), pid, "a reload is not a restart")
        XCTAssertTrue(journal().contains("reloaded max-file-bytes: 67108864 → 100"), journal())
        let names = try drop(1, prefix: "small-limit")
        XCTAssertTrue(waitUntil(timeout: 30) { self.exists("/var/lib/mnistd/failed/\(names[0]).error") }, journal())
        XCTAssertTrue(try container.run(["cat", "/var/lib/mnistd/failed/\(names[0]).error"]).stdout.contains("raise --max-file-bytes"))
        try container.shell("cp /root/mnistd.conf.good \(configuration) && systemctl reload mnistd.service")
        XCTAssertTrue(waitUntil(timeout: 10) { self.journal().contains("reloaded max-file-bytes: 100 → 67108864") }, journal())
    }

    /// A newer version installed while a group member drops files: still enabled and running
    /// afterwards (restarted), every file answered.
    func anUpgradeKeepsItRunningAndLosesNoInput(_ deb: String) throws {
        let newer = container.tree + "/root/mnistd-newer.deb", unpacked = container.root + "/newer"
        XCTAssertEqual(try runCommand("/usr/bin/dpkg-deb", ["-R", deb, unpacked]).status, 0)
        let control = try String(contentsOfFile: unpacked + "/DEBIAN/control", encoding: .utf8)
        try control.replacingOccurrences(of: "Version: \(Self.version)\n", with: "Version: \(Self.version)+1\n")
            .write(toFile: unpacked + "/DEBIAN/control", atomically: true, encoding: .utf8)
        XCTAssertEqual(try runCommand("/usr/bin/dpkg-deb", ["--root-owner-group", "-b", unpacked, newer]).status, 0)
        let before = try property("MainPID")
        // The writer runs inside while dpkg upgrades.
        let names = (0..<150).map { "upgrade-\($0).png" }
        let writer = try container.startShell(dropping(names, pause: 0.02), as: "alice")
        usleep(500_000)
        let started = Date()
        let upgraded = try container.run(["dpkg", "-i", "/root/mnistd-newer.deb"])
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(upgraded.status, 0, upgraded.stdout + upgraded.stderr)
        writer.waitUntilExit()
        XCTAssertEqual(writer.terminationStatus, 0, "the writer failed")
        XCTAssertTrue(waitForCSVs(names), journal())
        XCTAssertEqual(try container.run(["dpkg-query", "-W", "-f", "${Version}", "mnistd"]).stdout, "\(Self.version)+1")
        XCTAssertEqual(try systemctl("is-enabled", "mnistd.service", "mnistd.socket"), "enabled\nenabled")
        XCTAssertEqual(try systemctl("is-active", "mnistd.service", "mnistd.socket"), "active\nactive")
        XCTAssertNotEqual(try property("MainPID"), before, "the running daemon was not restarted onto the new files")
        // How long no CSV appeared while files kept coming: the restart's pause.
        let times = try container.shell("find \(Self.outbox) -name 'upgrade-*.csv' -printf '%T@\\n' | sort -n").stdout
            .split(separator: "\n").compactMap { Double($0) }
        let pause = zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? 0
        print("SystemdServiceTests: upgrade with dpkg -i took \(String(format: "%.2f", seconds)) s; the longest pause between two CSVs was \(String(format: "%.2f", pause)) s; \(times.count) of \(names.count) files answered")
    }

    /// dpkg -r leaves the configuration, the state and the user; --purge takes the
    /// configuration and the units' enablement too, and still leaves the state and the user.
    func removeKeepsTheConfigurationAndPurgeKeepsOnlyTheState() throws {
        XCTAssertEqual(try container.run(["dpkg", "-r", "mnistd"]).status, 0)
        for gone in ["/usr/bin/mnistd", "/usr/bin/mnistctl", "/lib/systemd/system/mnistd.service", "/lib/systemd/system/mnistd.socket",
                     "/lib/systemd/system/mnistd@.service", "/usr/share/mnistd", "/run/mnistd-metrics", "/run/mnistd"] {
            XCTAssertFalse(exists(gone), "\(gone) left after dpkg -r")
        }
        XCTAssertNotEqual(try systemctl("is-active", "mnistd.service"), "active")
        for kept in ["/etc/mnistd/mnistd.conf", "/var/lib/mnistd/outbox/alice-0.png.csv"] { XCTAssertTrue(exists(kept), "\(kept) removed by dpkg -r") }
        XCTAssertEqual(try container.run(["dpkg", "--purge", "mnistd"]).status, 0)
        XCTAssertFalse(exists("/etc/mnistd"), "purge leaves /etc/mnistd")
        let enablement = try container.shell("find /etc/systemd/system -name 'mnistd*'").stdout
        XCTAssertEqual(enablement, "", "purge leaves the units' enablement")
        XCTAssertTrue(exists("/var/lib/mnistd/outbox/alice-0.png.csv"), "purge removed the results")
        XCTAssertEqual(try container.run(["getent", "passwd", "mnistd"]).status, 0, "the user owning the state is kept")
    }
}
