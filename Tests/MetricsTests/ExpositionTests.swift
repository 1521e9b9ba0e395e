@testable import Metrics
import XCTest

final class ExpositionTests: XCTestCase {
    func testAFamilyIsItsHelpAndTypeThenOneLinePerSample() {
        var out = Exposition()
        out.counter("jobs_total", help: "Jobs done.", [([("queue", "a"), ("kind", "b")], 3), ([("queue", "c"), ("kind", "d")], 0)])
        out.gauge("temperature_celsius", help: "How warm.", -2.5)
        XCTAssertEqual(out.text, """
            # HELP jobs_total Jobs done.
            # TYPE jobs_total counter
            jobs_total{queue="a",kind="b"} 3
            jobs_total{queue="c",kind="d"} 0
            # HELP temperature_celsius How warm.
            # TYPE temperature_celsius gauge
            temperature_celsius -2.5

            """)
    }

    /// Label values escape backslash, double quote and line feed; HELP text escapes the first
    /// and the last only (the format's two rules differ).
    func testLabelValuesAndHelpAreEscapedByTheirOwnRules() {
        var out = Exposition()
        out.gauge("info", help: "a \\ b \"c\"\nd", [([("path", "C:\\dir \"x\"\ny")], 1)])
        XCTAssertEqual(out.text, """
            # HELP info a \\\\ b "c"\\nd
            # TYPE info gauge
            info{path="C:\\\\dir \\"x\\"\\ny"} 1

            """)
    }

    func testNumbersAreWrittenSoThatTheyReadBackExactly() {
        XCTAssertEqual(Exposition.format(0), "0")
        XCTAssertEqual(Exposition.format(12_345_678_901), "12345678901")
        XCTAssertEqual(Exposition.format(0.1), "0.1")
        XCTAssertEqual(Exposition.format(1e-7), "1e-07")
        XCTAssertEqual(Exposition.format(1e300), "1e+300")
        XCTAssertEqual(Exposition.format(.infinity), "+Inf")
        XCTAssertEqual(Exposition.format(-.infinity), "-Inf")
        XCTAssertEqual(Exposition.format(.nan), "NaN")
        for value in [0.1, 1.0 / 3, 123.456, 2.5e-9, 9.87654321e20] {
            XCTAssertEqual(Double(Exposition.format(value)), value)
        }
    }

    /// Buckets are cumulative and end with +Inf, which equals the count; a value on a bound
    /// belongs to that bound's bucket (`le`: less than or equal).
    func testAHistogramWritesCumulativeBucketsThenSumAndCount() {
        var histogram = Histogram(upperBounds: [0.1, 1, 10])
        for value in [0.05, 0.1, 0.5, 1, 7, 100] { histogram.observe(value) }
        XCTAssertEqual(histogram.count, 6)
        var out = Exposition()
        out.histogram("wait_seconds", help: "Waits.", histogram)
        XCTAssertEqual(out.text, """
            # HELP wait_seconds Waits.
            # TYPE wait_seconds histogram
            wait_seconds_bucket{le="0.1"} 2
            wait_seconds_bucket{le="1"} 4
            wait_seconds_bucket{le="10"} 5
            wait_seconds_bucket{le="+Inf"} 6
            wait_seconds_sum 108.65
            wait_seconds_count 6

            """)
    }

    func testAnEmptyHistogramStillWritesEveryBucket() {
        var out = Exposition()
        out.histogram("idle_seconds", help: "None yet.", Histogram(upperBounds: [1]))
        XCTAssertEqual(out.text.split(separator: "\n").dropFirst(2), ["idle_seconds_bucket{le=\"1\"} 0", "idle_seconds_bucket{le=\"+Inf\"} 0",
                                                                   "idle_seconds_sum 0", "idle_seconds_count 0"])
    }

    func testMetricNamesFollowThePrometheusGrammar() {
        for name in ["a", "_a", "a:b_c9", "ABC"] { XCTAssertTrue(Exposition.isValidName(name), name) }
        for name in ["", "9a", "a-b", "a b", "é", "a.b"] { XCTAssertFalse(Exposition.isValidName(name), name) }
    }
}
