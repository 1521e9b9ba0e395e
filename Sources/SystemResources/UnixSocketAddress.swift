#if canImport(Glibc)
import Glibc
#endif

/// A Unix-domain socket address (`sockaddr_un`) for a path, ready to bind or connect; a path
/// starting with `@` names a socket in the abstract namespace (as `NOTIFY_SOCKET` may).
package struct UnixSocketAddress {
    private var address = sockaddr_un()
    private let length: socklen_t

    package init(path: String) throws {
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw FileSystemError("use as a socket path (\(bytes.isEmpty ? "empty" : "too long"))", path, code: bytes.isEmpty ? EINVAL : ENAMETOOLONG)
        }
        let abstract = bytes[0] == UInt8(ascii: "@")
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
            if abstract { raw[0] = 0 }
        }
        // An abstract name is as long as it is, not padded with zeros to the structure's end.
        length = abstract ? socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count)
            : socklen_t(MemoryLayout<sockaddr_un>.size)
    }

    /// bind(2) or connect(2) on `fd`: 0, or -1 with errno set.
    package func bind(_ fd: Int32) -> Int32 { withSocketAddress { Glibc.bind(fd, $0, $1) } }
    package func connect(_ fd: Int32) -> Int32 { withSocketAddress { Glibc.connect(fd, $0, $1) } }

    /// sendto(2) of `bytes` on `fd`: the bytes sent, or -1 with errno set.
    package func send(_ bytes: [UInt8], on fd: Int32, flags: Int32) -> Int {
        bytes.withUnsafeBytes { buffer in withSocketAddress { sendto(fd, buffer.baseAddress, buffer.count, flags, $0, $1) } }
    }

    private func withSocketAddress<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var copy = address
        return withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}

/// Sends one datagram to the Unix socket at `path` (see `UnixSocketAddress`), waiting at most
/// `seconds` for room in the receiver's queue (0: not at all). False when it was not sent.
package func sendDatagram(_ bytes: [UInt8], to path: String, waitingAtMost seconds: Double) -> Bool {
    guard let address = try? UnixSocketAddress(path: path) else { return false }
    let socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard socket >= 0 else { return false }
    defer { close(socket) }
    var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1e6))
    setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let flags = Int32(MSG_NOSIGNAL) | (seconds > 0 ? 0 : Int32(MSG_DONTWAIT))
    return address.send(bytes, on: socket, flags: flags) == bytes.count
}
