import InitDiagCore
import InitDiagTrace
/// Caffe's Reshape (BVLC/caffe src/caffe/layers/reshape_layer.cpp): the top has the bottom's
/// values in the same order with a new shape. Axes [start, end) of the bottom are replaced by
/// `shape` (start = axis, negative counting from the end as axis + num_axes + 1; end = start +
/// num_axes, or all axes for num_axes −1), where a 0 copies the bottom's dimension at that
/// position and one −1 is inferred from the count. Defaults: axis 0, num_axes −1.
/// Caffe shares data and diff with the bottom; a Blob owns its buffers here, so forward copies
/// the data and backward the diff (same values, as Flatten). Not in place (Caffe CHECKs that).
public final class ReshapeLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    private var copyAxes: [Int] = []
    private var inferredAxis: Int? = nil
    private var constantCount = 1

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    public var meanField: MeanFieldRule { .identity(approximate: false) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.reshapeParam ?? ReshapeParameter()
        for (i, d) in (p.shape?.dim ?? []).enumerated() {
            if d == 0 {
                copyAxes.append(i)
            } else if d == -1 {
                guard inferredAxis == nil else {
                    throw shapeError(param, "new shape contains multiple -1 dims; at most a single (1) value of -1 may be specified")
                }
                inferredAxis = i
            } else {
                guard d > 0, d <= Int64(Int32.max) else {
                    throw shapeError(param, "shape dimension \(d) is invalid (use a positive size, 0 to copy or -1 to infer)")
                }
                let (r, o) = constantCount.multipliedReportingOverflow(by: Int(d))
                guard !o else { throw shapeError(param, "the shape's dimensions overflow") }
                constantCount = r
            }
        }
        guard p.numAxes >= -1 else {
            throw shapeError(param, "num_axes must be >= 0, or -1 for all (got \(p.numAxes))")
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        guard top[0] !== b else { throw shapeError(param, "Reshape layer does not allow in-place computation") }
        let p = param.reshapeParam ?? ReshapeParameter()
        let dims = (p.shape?.dim ?? []).map { Int($0) }
        let inputStart = Int(p.axis)
        let start = inputStart >= 0 ? inputStart : b.numAxes + inputStart + 1
        guard start >= 0, start <= b.numAxes else {
            throw shapeError(param, "axis \(inputStart) is out of range for bottom \(b.shapeString)")
        }
        let end = p.numAxes == -1 ? b.numAxes : start + Int(p.numAxes)
        guard end <= b.numAxes else {
            throw shapeError(param, "end_axis = axis + num_axes = \(end) is out of range for bottom \(b.shapeString)")
        }
        var shape = Array(b.shape[..<start]) + dims + Array(b.shape[end...])
        for a in copyAxes {
            guard b.numAxes > start + a else {
                throw shapeError(param, "new shape contains a 0, but there was no corresponding bottom axis to copy (bottom \(b.shapeString))")
            }
            shape[start + a] = b.shape[start + a]
        }
        if let inferred = inferredAxis {
            // explicit count = the given dims × the bottom's kept axes × the copied dims.
            var explicit = constantCount * b.count(from: 0, to: start) * b.count(from: end)
            for a in copyAxes { explicit *= b.shape[start + a] }
            guard explicit > 0, b.count % explicit == 0 else {
                throw shapeError(param, "bottom count (\(b.count), bottom \(b.shapeString)) must be divisible by the product of the specified dimensions (\(explicit))")
            }
            shape[start + inferred] = b.count / explicit
        }
        let count = Blob.product(shape)
        guard count == b.count else {
            throw shapeError(param, "output count (\(count), shape \(shape.map(String.init).joined(separator: "×"))) must match input count (\(b.count), bottom \(b.shapeString))")
        }
        top[0].reshape(shape)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        top[0].data.update(from: bottom[0].data, count: bottom[0].count)
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        bottom[0].diff.update(from: top[0].diff, count: bottom[0].count)
    }
}
