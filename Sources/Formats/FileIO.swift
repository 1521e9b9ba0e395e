#if canImport(Glibc)
import Glibc
#endif

/// Reads a whole regular file, refusing anything larger than `maxBytes` before reading it.
/// With `followSymlinks` false, a symbolic link is refused rather than followed, and a FIFO or
/// device is refused without blocking on it (the type is checked on the open descriptor).
public func readFile(_ path: String, maxBytes: Int = 1 << 30, followSymlinks: Bool = true) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC | (followSymlinks ? 0 : O_NOFOLLOW | O_NONBLOCK))
    guard fd >= 0 else {
        throw FormatError(file: path, reason: errno == ELOOP && !followSymlinks
            ? "is a symbolic link (links are not followed)" : "cannot open: \(systemError())")
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw FormatError(file: path, reason: "cannot stat: \(systemError())") }
    guard info.st_mode & S_IFMT == S_IFREG else {
        throw FormatError(file: path, reason: "not a regular file (\(fileTypeName(info.st_mode)))")
    }
    let size = Int(info.st_size)
    guard size <= maxBytes else {
        throw FormatError(file: path, reason: "file is \(size) bytes, over the limit of \(maxBytes)")
    }
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw FormatError(file: path, reason: "read failed: \(systemError())")
        }
        if n == 0 { break }
        done += n
    }
    if done < size { bytes.removeLast(size - done) }
    return bytes
}

/// Writes bytes to `path` atomically: a temporary file in the same directory, fsynced, then
/// renamed over the target, so a reader sees the old file or the whole new one, never a part.
public func writeFileAtomically(_ path: String, _ bytes: [UInt8]) throws {
    let temporary = temporaryName(for: path)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FormatError(file: path, reason: "cannot create \(temporary): \(systemError())") }
    guard writeAll(fd, bytes) else {
        let reason = systemError()
        close(fd)
        unlink(temporary)
        throw FormatError(file: path, reason: "write failed: \(reason)")
    }
    guard fsync(fd) == 0, close(fd) == 0 else {
        let reason = systemError()
        unlink(temporary)
        throw FormatError(file: path, reason: "cannot flush to disk: \(reason)")
    }
    guard rename(temporary, path) == 0 else {
        let reason = systemError()
        unlink(temporary)
        throw FormatError(file: path, reason: "cannot rename into place: \(reason)")
    }
    syncDirectory(containing: path)
}

/// Writes every byte to `fd`, retrying short writes; false with `errno` set on failure.
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        written += n
    }
    return true
}

/// A hidden name next to `path`, unique to this process and moment.
func temporaryName(for path: String) -> String {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[...$0]) } ?? ""
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return "\(directory).\(name).\(getpid()).\(now.tv_nsec).tmp"
}

/// fsync on the directory makes a rename in it durable across a power cut.
public func syncDirectory(containing path: String) {
    let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
    syncDirectory(directory.isEmpty ? "/" : directory)
}

/// fsync on a directory: the entries created, renamed or removed in it survive a power cut.
public func syncDirectory(_ directory: String) {
    let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
}

public func systemError() -> String { String(cString: strerror(errno)) }

/// What kind of file a mode describes, in words.
public func fileTypeName(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFREG: return "regular file"
    case S_IFDIR: return "directory"
    case S_IFLNK: return "symbolic link"
    case S_IFIFO: return "FIFO"
    case S_IFSOCK: return "socket"
    case S_IFCHR: return "character device"
    case S_IFBLK: return "block device"
    default: return "unknown file type"
    }
}
