#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A failed operation on a path, with the reason in words and the errno behind it.
public struct FileSystemError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    /// The errno it came from; EFBIG for a file over the caller's size limit, EINVAL for a
    /// file of the wrong type.
    public let code: Int32

    /// `operation` failed with `code`: "path: cannot operation: the error in words".
    package init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.init(path, reason: "cannot \(operation): \(String(cString: strerror(code)))", code: code)
    }

    package init(_ path: String, reason: String, code: Int32) {
        self.path = path
        self.reason = reason
        self.code = code
    }

    public var description: String { "\(path): \(reason)" }
}

/// Reads a whole regular file, refusing anything larger than `maxBytes` before reading it.
/// With `followSymlinks` false, a symbolic link is refused rather than followed, and a FIFO or
/// device is refused without blocking on it (the type is checked on the open descriptor).
package func readFile(_ path: String, maxBytes: Int = 1 << 30, followSymlinks: Bool = true) throws -> [UInt8] {
    let file: FileDescriptor
    do {
        file = try FileDescriptor.open(path, O_RDONLY | (followSymlinks ? 0 : O_NOFOLLOW | O_NONBLOCK))
    } catch let error as FileSystemError where error.code == ELOOP && !followSymlinks {
        throw FileSystemError(path, reason: "is a symbolic link (links are not followed)", code: ELOOP)
    }
    var info = stat()
    guard fstat(file.rawValue, &info) == 0 else { throw FileSystemError("stat", path) }
    guard info.st_mode & S_IFMT == S_IFREG else {
        throw FileSystemError(path, reason: "not a regular file (\(fileTypeName(info.st_mode)))", code: EINVAL)
    }
    let size = Int(info.st_size)
    guard size <= maxBytes else {
        throw FileSystemError(path, reason: "file is \(size) bytes, over the limit of \(maxBytes)", code: EFBIG)
    }
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
        let n = bytes.withUnsafeMutableBytes { file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[done...])) }
        if n < 0 { throw FileSystemError(path, reason: "read failed: \(String(cString: strerror(errno)))", code: errno) }
        if n == 0 { break }
        done += n
    }
    if done < size { bytes.removeLast(size - done) }
    return bytes
}

/// Writes bytes to `path` atomically: a temporary file in the same directory, then renamed
/// over the target, so a reader sees the old file or the whole new one, never a part. `durably`:
/// the file and the rename are flushed to disk first (what survives a power failure); `mode`:
/// the file's permissions exactly, whatever the umask (otherwise 0644 less the umask).
package func writeFileAtomically(_ path: String, _ bytes: [UInt8], durably: Bool = true, mode: mode_t? = nil) throws {
    let temporary = temporaryName(for: path)
    do {
        try createFile(temporary, bytes, sync: durably, mode: mode)
    } catch let error as FileSystemError {
        throw FileSystemError(path, reason: "cannot write \(temporary): \(String(cString: strerror(error.code)))", code: error.code)
    }
    guard rename(temporary, path) == 0 else {
        let code = errno
        unlink(temporary)
        throw FileSystemError("rename into place", path, code: code)
    }
    if durably { syncDirectory(containing: path) }
}

/// Creates `path` (which must not exist) holding `bytes`; flushed to disk only if `sync`;
/// with exactly `mode` when given. On failure nothing is left at `path`.
package func createFile(_ path: String, _ bytes: [UInt8], sync: Bool, mode: mode_t? = nil) throws {
    let file = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
    guard mode.map({ fchmod(file.rawValue, $0) == 0 }) ?? true, file.writeAll(bytes), !sync || fsync(file.rawValue) == 0, file.close() else {
        let code = errno
        unlink(path)
        throw FileSystemError("write", path, code: code)
    }
}

/// A hidden name next to `path`, unique to this process and moment.
package func temporaryName(for path: String) -> String {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[...$0]) } ?? ""
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return "\(directory).\(name).\(getpid()).\(now.tv_nsec).tmp"
}

/// fsync on the directory makes a rename in it durable across a power cut.
package func syncDirectory(containing path: String) {
    let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
    syncDirectory(directory.isEmpty ? "/" : directory)
}

/// fsync on a directory: the entries created, renamed or removed in it survive a power cut.
package func syncDirectory(_ directory: String) {
    guard let handle = try? FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY) else { return }
    fsync(handle.rawValue)
}

