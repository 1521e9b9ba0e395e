import Formats
#if canImport(Glibc)
import Glibc
#endif

func percent(_ fraction: Float) -> String { fixed(Double(fraction) * 100, 2) + "%" }
