import Foundation

/// The kernel tests' random numbers: seeded, so that a failure can be replayed. The seed is
/// `MNISTD_TEST_SEED` when set, else a fixed one, and is printed with each generator made.
struct TestRandom: RandomNumberGenerator {
    static let seed: UInt64 = ProcessInfo.processInfo.environment["MNISTD_TEST_SEED"].flatMap { UInt64($0) } ?? 20261204
    private var state: UInt64

    init(file: StaticString = #file, line: UInt = #line) {
        state = Self.seed ^ UInt64(line)
        print("\(file):\(line): random seed \(Self.seed) (MNISTD_TEST_SEED=\(Self.seed) replays it)")
    }

    /// splitmix64.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
