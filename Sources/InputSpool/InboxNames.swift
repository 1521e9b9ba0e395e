#if canImport(Glibc)
import Glibc
#endif
import Logging
import SystemResources

/// Which inbox entries are inputs. Hidden names (`.name`, rsync's `.name.XXXXXX`) and
/// temporary ones (`*.tmp`, `*.part`, `*.partial`) are files still being written: they are
/// left alone until renamed to their final name.
public enum InboxNames {
    static let temporarySuffixes = [".tmp", ".part", ".partial"]

    public static func isInput(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix(".") else { return false }
        let lowercased = name.lowercased()
        return !temporarySuffixes.contains { lowercased.hasSuffix($0) }
    }

    /// Gives an inbox entry whose name is not UTF-8 its escaped name (`\xff\xfe.png` as
    /// the text `\xff\xfe.png`): that is the name its report, its moved input and the log
    /// carry, the only way every later step, and every reader of the CSV, can handle it.
    package static func escape(_ name: [UInt8], in inbox: String, logger: Logger) {
        do {
            let escaped = try giveEscapedName(in: inbox, raw: name)
            logger.notice("renamed an input whose name is not UTF-8 to \(escaped)", metadata: ["file": "\(escaped)"])
        } catch let error as FileSystemError where error.code == ENOENT {
            return  // gone already
        } catch {
            logger.error("cannot rename an input whose name is not UTF-8 (\(escapedName(name) ?? "")): \(error)",
                         metadata: ["error": "\(error)"])
        }
    }
}
