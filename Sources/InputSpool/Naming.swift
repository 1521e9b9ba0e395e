#if canImport(Glibc)
import Glibc
#endif
import CLinux
import SystemResources

/// A name that is not valid UTF-8 written so that it is: each byte that is not part of a
/// valid sequence as `\xHH` (stray continuation bytes, overlong forms such as `\xc0\xaf` for
/// `/`, surrogates, bytes past U+10FFFF). Nil for a name that is UTF-8 already.
package func escapedName(_ bytes: [UInt8]) -> String? {
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
package func giveEscapedName(in directory: String, raw: [UInt8]) throws -> String {
    try place(cPath(directory, raw), into: directory, preferred: escapedName(raw) ?? String(decoding: raw, as: UTF8.self), by: .rename)
}

/// How a file takes its name in a directory without replacing one already there.
package enum PlacementMethod {
    /// A second name (link): the source stays, so a crash can be told from a finished step.
    case link
    /// renameat2(RENAME_NOREPLACE): atomic, the source name goes. Where the filesystem cannot
    /// (FUSE, some network filesystems), a link (which cannot replace a name either) and then
    /// the source's unlink: a crash between them leaves the file under both names.
    case rename
}

/// Gives `source` the name `preferred` in `directory`, or the first free variant of it
/// (`name-1.png`, `name-2.png`, …), never replacing an existing file. `taken` can mark more
/// names as unavailable. Returns the name used.
package func place(_ source: String, into directory: String, preferred: String, suffix: String = "", by method: PlacementMethod,
           taken: (String) -> Bool = { _ in false }) throws -> String {
    try place(Array(source.utf8CString), into: directory, preferred: preferred, suffix: suffix, by: method, taken: taken)
}

/// `place` for a source path given as C bytes (its name need not be UTF-8).
package func place(_ source: [CChar], into directory: String, preferred: String, suffix: String = "", by method: PlacementMethod,
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
            if errno == EINVAL {
                if link(source, target) == 0 {
                    unlink(source)
                    return name
                }
                // No hard links either (a directory, some SMB servers): check, then rename.
                if errno != EEXIST {
                    if linkStatus(target) != nil {
                        errno = EEXIST
                    } else if Glibc.rename(source, target) == 0 {
                        return name
                    }
                }
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
package func variant(of name: String, _ attempt: Int, reserving: Int = 0) -> String {
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
