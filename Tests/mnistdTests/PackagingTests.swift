import ControlProtocol
import Formats
import Foundation
import TestSupport
import XCTest

/// `make deb` builds the package (through `make install` into a staging root), `make
/// uninstall` takes back everything install placed, and the package installs with apt,
/// runs, verifies and is removed cleanly with dpkg.
final class PackagingTests: XCTestCase {
    static let version = mnistdVersion
    /// What install places, relative to the root, for PREFIX=/usr and Debian's unit paths.
    static let installed = [
        "usr/bin/mnistd", "usr/bin/mnistctl",
        "usr/share/mnistd/mnist-cnn.weights", "usr/share/mnistd/mnist-cnn.weights.sha256",
        "usr/share/man/man8/mnistd.8", "usr/share/man/man1/mnistctl.1",
        "usr/share/bash-completion/completions/mnistctl", "usr/share/zsh/vendor-completions/_mnistctl",
        "usr/share/fish/vendor_completions.d/mnistctl.fish",
        "lib/systemd/system/mnistd.service", "lib/systemd/system/mnistd.socket", "lib/systemd/system/mnistd@.service",
        "usr/lib/sysusers.d/mnistd.conf", "usr/lib/tmpfiles.d/mnistd.conf", "etc/mnistd/mnistd.conf",
    ]
    /// What debhelper adds to what install places: manuals compressed, the documentation.
    static let packaged = installed.map { $0.hasPrefix("usr/share/man/") ? $0 + ".gz" : $0 } + [
        "usr/share/doc/mnistd/README.Debian", "usr/share/doc/mnistd/README.md.gz", "usr/share/doc/mnistd/changelog.gz",
        "usr/share/doc/mnistd/copyright",
    ]

