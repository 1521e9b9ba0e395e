@testable import Daemon
import Foundation
import SystemResources
import XCTest

/// The notify protocol's sender, on both kinds of address NOTIFY_SOCKET may give.
final class ServiceNotifierTests: XCTestCase {
    override func tearDown() { unsetenv("NOTIFY_SOCKET") }

    /// What arrives on a datagram socket bound with `bind` once NOTIFY_SOCKET is `path` and `send` ran.
    func received(at path: String, bind: (Int32) -> Int32, after send: () -> Void) -> String? {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(socket) }
        XCTAssertEqual(bind(socket), 0, "bind \(path)")
        setenv("NOTIFY_SOCKET", path, 1)
        send()
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(socket, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    func testAStatusReachesAFileSocket() throws {
        let file = NSTemporaryDirectory() + "notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(file) }
        let address = try UnixSocketAddress(path: file)
        XCTAssertEqual(received(at: file, bind: { address.bind($0) }) { ServiceNotifier().status("queue 3") }, "STATUS=queue 3")
    }

    /// `@name` is the abstract name `name`: a NUL, the name, and no padding after it. The
    /// receiver here is bound by hand, as systemd binds one, not by the code under test.
    func testAMessageReachesAnAbstractSocket() {
        let name = "mnistd-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let message = received(at: "@" + name, bind: { socket in
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, byte) in name.utf8.enumerated() { raw[i + 1] = byte } }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + 1 + name.utf8.count)
            return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(socket, $0, length) } }
        }) { ServiceNotifier().stopping() }
        XCTAssertEqual(message, "STOPPING=1\nSTATUS=stopping")
    }
}
