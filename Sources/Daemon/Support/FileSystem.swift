#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Formats

/// A failed system call on a path, with the reason in words.
public struct FileSystemError: Error, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let code: Int32

    init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "\(path): cannot \(operation): \(String(cString: strerror(code)))" }
}

/// Creates a directory and its missing parents.
func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
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
func directoryEntries(_ path: String) throws -> [String] {
    try directoryEntryBytes(path).map { String(decoding: $0, as: UTF8.self) }
}

/// The names in a directory as the bytes they are, without `.` and `..`.
func directoryEntryBytes(_ path: String) throws -> [[UInt8]] {
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
func cPath(_ directory: String, _ name: some Collection<UInt8>) -> [CChar] {
    (Array(directory.utf8) + [UInt8(ascii: "/")] + Array(name) + [0]).map { CChar(bitPattern: $0) }
}

/// A name that is not valid UTF-8 written so that it is: each byte that is not part of a
/// valid sequence as `\xHH` (stray continuation bytes, overlong forms such as `\xc0\xaf` for
/// `/`, surrogates, bytes past U+10FFFF). Nil for a name that is UTF-8 already.
func escapedName(_ bytes: [UInt8]) -> String? {
    guard String(validating: bytes, as: UTF8.self) == nil else { return nil }
    var out = ""
    var index = 0
    while index < bytes.count {
        let lead = bytes[index]
        let length = lead < 0x80 ? 1 : (0xC2...0xDF).contains(lead) ? 2 : (0xE0...0xEF).contains(lead) ? 3 : (0xF0...0xF4).contains(lead) ? 4 : 0
        if length > 0, index + length <= bytes.count, let valid = String(validating: bytes[index..<index + length], as: UTF8.self) {
            out += valid
            index += length
        } else {
            out += "\\x" + (lead < 16 ? "0" : "") + String(lead, radix: 16)
            index += 1
        }
    }
    return out
}

/// Renames `directory/raw`, a name that is not UTF-8, to its escaped form there (or a free
/// variant of it), so that every later step handles it as text. Returns the name it took.
func giveEscapedName(in directory: String, raw: [UInt8]) throws -> String {
    try place(cPath(directory, raw), into: directory, preferred: escapedName(raw) ?? String(decoding: raw, as: UTF8.self), by: .rename)
}

/// lstat, or nil when the path does not exist.
func linkStatus(_ path: String) -> stat? {
    var info = stat()
    return lstat(path, &info) == 0 ? info : nil
}

/// The entry of `directory` that is the same file (inode) as `info`, if any.
func entry(in directory: String, sameFileAs info: stat, excluding excluded: String) -> String? {
    guard let names = try? directoryEntries(directory) else { return nil }
    return names.first { name in
        guard name != excluded, let other = linkStatus("\(directory)/\(name)") else { return false }
        return other.st_ino == info.st_ino && other.st_dev == info.st_dev
    }
}

/// Creates `path` (which must not exist) holding `bytes`; flushed to disk only if `sync`.
func createFile(_ path: String, _ bytes: [UInt8], sync: Bool) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FileSystemError("create", path) }
    guard writeAll(fd, bytes), !sync || fsync(fd) == 0 else {
        let code = errno
        close(fd)
        unlink(path)
        throw FileSystemError("write", path, code: code)
    }
    guard close(fd) == 0 else {
        let code = errno
        unlink(path)
        throw FileSystemError("write", path, code: code)
    }
}

/// Flushes everything written to the filesystem holding `path`: one flush for a whole batch
/// of files instead of an fsync each.
func syncFileSystem(containing path: String) throws {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw FileSystemError("open", path) }
    defer { close(fd) }
    guard linux_syncfs(fd) == 0 else { throw FileSystemError("flush to disk", path) }
}

/// How a file takes its name in a directory without replacing one already there.
enum PlacementMethod {
    /// A second name (link): the source stays, so a crash can be told from a finished step.
    case link
    /// renameat2(RENAME_NOREPLACE): atomic, the source name goes.
    case rename
}

/// Gives `source` the name `preferred` in `directory`, or the first free variant of it
/// (`name-1.png`, `name-2.png`, …), never replacing an existing file. `taken` can mark more
/// names as unavailable. Returns the name used.
func place(_ source: String, into directory: String, preferred: String, suffix: String = "", by method: PlacementMethod,
           taken: (String) -> Bool = { _ in false }) throws -> String {
    try place(Array(source.utf8CString), into: directory, preferred: preferred, suffix: suffix, by: method, taken: taken)
}

/// `place` for a source path given as C bytes (its name need not be UTF-8).
func place(_ source: [CChar], into directory: String, preferred: String, suffix: String = "", by method: PlacementMethod,
           taken: (String) -> Bool = { _ in false }) throws -> String {
    for attempt in 0... {
        let name = variant(of: preferred, attempt, reserving: suffix.utf8.count)
        if taken(name) { continue }
        let target = "\(directory)/\(name)\(suffix)"
        switch method {
        case .link:
            if link(source, target) == 0 { return name }
        case .rename:
            if linux_rename_noreplace(source, target) == 0 { return name }
            // Filesystems without RENAME_NOREPLACE: check, then rename (only the daemon
            // writes in its directories, so nothing can take the name in between).
            if errno == EINVAL && linkStatus(target) == nil {
                if Glibc.rename(source, target) == 0 { return name }
            } else if errno == EINVAL {
                errno = EEXIST
            }
        }
        guard errno == EEXIST else {
            throw FileSystemError("move \(String(decoding: source.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) to", target)
        }
    }
    fatalError("unreachable: the loop above is unbounded")
}

/// The `attempt`-th name to try for `name`: the name itself, then `-N` before its extension
/// (before `.idx3.gz`-style double extensions too), shortened so that it still fits in a
/// directory entry with `reserving` more bytes appended, whatever the lengths of its parts.
func variant(of name: String, _ attempt: Int, reserving: Int = 0) -> String {
    var stem = Substring(name)
    var extensionPart = Substring("")
    if let dot = name.lastIndex(of: "."), dot != name.startIndex {
        var start = dot
        if name[dot...] == ".gz", let previous = name[..<dot].lastIndex(of: "."), previous != name.startIndex {
            start = previous
        }
        stem = name[..<start]
        extensionPart = name[start...]
    }
    let tag = attempt == 0 ? "" : "-\(attempt)"
    let fixed = reserving + tag.utf8.count
    // An "extension" that leaves the stem no room is no extension: the name is cut at its end.
    if fixed + extensionPart.utf8.count >= Int(NAME_MAX) {
        stem = Substring(name)
        extensionPart = ""
    }
    let room = Int(NAME_MAX) - fixed - extensionPart.utf8.count
    while stem.utf8.count > max(room, 1) { stem = stem.dropLast() }
    return String(stem) + tag + String(extensionPart)
}
