#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// An open file descriptor this process owns: closed exactly once, by `close()` or when the
/// last reference goes, so that no error path leaks one and none is closed twice.
package final class FileDescriptor: @unchecked Sendable {
    package let rawValue: Int32
    private var isOpen = true

    package init(owning rawValue: Int32) { self.rawValue = rawValue }

    deinit { if isOpen { Glibc.close(rawValue) } }

    /// open(2), retried when a signal interrupts it; the error names `path`.
    package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws -> FileDescriptor {
        let fd = retryingOnInterrupt { Glibc.open(path, flags | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw FileSystemError("open", path) }
        return FileDescriptor(owning: fd)
    }

    /// A Unix-domain socket of `type` (SOCK_STREAM, SOCK_DGRAM), closed on exec, for use at
    /// `path` (which the error names).
    package static func unixSocket(_ type: __socket_type, for path: String) throws -> FileDescriptor {
        let fd = socket(AF_UNIX, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FileSystemError("create a socket", path) }
        return FileDescriptor(owning: fd)
    }

    /// Closes now and says whether the kernel took it well: a failed close can mean lost
    /// writes (a full disk on NFS), so writers check it.
    @discardableResult
    package func close() -> Bool {
        guard isOpen else { return true }
        isOpen = false
        return Glibc.close(rawValue) == 0
    }

    /// read(2) into `buffer`, retried when interrupted: the count, 0 at the end, -1 on error.
    package func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        retryingOnInterrupt { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes every byte (see the free `writeAll`).
    package func writeAll(_ bytes: [UInt8]) -> Bool { SystemResources.writeAll(rawValue, bytes) }

    /// Sets O_NONBLOCK.
    package func makeNonBlocking() {
        _ = fcntl(rawValue, F_SETFL, fcntl(rawValue, F_GETFL) | O_NONBLOCK)
    }
}

/// Writes every byte to `fd` (owned or not: standard error), retrying short and interrupted
/// writes; false with `errno` set.
package func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { buffer in retryingOnInterrupt { write(fd, buffer.baseAddress! + written, bytes.count - written) } }
        guard n > 0 else { return false }
        written += n
    }
    return true
}

/// Calls `body` again while it fails with EINTR: the one place a signal's interruption of a
/// system call is handled.
package func retryingOnInterrupt<Result: BinaryInteger>(_ body: () -> Result) -> Result {
    while true {
        let result = body()
        if result >= 0 || errno != EINTR { return result }
    }
}

/// poll(2) on `descriptors` for up to `milliseconds` (-1: no limit), retried when
/// interrupted (with the whole timeout again: callers compute deadlines themselves).
package func pollRetrying(_ descriptors: inout [pollfd], milliseconds: Int32) -> Int32 {
    retryingOnInterrupt { poll(&descriptors, nfds_t(descriptors.count), milliseconds) }
}

/// A pipe that wakes a thread waiting in poll(): `wake()`, from any thread, makes
/// `readEnd` readable until `drain()`. Both ends close on exec and never block.
package final class WakeupPipe: Sendable {
    package let readEnd: FileDescriptor
    private let writeEnd: FileDescriptor

    /// `purpose` names the pipe in the error.
    package init(for purpose: String) throws {
        var fds: [Int32] = [0, 0]
        guard linux_pipe(&fds, O_CLOEXEC | O_NONBLOCK) == 0 else { throw FileSystemError("create a pipe for", purpose) }
        readEnd = FileDescriptor(owning: fds[0])
        writeEnd = FileDescriptor(owning: fds[1])
    }

    /// A full pipe is awake already, so a write that would block is as good as done.
    package func wake() {
        var byte: UInt8 = 1
        _ = retryingOnInterrupt { write(writeEnd.rawValue, &byte, 1) }
    }

    package func drain() {
        var drained = [UInt8](repeating: 0, count: 256)
        while drained.withUnsafeMutableBytes({ readEnd.read(into: $0) }) > 0 {}
    }

    /// A pollfd for the read end.
    package var pollDescriptor: pollfd { pollfd(fd: readEnd.rawValue, events: Int16(POLLIN), revents: 0) }
}
