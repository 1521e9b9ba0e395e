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
