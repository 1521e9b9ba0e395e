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
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    // Past 2^64 no integer holds the digits (this trapped converting to Int past 2^63).
    guard value.isFinite, scaled < 0x1p64 else { return text += Array(String(value).utf8) }
    appendDigits(of: UInt64(scaled), pointBefore: digits, negative: value < 0 && scaled > 0, to: &text)
}

/// Appends an integer in decimal, as `String(value)` writes it.
public func appendDecimal(_ value: Int, to text: inout [UInt8]) {
    appendDigits(of: UInt64(value.magnitude), pointBefore: 0, negative: value < 0, to: &text)
}

/// The decimal digits of `units`, a point before the last `pointBefore` of them (zeros before
/// the digits as needed), a minus first if `negative`. Written last first into a buffer on the
/// stack by constant divisions by ten, and appended at once: a division by a variable power of
/// ten per digit, and an append per byte, were most of a CSV's time.
private func appendDigits(of units: UInt64, pointBefore digits: Int, negative: Bool, to text: inout [UInt8]) {
    var units = units
    // At most 20 digits of `units`, the zeros before them, a point and a minus.
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: digits + 22) { buffer in
        var at = buffer.count
        func put(_ byte: UInt8) {
            at -= 1
            buffer[at] = byte
        }
        func putDigit() {
            put(UInt8(ascii: "0") + UInt8(units % 10))
            units /= 10
        }
        for _ in 0..<digits { putDigit() }
        if digits > 0 { put(UInt8(ascii: ".")) }
        repeat { putDigit() } while units > 0
        if negative { put(UInt8(ascii: "-")) }
        text.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[at...]))
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
