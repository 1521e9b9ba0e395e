#if canImport(Glibc)
import Glibc
#endif
import SystemResources

/// The client end of the control socket, as `mnistctl` uses it: one request, one reply.
public struct ControlClient: Sendable {
    public let socketPath: String

    public init(socketPath: String) { self.socketPath = socketPath }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Sends `request` and waits up to `timeout` seconds for the reply line.
    public func send(_ request: ControlRequest, timeout: Double = 120) throws -> ControlReply {
        let connection: FileDescriptor, address: UnixSocketAddress
        do {
            connection = try FileDescriptor.unixSocket(SOCK_STREAM, for: socketPath)
            address = try UnixSocketAddress(path: socketPath)
        } catch {
            throw Failure(description: "\(error)")
        }
        let connected = address.connect(connection.rawValue)
        guard connected == 0 else {
            let code = errno
            if code == EACCES {
                throw Failure(description: "\(socketPath): permission denied\(Self.accessHint(socketPath))")
            }
            throw Failure(description: "\(socketPath): cannot connect (\(String(cString: strerror(code)))); is mnistd running with this --socket?")
        }
        let line: [UInt8]
        do { line = try ControlCoding.encode(request) } catch { throw Failure(description: "cannot encode the request: \(error)") }
        var sent = 0, refusedBeforeReading = false
        while sent < line.count {
            let n = line.withUnsafeBytes { Glibc.send(connection.rawValue, $0.baseAddress! + sent, line.count - sent, Int32(MSG_NOSIGNAL)) }
            // A daemon that refuses a peer replies and closes without reading the request: the
            // send fails, but the reply saying why is still there to read.
            guard n > 0 else { refusedBeforeReading = true; break }
            sent += n
        }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let deadline = monotonicMicroseconds() + Int64(timeout * 1e6)
        while !reply.contains(UInt8(ascii: "\n")) {
            var descriptor = [pollfd(fd: connection.rawValue, events: Int16(POLLIN), revents: 0)]
            let left = Int32(max(0, (deadline - monotonicMicroseconds()) / 1000))
            guard pollRetrying(&descriptor, milliseconds: left) == 1 else { throw Failure(description: "\(socketPath): no reply within \(Int(timeout)) s") }
            let n = recv(connection.rawValue, &chunk, chunk.count, 0)
            guard n > 0 else {
                throw Failure(description: "\(socketPath): the daemon closed the connection\(refusedBeforeReading ? "" : " without a reply")")
            }
            reply += chunk[0..<n]
        }
        let end = reply.firstIndex(of: UInt8(ascii: "\n")) ?? reply.endIndex
        do {
            return try ControlCoding.decode(ControlReply.self, from: Array(reply[..<end]))
        } catch {
            throw Failure(description: "\(socketPath): unreadable reply: \(String(decoding: reply[..<end], as: UTF8.self))")
        }
    }

    /// Who may connect, for a permission error: the group of the socket, or of the nearest
    /// directory above it that this user can see (the socket itself may be out of sight).
    static func accessHint(_ socketPath: String) -> String {
        var path = socketPath
        while !path.isEmpty {
            var info = stat()
            if lstat(path, &info) == 0 {
                guard info.st_gid != 0 else { return " (only root and the daemon's user may use it)" }
                let group = getgrgid(info.st_gid).flatMap { $0.pointee.gr_name }.map { String(cString: $0) } ?? "\(info.st_gid)"
                return " (root, the daemon's user and members of group \(group) may use it: `sudo usermod -aG \(group) $USER`, then log in again)"
            }
            guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { break }
            path = String(path[..<slash])
        }
        return ""
    }
}
