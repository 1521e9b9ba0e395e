#if canImport(Glibc)
import Glibc
#endif

/// The learning rate as a function of training progress.
public enum LearningRateSchedule: Equatable, Sendable {
    case constant(Float)
    /// Warm up linearly from peak/25 to `peak` over `warmupFraction` of the steps, then anneal
    /// along a cosine to peak/10⁴ (Smith's one-cycle policy, as PyTorch's OneCycleLR does it).
    case oneCycle(peak: Float, warmupFraction: Float)

    /// The highest rate the schedule reaches.
    public var peak: Float {
        switch self {
        case let .constant(rate): return rate
        case let .oneCycle(peak, _): return peak
        }
    }

    /// The same schedule scaled to reach `peak`.
    public func withPeak(_ peak: Float) -> LearningRateSchedule {
        switch self {
        case .constant: return .constant(peak)
        case let .oneCycle(_, warmupFraction): return .oneCycle(peak: peak, warmupFraction: warmupFraction)
        }
    }

    public func rate(step: Int, of totalSteps: Int) -> Float {
        switch self {
        case let .constant(rate):
            return rate
        case let .oneCycle(peak, warmupFraction):
            let progress = Float(step) / Float(max(totalSteps - 1, 1))
            let start = peak / 25, end = peak / 10_000
            if progress < warmupFraction {
                return start + (peak - start) * progress / warmupFraction
            }
            let annealed = (progress - warmupFraction) / max(1 - warmupFraction, 1e-6)
            return end + (peak - end) * (1 + cosf(.pi * annealed)) / 2
        }
    }
}
