import InitDiagCore
import InitDiagTrace
/// Caffe's Flatten (BVLC/caffe src/caffe/layers/flatten_layer.cpp): top shape =
/// bottom[0 ..< axis] + [count(axis ... end_axis)] + bottom[end_axis + 1 ...], axes canonical.
/// Caffe shares the bottom's data and diff with the top; a Blob owns its buffers here, so
/// forward copies the data and backward copies the diff (same values). Not in place (Caffe
/// CHECKs that too).
public final class FlattenLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    /// The values are unchanged, only the shape.
    public var meanField: MeanFieldRule { .identity(approximate: false) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        guard top[0] !== bottom[0] else { throw shapeError(param, "Flatten does not compute in place") }
        let b = bottom[0]
        let p = param.flattenParam ?? FlattenParameter()
        let start = try resolveLayerAxis(Int(p.axis), numAxes: b.numAxes, blob: b, param)
        let end = try resolveLayerAxis(Int(p.endAxis), numAxes: b.numAxes, blob: b, param, field: "end_axis")
        guard start <= end else {
            throw shapeError(param, "axis \(start) comes after end_axis \(end) for bottom \(b.shapeString)")
        }
        top[0].reshape(Array(b.shape[..<start]) + [b.count(from: start, to: end + 1)] + Array(b.shape[(end + 1)...]))
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        top[0].data.update(from: bottom[0].data, count: bottom[0].count)
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        bottom[0].diff.update(from: top[0].diff, count: bottom[0].count)
    }
}