    func files(under root: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var found: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(root)/\(path)", isDirectory: &isDirectory), !isDirectory.boolValue {
                found.append(path)
            }
        }
        return found.sorted()
    }

    /// The regular files and links a package holds, relative to the root.
    func contents(of deb: String) throws -> [String] {
        let listing = try runCommand("/usr/bin/dpkg-deb", ["--contents", deb])
        XCTAssertEqual(listing.status, 0, listing.stderr)
        return listing.stdout.split(separator: "\n").filter { !$0.hasPrefix("d") }.compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(5).first.map { String($0.dropFirst(2)) }
        }.sorted()
    }

    /// node_exporter's textfile directory, as Debian's prometheus-node-exporter makes it (root's, 0755).
    static let textfiles = "/var/lib/prometheus/node-exporter"
    static let metricsFile = "/run/mnistd-metrics/mnistd.prom"

    /// The package links the metrics file into node_exporter's directory; the real node_exporter,
    /// as its own user, serves mnistd_up 0 before the daemon has run, 1 while the installed
    /// daemon runs as user mnistd with the shipped configuration, and 0 after it stops.
    func checkNodeExporterServesTheInstalledDaemon() throws {
        guard FileManager.default.fileExists(atPath: Self.textfiles) else {
            return print("PackagingTests: \(Self.textfiles) does not exist (prometheus-node-exporter not installed): metrics not checked")
        }
        XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: Self.textfiles + "/mnistd.prom"), Self.metricsFile)
        let exporter = try NodeExporter(directory: Self.textfiles, user: "prometheus")
        func scraped() -> Scrape { Scrape((try? exporter.scrape()) ?? "") }
        XCTAssertEqual(scraped()["mnistd_up"], 0, "before the daemon has run: \(exporter.log)")
        let daemon = Process()
        // setpriv execs mnistd itself: the exit status read is the daemon's.
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        daemon.arguments = ["--reuid=mnistd", "--regid=mnistd", "--init-groups", "--", "/usr/bin/mnistd", "--config", "/etc/mnistd/mnistd.conf", "--state-dir", "/var/lib/mnistd",
                            "--log-target", "stderr", "--metrics-interval", "0.1"]
        let log = Pipe()
        daemon.standardError = log
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL); daemon.waitUntilExit() } }
        let up = waitUntil(timeout: 20) { scraped()["mnistd_up"] == 1 }
        daemon.terminate()
        daemon.waitUntilExit()
        let output = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(up, "node_exporter never served the installed daemon's mnistd_up 1:\n\(output)\n\(exporter.log)")
        XCTAssertEqual(daemon.terminationStatus, 0, output)
        XCTAssertTrue(waitUntil(timeout: 10) { scraped()["mnistd_up"] == 0 }, "no mnistd_up 0 after the stop")
        XCTAssertEqual(scraped()["node_textfile_scrape_error"], 0)
        var info = stat()
        XCTAssertEqual(stat(Self.metricsFile, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o644)
    }

    /// Debian's own checker: no error and no warning (its informational tags are about the
    /// Swift runtime linked in: its strings, and C functions it does not fortify).
    func checkLintianFindsNothingWrong(with packages: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/lintian") else {
            return XCTFail("lintian is not installed (apt-get install lintian): the package cannot be checked")
        }
        let lintian = try runCommand("/usr/bin/lintian", ["--pedantic"] + packages)
        let problems = lintian.stdout.split(separator: "\n").filter { $0.hasPrefix("E: ") || $0.hasPrefix("W: ") }
        XCTAssertEqual(problems, [], "lintian:\n\(lintian.stdout)\(lintian.stderr)")
        XCTAssertTrue(lintian.status == 0 || lintian.status == 2, "lintian did not run: \(lintian.stderr)")
    }

    /// Stripped (symbols in mnistd-dbgsym), no run path into the toolchain, bound at start.
    func checkTheBinariesStandAlone(_ directory: String) throws {
        for binary in ["mnistd", "mnistctl"] {
            let sections = try runCommand("/usr/bin/readelf", ["--section-headers", "--dynamic", "\(directory)/\(binary)"])
            XCTAssertEqual(sections.status, 0, sections.stderr)
            XCTAssertFalse(sections.stdout.contains(".debug_info"), "\(binary) is not stripped")
            XCTAssertFalse(sections.stdout.contains("RUNPATH") || sections.stdout.contains("RPATH"), "\(binary) has a run path")
            XCTAssertTrue(sections.stdout.contains("BIND_NOW") || sections.stdout.contains("Flags: NOW"), "\(binary) is not bound at start")
        }
    }

    func testDebianPackageBuildsInstallsRunsAndRemoves() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg-deb") else { throw XCTSkip("dpkg-deb not installed") }
        let make = try runCommand("/usr/bin/make", ["-C", repositoryRoot, "deb"])
        XCTAssertEqual(make.status, 0, String(make.stdout.suffix(3000)) + make.stderr)
        let deb = "\(repositoryRoot)/mnistd_\(Self.version)_amd64.deb"
        XCTAssertEqual(try contents(of: deb), Self.packaged.sorted())
        let root = "\(repositoryRoot)/debian/mnistd"
        let service = try String(contentsOfFile: root + "/lib/systemd/system/mnistd.service", encoding: .utf8)
        XCTAssertTrue(service.contains("ExecStart=/usr/bin/mnistd --config /etc/mnistd/mnistd.conf"), service)
        try checkLintianFindsNothingWrong(with: [deb, "\(repositoryRoot)/.build-deb/mnistd-dbgsym_\(Self.version)_amd64.deb"])
        try checkTheBinariesStandAlone(root + "/usr/bin")

        // make uninstall takes back every file install placed (here in a fresh staging root).
        let copy = NSTemporaryDirectory() + "mnistd-uninstall-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let install = try runCommand("/usr/bin/make", ["-C", repositoryRoot, "install", "DESTDIR=\(copy)", "SCRATCH=.build-deb", "PREFIX=/usr",
                                                       "UNITDIR=/lib/systemd/system", "SYSUSERSDIR=/usr/lib/sysusers.d",
                                                       "TMPFILESDIR=/usr/lib/tmpfiles.d", "MNISTD_TARGET_CPU=haswell"])
        XCTAssertEqual(install.status, 0, install.stderr)
        XCTAssertEqual(files(under: copy), Self.installed.sorted())
        let uninstall = try runCommand("/usr/bin/make", ["-C", repositoryRoot, "uninstall", "DESTDIR=\(copy)", "PREFIX=/usr",
                                                         "UNITDIR=/lib/systemd/system", "SYSUSERSDIR=/usr/lib/sysusers.d",
                                                         "TMPFILESDIR=/usr/lib/tmpfiles.d"])
        XCTAssertEqual(uninstall.status, 0, uninstall.stderr)
        XCTAssertEqual(files(under: copy), [])

        let info = try runCommand("/usr/bin/dpkg-deb", ["--field", deb, "Package", "Version", "Depends", "Installed-Size"])
        for field in ["Version: \(Self.version)", "libpng16-16", "libsystemd0", "systemd", "Installed-Size: "] {
            XCTAssertTrue(info.stdout.contains(field), "\(field) not in:\n\(info.stdout)")
        }

        guard getuid() == 0 else { throw XCTSkip("installing the package needs root") }
        let installed = try runCommand("/usr/bin/apt-get", ["install", "-y", "--allow-downgrades", deb])
        XCTAssertEqual(installed.status, 0, installed.stdout + installed.stderr)
        XCTAssertEqual(try runCommand("/usr/bin/mnistd", ["--help"]).status, 0)
        // The installed (release, static) mnistctl finds the shipped weights in /usr/share/mnistd
        // and reads every sample right: the optimiser's build, not just the tests' debug one.
        let samples = parseCSV(try String(contentsOfFile: repositoryRoot + "/samples/labels.csv", encoding: .utf8))
            .dropFirst().filter { $0[0].hasSuffix(".png") }
        let predict = try runCommand("/usr/bin/mnistctl", ["predict"] + samples.map { repositoryRoot + "/samples/" + $0[0] })
        XCTAssertEqual(predict.status, 0, predict.stderr)
        for sample in samples {
            XCTAssertTrue(predict.stdout.contains("\(sample[0]),0,\(sample[1]),"), "\(sample[0]):\n\(predict.stdout)")
        }
        let verify = try runCommand("/usr/bin/systemd-analyze", ["verify", "--man=no", "/lib/systemd/system/mnistd.service",
                                                                 "/lib/systemd/system/mnistd.socket", "mnistd@verify.service"])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertEqual(try runCommand("/usr/bin/getent", ["passwd", "mnistd"]).status, 0, "sysusers created the user")
        var inbox = stat()
        XCTAssertEqual(stat("/var/lib/mnistd/inbox", &inbox), 0, "tmpfiles created the inbox")
        XCTAssertEqual(inbox.st_mode & 0o7777, 0o2770)
        try checkNodeExporterServesTheInstalledDaemon()

        let remove = try runCommand("/usr/bin/dpkg", ["-r", "mnistd"])
        XCTAssertEqual(remove.status, 0, remove.stderr)
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: Self.textfiles + "/mnistd.prom"), "dpkg -r leaves the link to the metrics")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/mnistd-metrics"), "dpkg -r leaves the metrics directory")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/mnistd"), "dpkg -r leaves the socket's directory")
        for path in Self.installed where path != "etc/mnistd/mnistd.conf" {
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/" + path), "/\(path) left after dpkg -r")
        }
        XCTAssertEqual(try runCommand("/usr/bin/dpkg", ["--purge", "mnistd"]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/mnistd/mnistd.conf"), "purge removes the configuration")
    }
}
