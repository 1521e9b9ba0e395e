import Formats
#if canImport(Glibc)
import Glibc
#endif

func percent(_ fraction: Float) -> String { percent(Double(fraction)) }
func percent(_ fraction: Double) -> String { fixed(fraction * 100, 2) + "%" }
