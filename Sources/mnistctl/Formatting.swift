import Formats
#if canImport(Glibc)
import Glibc
#endif

func percent(_ fraction: Float) -> String { fixed(Double(fraction) * 100, 2) + "%" }

/// The current UTC time as ISO 8601, e.g. 2026-11-25T04:59:01Z.
func utcTimestamp() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}
