import Foundation
import TestSupport
import XCTest

/// Debian's real node_exporter (`prometheus-node-exporter`) with only its textfile collector,
/// reading `directory`, on a free loopback port, as `user` (else as this process's); scraped
/// over plain HTTP.
final class NodeExporter {
    static let executable = "/usr/bin/prometheus-node-exporter"
    let directory: String
    let port: UInt16
    private let process: Process
    private let logPath: String

    /// Skips, saying so, where the package is not installed (.ci/run installs it).
    init(directory: String, user: String? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw XCTSkip("node_exporter not installed (apt-get install prometheus-node-exporter): \(Self.executable) is missing")
        }
        self.directory = directory
        port = try freeLoopbackPort()
        logPath = NSTemporaryDirectory() + "node-exporter-\(port).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        let arguments = ["--web.listen-address=127.0.0.1:\(port)", "--collector.disable-defaults", "--collector.textfile",
                         "--collector.textfile.directory=\(directory)"]
        // setpriv execs node_exporter itself, so the process ended at the end is node_exporter.
        process.executableURL = URL(fileURLWithPath: user == nil ? Self.executable : "/usr/bin/setpriv")
        process.arguments = user.map { ["--reuid=\($0)", "--regid=\($0)", "--init-groups", "--", Self.executable] + arguments } ?? arguments
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        guard waitUntil(timeout: 20, { (try? self.scrape()) != nil }) else {
            throw NodeExporterError(message: "node_exporter did not answer on 127.0.0.1:\(port):\n\(self.log)")
        }
    }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: logPath)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// GET /metrics: the body of a 200 answer.
    func scrape() throws -> String {
        let response = try httpGet(port: port, path: "/metrics")
        guard response.hasPrefix("HTTP/1.0 200") || response.hasPrefix("HTTP/1.1 200"),
              let body = response.range(of: "\r\n\r\n") else {
            throw NodeExporterError(message: "node_exporter answered: \(response.prefix(300))")
        }
        return String(response[body.upperBound...])
    }
}

struct NodeExporterError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
private func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = loopback(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    guard withUnsafeMutablePointer(to: &address, { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }) else { throw NodeExporterError(message: "no free port: \(String(cString: strerror(errno)))") }
    return UInt16(bigEndian: address.sin_port)
}

private func loopback(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return address
}

/// HTTP/1.0, so the answer is neither chunked nor kept alive: read to the end.
private func httpGet(port: UInt16, path: String) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = loopback(port: port)
    guard withUnsafePointer(to: &address, { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }) else { throw NodeExporterError(message: "connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
        throw NodeExporterError(message: "send to 127.0.0.1:\(port) failed")
    }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        response += buffer[0..<count]
    }
    return String(decoding: response, as: UTF8.self)
}

/// Samples of a Prometheus text exposition by series, each written `name{a="x",b="y"}` with
/// its labels sorted (node_exporter sorts them; mnistd writes them in its own order).
struct Scrape {
    let values: [String: Double]
    /// Families announced by `# TYPE`, with their type.
    let types: [String: String]

    init(_ text: String) {
        var values: [String: Double] = [:], types: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
                continue
            }
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[Self.series(String(line[..<space]))] = value
        }
        self.values = values
        self.types = types
    }

    subscript(_ series: String) -> Double? { values[Self.series(series)] }

    /// The name and its labels sorted; label values here hold no commas or braces.
    static func series(_ written: String) -> String {
        guard let brace = written.firstIndex(of: "{") else { return written }
        let labels = written[written.index(after: brace)..<written.index(before: written.endIndex)].split(separator: ",").sorted()
        return written[..<brace] + "{" + labels.joined(separator: ",") + "}"
    }

    /// Whether every histogram's buckets never decrease and end in +Inf equal to its count.
    func histogramsAreWhole() -> [String] {
        types.filter { $0.value == "histogram" }.keys.sorted().compactMap { name in
            let buckets = values.filter { $0.key.hasPrefix(name + "_bucket{") }
            let ordered = buckets.map { key, count -> (Double, Double) in
                let bound = key.components(separatedBy: "le=\"")[1].prefix { $0 != "\"" }
                return (bound == "+Inf" ? .infinity : Double(bound) ?? .nan, count)
            }.sorted { $0.0 < $1.0 }
            guard let last = ordered.last, last.0 == .infinity, last.1 == values[name + "_count"],
                  zip(ordered, ordered.dropFirst()).allSatisfy({ $0.1 <= $1.1 }) else { return name }
            return nil
        }
    }
}
