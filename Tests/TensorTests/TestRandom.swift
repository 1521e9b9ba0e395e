import Foundation

/// The kernel tests' random numbers, seeded so that a failure can be replayed (Tensor's tests
/// cannot reach NeuralNet's SeededRandom). The seed is `MNISTD_TEST_SEED` when set, else a
/// fixed one, and is printed with each generator made.
struct TestRandom: RandomNumberGenerator {
    static let seed: UInt64 = ProcessInfo.processInfo.environment["MNISTD_TEST_SEED"].flatMap { UInt64($0) } ?? 20261204
    private var state: UInt64

    init(file: StaticString = #file, line: UInt = #line) {
        // A zero state would stay zero.
        state = (Self.seed ^ UInt64(line) << 32) | 1
        print("\(file):\(line): random seed \(Self.seed) (MNISTD_TEST_SEED=\(Self.seed) replays it)")
    }

    /// xorshift64* (Vigna): small, fast and good enough for test data.
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}
