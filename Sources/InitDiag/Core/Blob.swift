/// A blob is Caffe's unit of storage: an N-D shape with two float buffers of the same size,
/// `data` (values) and `diff` (gradients). Layers read bottoms and write tops; the net owns blobs.
///
/// Buffers are 64-byte aligned raw memory so hot loops and BLAS work on contiguous storage with no
/// per-element bounds checks. Growing a blob reallocates only when the count exceeds its capacity,
/// so reshaping inside an iteration never allocates. Shared parameters (ParamSpec names) and
/// in-place layers share by holding the same `Blob` object.
public final class Blob: @unchecked Sendable {
    public let name: String
    public private(set) var shape: [Int]
    public private(set) var count: Int
    public private(set) var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    public private(set) var diff: UnsafeMutablePointer<Float>

    public init(name: String = "", shape: [Int] = []) {
        self.name = name
        self.shape = shape
        let n = Blob.product(shape)
        self.count = n
        self.capacity = max(n, 1)
        self.data = Blob.allocate(capacity)
        self.diff = Blob.allocate(capacity)
    }

    deinit {
        free(data)
        free(diff)
    }

    /// Sets a new shape. Memory grows when needed and is never shrunk; new space is zeroed.
    public func reshape(_ newShape: [Int]) {
        precondition(newShape.allSatisfy { $0 >= 0 }, "negative blob dimension in \(newShape)")
        shape = newShape
        count = Blob.product(newShape)
        if count > capacity {
            free(data)
            free(diff)
            capacity = count
            data = Blob.allocate(capacity)
            diff = Blob.allocate(capacity)
        }
    }

    public func reshape(like other: Blob) { reshape(other.shape) }

    public var numAxes: Int { shape.count }

    /// Caffe's `shape(i)` with negative indices counting from the end.
    public func dim(_ axis: Int) -> Int { shape[canonicalAxis(axis)] }

    public func canonicalAxis(_ axis: Int) -> Int { axis < 0 ? axis + shape.count : axis }

    /// Product of dimensions in [start, end).
    public func count(from start: Int, to end: Int? = nil) -> Int {
        let e = end ?? shape.count
        var p = 1
        if start < e { for i in start..<e { p *= shape[i] } }
        return p
    }

    /// Caffe's legacy 4-D accessors pad missing leading axes with 1 (`LegacyShape`).
    public func legacyDim(_ index: Int) -> Int {
        let axis = index - 4 + shape.count
        return (axis >= 0 && axis < shape.count) ? shape[axis] : 1
    }

    public var dataBuffer: UnsafeMutableBufferPointer<Float> { .init(start: data, count: count) }
    public var diffBuffer: UnsafeMutableBufferPointer<Float> { .init(start: diff, count: count) }

    public func zeroData() { data.update(repeating: 0, count: count) }
    public func zeroDiff() { diff.update(repeating: 0, count: count) }

    /// Copies values into `data`; `values.count` must equal `count`.
    public func setData(_ values: [Float]) {
        precondition(values.count == count, "setData: \(values.count) values for a blob of \(count)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public func setDiff(_ values: [Float]) {
        precondition(values.count == count, "setDiff: \(values.count) values for a blob of \(count)")
        values.withUnsafeBufferPointer { diff.update(from: $0.baseAddress!, count: count) }
    }

    public var dataArray: [Float] { Array(dataBuffer) }
    public var diffArray: [Float] { Array(diffBuffer) }

    public var shapeString: String { shape.map(String.init).joined(separator: "×") }

    static func product(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer? = nil
        let bytes = max(n, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        let p = raw.bindMemory(to: Float.self, capacity: max(n, 1))
        p.initialize(repeating: 0, count: max(n, 1))
        return p
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
