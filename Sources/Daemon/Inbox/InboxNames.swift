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
}
