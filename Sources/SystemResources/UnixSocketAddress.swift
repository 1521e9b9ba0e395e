#if canImport(Glibc)
import Glibc
#endif

/// A Unix-domain socket address (`sockaddr_un`) for a path, ready to bind or connect.
package struct UnixSocketAddress {
    private var address = sockaddr_un()

    package init(path: String) throws {
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw FileSystemError("use as a socket path (too long)", path, code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
    }

    /// bind(2) or connect(2) on `fd`: 0, or -1 with errno set.
    package func bind(_ fd: Int32) -> Int32 { withSocketAddress { Glibc.bind(fd, $0, $1) } }
    package func connect(_ fd: Int32) -> Int32 { withSocketAddress { Glibc.connect(fd, $0, $1) } }

    private func withSocketAddress(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var copy = address
        return withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

/// Sends one datagram to the Unix socket at `path` (`@name`: in the abstract namespace, as
/// `NOTIFY_SOCKET` may say), waiting at most `seconds` for room in the receiver's queue (0:
/// not at all). False when it was not sent.
package func sendDatagram(_ bytes: [UInt8], to path: String, waitingAtMost seconds: Double) -> Bool {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let name = Array(path.utf8)
    guard !name.isEmpty, name.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, byte) in name.enumerated() { raw[i] = byte }
        if name[0] == UInt8(ascii: "@") { raw[0] = 0 }
    }
    // An abstract name is as long as it is, not padded with zeros to the structure's end.
    let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + name.count + (name[0] == UInt8(ascii: "@") ? 0 : 1))
    let socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard socket >= 0 else { return false }
    defer { close(socket) }
    var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1e6))
    setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let flags = Int32(MSG_NOSIGNAL) | (seconds > 0 ? 0 : Int32(MSG_DONTWAIT))
    let sent = bytes.withUnsafeBytes { buffer in
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(socket, buffer.baseAddress, buffer.count, flags, $0, length) }
        }
    }
    return sent == bytes.count
}
