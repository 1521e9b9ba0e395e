import ControlProtocol
import Foundation
import TestSupport
import XCTest

/// The metrics as operators read them: the daemon's metrics file served by Debian's real
/// node_exporter (textfile collector), scraped over HTTP, checked by promtool; the same text
/// from `mnistctl metrics`; and the shipped dashboard and alerting rules against both.
final class MetricsExportTests: XCTestCase {
    static let promtool = "/usr/bin/promtool"
    var daemon: DaemonHarness!
    var textfiles: String { daemon.root + "/textfile" }
    var metricsFile: String { textfiles + "/mnistd.prom" }

    override func setUpWithError() throws {
        daemon = try DaemonHarness()
        try FileManager.default.createDirectory(atPath: textfiles, withIntermediateDirectories: true)
    }

    override func tearDown() { daemon = nil }

    func startDaemon(interval: String) throws {
        daemon.extraArguments = ["--metrics-file", metricsFile, "--metrics-interval", interval]
        try daemon.start()
    }

    /// Scrapes until `condition` holds; the last scrape either way.
    func scrape(_ exporter: NodeExporter, until condition: (Scrape) -> Bool, timeout: Double = 20) -> Scrape {
        var last = Scrape("")
        _ = waitUntil(timeout: timeout) {
            guard let text = try? exporter.scrape() else { return false }
            last = Scrape(text)
            return condition(last)
        }
        return last
    }