/// Flushes everything written to the filesystem holding `path`: one flush for a whole batch
/// of files instead of an fsync each, where the filesystem makes it a barrier (`FlushMethod`).
package func syncFileSystem(containing path: String) throws {
    let handle = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY)
    guard linux_syncfs(handle.rawValue) == 0 else { throw FileSystemError("flush to disk", path) }
}

/// How written files are made to survive a power failure on a filesystem.
public enum FlushMethod: String, Sendable {
    /// One syncfs for everything written: it waits for every dirty file of the filesystem on
    /// ext2/3/4, XFS and btrfs (and tmpfs has nothing to write).
    case wholeFileSystem = "syncfs"
    /// An fdatasync per file and an fsync per directory changed: syncfs returns at once on
    /// FUSE, and reaches no server on NFS, CIFS or Ceph, so there only these are barriers.
    case eachFile = "fsync"

    /// The method for the filesystem holding `path`: syncfs only where it is known to be a barrier.
    package static func forFileSystem(containing path: String) -> FlushMethod {
        wholeFileSystemBarriers.contains(Int64(linux_filesystem_type(path))) ? .wholeFileSystem : .eachFile
    }

    /// statfs magic numbers: ext2/3/4, XFS, btrfs, tmpfs, ramfs.
    private static let wholeFileSystemBarriers: Set<Int64> = [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994, 0x8584_58F6]
}

/// Makes the bytes of `paths` durable: writeback is started for a group of files before
/// waiting on any, so the disk sees them together rather than one flush after another.
package func flushFiles(_ paths: [String]) throws {
    // A group's descriptors stay open between its two passes; groups bound how many.
    let group = 64
    for start in stride(from: 0, to: paths.count, by: group) {
        let files = try paths[start..<min(start + group, paths.count)].map { path in
            let file = try FileDescriptor.open(path, O_RDONLY)
            linux_start_writeback(file.rawValue)
            return (path, file)
        }
        for (path, file) in files where fdatasync(file.rawValue) != 0 { throw FileSystemError("flush to disk", path) }
    }
}

/// What kind of file a mode describes, in words.
package func fileTypeName(_ mode: mode_t) -> String {
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

/// Creates a directory and its missing parents.
package func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
        prefix += component
        if mkdir(prefix, mode) != 0 && errno != EEXIST { throw FileSystemError("create directory", prefix) }
        prefix += "/"
    }
    var info = stat()
    guard stat(path, &info) == 0 else { throw FileSystemError("stat", path) }
    guard info.st_mode & S_IFMT == S_IFDIR else { throw FileSystemError("use as a directory", path, code: ENOTDIR) }
}

/// The names in a directory, without `.` and `..` (a name that is not UTF-8 comes repaired,
/// so it no longer names its file: see `directoryEntryBytes`).
package func directoryEntries(_ path: String) throws -> [String] {
    try directoryEntryBytes(path).map { String(decoding: $0, as: UTF8.self) }
}

/// The names in a directory as the bytes they are, without `.` and `..`.
package func directoryEntryBytes(_ path: String) throws -> [[UInt8]] {
    guard let directory = opendir(path) else { throw FileSystemError("list", path) }
    defer { closedir(directory) }
    var names: [[UInt8]] = []
    let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
    while let entry = readdir(directory) {
        // Read in place up to its NUL: a record is only as long as its name, so copying the
        // whole 256-byte d_name field reads past the last record of readdir's buffer.
        let start = (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: UInt8.self)
        let name = Array(UnsafeBufferPointer(start: start, count: strlen(UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self))))
        if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(name) }
    }
    return names
}

/// `directory/name` as a C path, whatever bytes the name holds.
package func cPath(_ directory: String, _ name: some Collection<UInt8>) -> [CChar] {
    (Array(directory.utf8) + [UInt8(ascii: "/")] + Array(name) + [0]).map { CChar(bitPattern: $0) }
}

/// lstat, or nil when the path does not exist.
package func linkStatus(_ path: String) -> stat? {
    var info = stat()
    return lstat(path, &info) == 0 ? info : nil
}

/// The entry of `directory` that is the same file (inode) as `info`, if any.
package func entry(in directory: String, sameFileAs info: stat, excluding excluded: String) -> String? {
    guard let names = try? directoryEntries(directory) else { return nil }
    return names.first { name in
        guard name != excluded, let other = linkStatus("\(directory)/\(name)") else { return false }
        return other.st_ino == info.st_ino && other.st_dev == info.st_dev
    }
}
