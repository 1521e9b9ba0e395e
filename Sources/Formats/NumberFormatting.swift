#if canImport(Glibc)
import Glibc
#endif

/// `value` with exactly `digits` decimals, without Foundation's formatters
/// (CSV fields, reports).
public func fixed(_ value: Double, _ digits: Int) -> String {
    var text: [UInt8] = []
    appendFixed(value, digits, to: &text)
    return String(decoding: text, as: UTF8.self)
}

/// Appends `fixed(value, digits)` as UTF-8 without making a string: a 10,000-image batch's
/// CSV holds 110,000 of them.
public func appendFixed(_ value: Double, _ digits: Int, to text: inout [UInt8]) {
    guard value.isFinite else { return text += Array(String(value).utf8) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    if value < 0 && scaled > 0 { text.append(UInt8(ascii: "-")) }
    appendDecimal(whole, to: &text)
    guard digits > 0 else { return }
    text.append(UInt8(ascii: "."))
    let fraction = Int(scaled) - whole * Int(scale)
    var divisor = Int(scale) / 10
    for _ in 0..<digits {
        text.append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
        divisor /= 10
    }
}

/// Appends an integer in decimal, as `String(value)` writes it.
public func appendDecimal(_ value: Int, to text: inout [UInt8]) {
    if value < 0 { text.append(UInt8(ascii: "-")) }
    let magnitude = value.magnitude
    var divisor: UInt = 1
    while magnitude / divisor >= 10 { divisor *= 10 }
    while divisor > 0 {
        text.append(UInt8(ascii: "0") + UInt8(magnitude / divisor % 10))
        divisor /= 10
    }
}

/// The current UTC time as ISO 8601, e.g. 2026-11-25T04:59:01Z (with milliseconds:
/// 2026-11-25T04:59:01.042Z).
public func utcTimestamp(milliseconds: Bool = false) -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var parts = tm()
    var seconds = now.tv_sec
    gmtime_r(&seconds, &parts)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    let base = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    guard milliseconds else { return base + "Z" }
    let millis = Int(now.tv_nsec / 1_000_000)
    return base + "." + String(repeating: "0", count: millis < 10 ? 2 : millis < 100 ? 1 : 0) + "\(millis)Z"
}