    func requirePromtool() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.promtool) else {
            throw XCTSkip("promtool not installed (apt-get install prometheus): \(Self.promtool) is missing")
        }
    }

    func promtoolCheck(_ text: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = daemon.root + "/check.prom"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        // `check metrics` reads standard input.
        let checked = try runCommand("/bin/sh", ["-c", "\(Self.promtool) check metrics < \(path)"])
        XCTAssertEqual(checked.status, 0, "promtool check metrics on \(what): \(checked.stdout)\(checked.stderr)", file: file, line: line)
        XCTAssertEqual(checked.stdout + checked.stderr, "", "promtool's lint on \(what)", file: file, line: line)
    }

    func drop(_ name: String, bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: "\(daemon.staging)/\(name)"))
        try runCommand("/bin/mv", ["\(daemon.staging)/\(name)", "\(daemon.inbox)/\(name)"])
    }

    func sample(_ name: String) -> [UInt8] { Array(FileManager.default.contents(atPath: repositoryRoot + "/samples/" + name) ?? Data()) }

    /// Counters and histogram buckets follow the files dropped, by outcome and reason; the
    /// file is left alone while nothing changes; the last word at a clean stop is mnistd_up 0.
    func testNodeExporterServesTheDaemonsCountsAsFilesArrive() throws {
        try requirePromtool()
        try startDaemon(interval: "0.05")
        let exporter = try NodeExporter(directory: textfiles)
        // Idle only once its start scan is done (it runs after READY, and counts).
        let first = scrape(exporter) { $0["mnistd_up"] == 1 && $0["mnistd_inbox_rescans_total"] == 1 }
        XCTAssertEqual(first["mnistd_up"], 1, "node_exporter never served mnistd_up 1:\n\(exporter.log)\n\(daemon.log)")
        XCTAssertEqual(first["mnistd_inbox_rescans_total"], 1, "the start scan was never counted:\n\(daemon.log)")
        XCTAssertEqual(first["node_textfile_scrape_error"], 0)
        XCTAssertEqual(first["mnistd_files_classified_total"], 0)
        let builds = first.values.keys.filter { $0.hasPrefix("mnistd_build_info{") }
        XCTAssertEqual(builds.count, 1)
        XCTAssertTrue(builds.allSatisfy { $0.contains("version=\"\(mnistdVersion)\"") && $0.contains("inference=\"") }, "\(builds)")
        let status = try XCTUnwrap(try ControlCoding.decode(ControlReply.self, from: Array(daemon.mnistctl("status", ["--json"]).stdout.utf8.dropLast())).status)
        XCTAssertEqual(first.values.keys.filter { $0.hasPrefix("mnistd_model_info{") }, ["mnistd_model_info{id=\"\(status.model.id)\",kind=\"cnn\",precision=\"int8\"}"])

        // Idle: rewritten only when something changed (and once a minute), not every interval.
        let before = try FileManager.default.attributesOfItem(atPath: metricsFile)[.modificationDate] as? Date
        usleep(600_000)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: metricsFile)[.modificationDate] as? Date, before,
                       "an idle daemon rewrote its metrics file")

        let pngs = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/samples").filter { $0.hasSuffix(".png") }.sorted()
        let idx = "first-100-test-digits-idx3-ubyte.gz"
        for name in pngs + [idx] { try runCommand("/bin/cp", [repositoryRoot + "/samples/" + name, "\(daemon.inbox)/\(name)"]) }
        try drop("notes.png", bytes: Array("not a picture\n".utf8))
        try drop("blank.png", bytes: [])
        try drop("cut.png", bytes: Array(sample(pngs[0]).prefix(100)))
        let everything = pngs + [idx, "notes.png", "blank.png", "cut.png"]
        XCTAssertTrue(daemon.waitForOutcomes(everything), daemon.log)

        let classified = Double(pngs.count + 1)
        let after = scrape(exporter) { $0["mnistd_files_classified_total"] == classified && $0["mnistd_file_latency_seconds_count"] == Double(everything.count) }
        XCTAssertEqual(after["mnistd_files_classified_total"], classified, daemon.log)
        for (reason, count) in ["unsupported": 1.0, "empty": 1, "malformed": 1, "over_limit": 0, "unreadable": 0, "unclassifiable": 0] {
            XCTAssertEqual(after["mnistd_files_failed_total{reason=\"\(reason)\"}"], count, reason)
        }
        let images = ["ok", "uncertain", "empty"].compactMap { after["mnistd_images_total{status=\"\($0)\"}"] }.reduce(0, +)
        XCTAssertEqual(images, Double(pngs.count + 100))
        XCTAssertEqual(after["mnistd_input_bytes_total"], Double((pngs + [idx]).map { sample($0).count }.reduce(0, +)))
        XCTAssertEqual(after["mnistd_file_latency_seconds_count"], Double(everything.count))
        XCTAssertGreaterThan(after["mnistd_file_latency_seconds_sum"] ?? 0, 0)
        XCTAssertGreaterThanOrEqual(after["mnistd_forward_pass_seconds_count"] ?? 0, 1)
        XCTAssertEqual(after["mnistd_claimed_inputs"], 0)
        XCTAssertEqual(after["mnistd_queue_depth"], 0)
        XCTAssertEqual(after.histogramsAreWhole(), [], "histograms whose buckets do not add up")
        XCTAssertEqual(after["node_textfile_scrape_error"], 0)

        // The file's own text, node_exporter's re-rendering of it and `mnistctl metrics` all pass promtool.
        try promtoolCheck(String(contentsOfFile: metricsFile, encoding: .utf8), "the metrics file")
        try promtoolCheck(try exporter.scrape(), "node_exporter's scrape")
        let printed = try daemon.mnistctl("metrics")
        XCTAssertEqual(printed.status, 0, printed.stderr)
        try promtoolCheck(printed.stdout, "mnistctl metrics")
        let viaSocket = Scrape(printed.stdout)
        XCTAssertEqual(viaSocket.types, after.types.filter { $0.key.hasPrefix("mnistd_") })
        XCTAssertEqual(viaSocket["mnistd_files_classified_total"], classified)

        XCTAssertEqual(daemon.stop(), 0)
        let stopped = scrape(exporter) { $0["mnistd_up"] == 0 }
        XCTAssertEqual(stopped["mnistd_up"], 0, "no mnistd_up 0 after a clean stop")
        XCTAssertEqual(stopped["mnistd_files_classified_total"], classified)
    }

    /// node_exporter reads the file whenever it is scraped: while files stream in and the
    /// daemon rewrites it every 10 ms, every scrape must find a whole file — every family, no
    /// scrape error, histograms that add up, counters that never go back.
    func testAScrapeNeverReadsAHalfWrittenFile() throws {
        try startDaemon(interval: "0.01")
        let exporter = try NodeExporter(directory: textfiles)
        let families = scrape(exporter) { $0["mnistd_up"] == 1 }.types.keys.filter { $0.hasPrefix("mnistd_") }.sorted()
        XCTAssertGreaterThan(families.count, 20)
        let bytes = sample("digit-7-mnist-28px-gray.png")
        let names = (0..<600).map { String(format: "stream-%04d.png", $0) }
        let (staging, inbox) = (daemon.staging, daemon.inbox)
        // Written beside the inbox, then renamed in: a well-behaved writer, as fast as it goes.
        let streamer = Thread {
            for name in names {
                FileManager.default.createFile(atPath: "\(staging)/\(name)", contents: Data(bytes))
                rename("\(staging)/\(name)", "\(inbox)/\(name)")
                usleep(2_000)
            }
        }
        streamer.start()
        var scrapes = 0, seen: Set<Double> = [], problems: [String] = []
        var previous = 0.0
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            guard let text = try? exporter.scrape() else { problems.append("a scrape failed"); continue }
            let scraped = Scrape(text)
            scrapes += 1
            let classified = scraped["mnistd_files_classified_total"] ?? -1
            if scraped["node_textfile_scrape_error"] != 0 { problems.append("scrape error \(scraped["node_textfile_scrape_error"] ?? .nan)") }
            let present = scraped.types.keys.filter { $0.hasPrefix("mnistd_") }.sorted()
            if present != families { problems.append("families \(present.count) of \(families.count)") }
            if !scraped.histogramsAreWhole().isEmpty { problems.append("histograms do not add up: \(scraped.histogramsAreWhole())") }
            if classified < previous { problems.append("classified went back from \(previous) to \(classified)") }
            previous = classified
            seen.insert(classified)
            if classified == Double(names.count) { break }
        }
        XCTAssertEqual(problems.count, 0, "\(problems.count) problems in \(scrapes) scrapes, e.g. \(problems.prefix(5))")
        XCTAssertEqual(previous, Double(names.count), daemon.log)
        XCTAssertGreaterThan(seen.count, 5, "the file hardly changed while it was scraped (\(scrapes) scrapes)")
        XCTAssertTrue(daemon.waitForOutcomes(names), daemon.log)
    }

    /// The shipped dashboard and alerts name only metrics the daemon writes, their PromQL
    /// parses (promtool), the alerts fire when they should (promtool's rule tests), and the
    /// README documents every metric.
    func testTheDashboardAlertsAndReadmeMatchTheMetrics() throws {
        try requirePromtool()
        try startDaemon(interval: "5")
        let printed = try daemon.mnistctl("metrics")
        XCTAssertEqual(printed.status, 0, printed.stderr)
        let families = Set(Scrape(printed.stdout).types.keys)
        XCTAssertGreaterThan(families.count, 20)
        func unknownNames(in text: String) -> Set<String> {
            let regex = try! NSRegularExpression(pattern: "mnistd_[a-z_]+")
            let used = regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) }
            return Set(used.map { name in
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && families.contains(String(name.dropLast(suffix.count))) {
                    return String(name.dropLast(suffix.count))
                }
                return name
            }).subtracting(families)
        }
        let monitoring = repositoryRoot + "/monitoring"
        let alerts = try String(contentsOfFile: monitoring + "/mnistd-alerts.yml", encoding: .utf8)
        XCTAssertEqual(unknownNames(in: alerts.components(separatedBy: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }.joined(separator: "\n")
                                    .replacingOccurrences(of: "mnistd_files_failed_total by reason", with: "")), [])
        let checked = try runCommand(Self.promtool, ["check", "rules", monitoring + "/mnistd-alerts.yml"])
        XCTAssertEqual(checked.status, 0, checked.stdout + checked.stderr)
        let tested = try runCommand(Self.promtool, ["test", "rules", monitoring + "/mnistd-alerts.test.yml"])
        XCTAssertEqual(tested.status, 0, tested.stdout + tested.stderr)

        // Each panel's query, with Grafana's variables given values, as a recording rule for promtool to parse.
        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: monitoring + "/grafana-dashboard.json"))) as? [String: Any]
        let panels = dashboard?["panels"] as? [[String: Any]] ?? []
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        XCTAssertGreaterThanOrEqual(expressions.count, 10)
        XCTAssertEqual(unknownNames(in: expressions.joined(separator: "\n")), [])
        let used = Set(expressions.joined(separator: " ").components(separatedBy: CharacterSet(charactersIn: " ({[")).filter { $0.hasPrefix("mnistd_") })
        for wanted in ["mnistd_queue_depth", "mnistd_files_classified_total", "mnistd_file_latency_seconds_bucket", "mnistd_images_total", "mnistd_model_info"] {
            XCTAssertTrue(used.contains(wanted), "the dashboard does not show \(wanted)")
        }
        let rules = "groups:\n  - name: dashboard\n    rules:\n" + expressions.enumerated().map { index, expression in
            let concrete = expression.replacingOccurrences(of: "$__rate_interval", with: "1m").replacingOccurrences(of: "$__range", with: "6h")
                .replacingOccurrences(of: "$instance", with: ".*")
            return "      - record: dashboard:panel\(index)\n        expr: '\(concrete.replacingOccurrences(of: "'", with: "''"))'\n"
        }.joined()
        try rules.write(toFile: daemon.root + "/dashboard-rules.yml", atomically: true, encoding: .utf8)
        let parsed = try runCommand(Self.promtool, ["check", "rules", daemon.root + "/dashboard-rules.yml"])
        XCTAssertEqual(parsed.status, 0, "a dashboard query does not parse: \(parsed.stdout)\(parsed.stderr)")

        let readme = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        for family in families.sorted() where !readme.contains("`\(family)`") {
            XCTFail("the README does not document \(family)")
        }
    }

    /// A metrics file that cannot be written is said once, not at every attempt (each attempt's
    /// temporary has its own name, which once made every message new), the daemon classifies
    /// on, and once the directory is there the file is written and that is said.
    func testAnUnwritableMetricsFileIsSaidOnceAndTheDaemonGoesOn() throws {
        let directory = daemon.root + "/made-later"
        daemon.extraArguments = ["--metrics-file", directory + "/mnistd.prom", "--metrics-interval", "0.02"]
        try daemon.start()
        try drop("seven.png", bytes: sample("digit-7-mnist-28px-gray.png"))
        XCTAssertTrue(daemon.waitForOutcomes(["seven.png"]), daemon.log)
        usleep(500_000)
        XCTAssertEqual(daemon.log.components(separatedBy: "cannot write metrics").count - 1, 1, daemon.log)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        XCTAssertTrue(waitUntil(timeout: 10) { self.daemon.log.contains("metrics are written to \(directory)/mnistd.prom again") }, daemon.log)
        let written = try String(contentsOfFile: directory + "/mnistd.prom", encoding: .utf8)
        XCTAssertTrue(written.contains("mnistd_files_classified_total 1\n"), written)
        XCTAssertEqual(daemon.stop(), 0)
    }
}
