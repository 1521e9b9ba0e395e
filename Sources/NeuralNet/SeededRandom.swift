#if canImport(Glibc)
import Glibc
#endif

/// Deterministic random numbers (SplitMix64): the same seed gives the same training run on
/// every machine, which `Swift.SystemRandomNumberGenerator` cannot promise.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    private var spareNormal: Float?

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 24 random bits.
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1 / Float(1 << 24))
    }

    /// Uniform in [-limit, limit).
    public mutating func nextSymmetric(_ limit: Float) -> Float {
        (nextUniform() * 2 - 1) * limit
    }

    /// Standard normal, by the Box–Muller transform (pairs, the second one kept for the next call).
    public mutating func nextNormal() -> Float {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        let u1 = max(nextUniform(), 1e-7), u2 = nextUniform()
        let radius = (-2 * logf(u1)).squareRoot()
        spareNormal = radius * sinf(2 * .pi * u2)
        return radius * cosf(2 * .pi * u2)
    }

    /// A derived generator, so that independent streams (init, shuffling, augmentation) do not
    /// shift each other when one of them changes.
    public mutating func fork() -> SeededRandom { SeededRandom(seed: next()) }
}
