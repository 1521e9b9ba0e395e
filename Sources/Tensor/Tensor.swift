/// A dense, row-major Float32 n-d array. Kernels take raw pointers (llm.c style); this type owns
/// memory and carries the shape so that callers cannot mix up dimensions.
public struct Tensor: Equatable, Sendable {
    public private(set) var shape: [Int]
    public var scalars: [Float]

    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        self.scalars = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count, "Tensor: shape \(shape) does not hold \(scalars.count) scalars")
        self.shape = shape
        self.scalars = scalars
    }

    public var count: Int { scalars.count }
    public var rank: Int { shape.count }

    /// The same scalars seen with another shape of equal size.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    public func withUnsafePointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    public mutating func withUnsafeMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }

    /// Row-major matrix product of two rank-2 tensors.
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[0], "matmul: shapes \(a.shape) and \(b.shape)")
        var c = Tensor(zeros: [a.shape[0], b.shape[1]])
        a.withUnsafePointer { ap in
            b.withUnsafePointer { bp in
                c.withUnsafeMutablePointer { cp in
                    gemm(cp, ldc: b.shape[1],
                         MatrixRef(ap, rows: a.shape[0], columns: a.shape[1]),
                         MatrixRef(bp, rows: b.shape[0], columns: b.shape[1]),
                         accumulate: false)
                }
            }
        }
        return c
    }
}
