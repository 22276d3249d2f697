import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blob is Caffe's unit of storage: an N-D shape with two float buffers of the same size,
/// `data` (values) and `diff` (gradients). Layers read bottoms and write tops; the net owns blobs.
///
/// Buffers are 64-byte aligned raw memory so hot loops and BLAS work on contiguous storage with no
/// per-element bounds checks. They are allocated on first use, not by `reshape`: the net sets up
/// every layer (so every shape is known) and checks the total against the machine's memory before
/// anything large exists. Growing reallocates only when the count exceeds the capacity, so
/// reshaping inside an iteration never allocates. Shared parameters (ParamSpec names) and in-place
/// layers share by holding the same `Blob` object.
public final class Blob: @unchecked Sendable {
    public let name: String
    public private(set) var shape: [Int]
    public private(set) var count: Int
    public private(set) var capacity: Int
    private var dataStorage: UnsafeMutablePointer<Float>?
    private var diffStorage: UnsafeMutablePointer<Float>?

    public init(name: String = "", shape: [Int] = []) {
        self.name = name
        self.shape = shape
        let n = Blob.product(shape)
        self.count = n
        self.capacity = n
    }

    deinit {
        free(dataStorage)
        free(diffStorage)
    }

    /// The values (allocated, zeroed, on first access).
    public var data: UnsafeMutablePointer<Float> {
        if let p = dataStorage { return p }
        let p = Blob.allocate(capacity)
        dataStorage = p
        return p
    }

    /// The gradients (allocated, zeroed, on first access).
    public var diff: UnsafeMutablePointer<Float> {
        if let p = diffStorage { return p }
        let p = Blob.allocate(capacity)
        diffStorage = p
        return p
    }

    /// Bytes held now (data and diff that have been touched).
    public var allocatedBytes: Int {
        ((dataStorage == nil ? 0 : capacity) + (diffStorage == nil ? 0 : capacity)) * MemoryLayout<Float>.stride
    }

    /// Sets a new shape. Memory grows when needed and is never shrunk; new space is zeroed.
    public func reshape(_ newShape: [Int]) {
        precondition(newShape.allSatisfy { $0 >= 0 }, "negative blob dimension in \(newShape)")
        shape = newShape
        count = Blob.product(newShape)
        if count > capacity {
            free(dataStorage); dataStorage = nil
            free(diffStorage); diffStorage = nil
            capacity = count
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

    /// Product of the dimensions, saturating at Int.max so absurd shapes from a hostile prototxt
    /// reach the memory check instead of trapping on overflow.
    static func product(_ shape: [Int]) -> Int {
        var p = 1
        for d in shape {
            let (r, o) = p.multipliedReportingOverflow(by: d)
            if o { return Int.max }
            p = r
        }
        return p
    }

    static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer? = nil
        let (bytes, overflow) = max(n, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !overflow, posix_memalign(&raw, 64, bytes) == 0, let raw else {
            // The net checks its memory estimate before allocating; reaching this means the
            // estimate missed something, which is a bug, not bad input.
            fatalError("out of memory allocating \(n) floats")
        }
        let p = raw.bindMemory(to: Float.self, capacity: max(n, 1))
        p.initialize(repeating: 0, count: max(n, 1))
        return p
    }
}

/// Blobs write themselves into Caffe HDF5 snapshots without a copy (InitDiagTrace/CaffeSnapshot.swift).
extension Blob: CaffeSnapshotWritable {}
