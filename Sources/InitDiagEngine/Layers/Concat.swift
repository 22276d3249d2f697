import InitDiagCore
import InitDiagTrace
/// Caffe's Concat (BVLC/caffe src/caffe/layers/concat_layer.cpp): bottoms joined along
/// `concat_axis` = legacy concat_dim if given (it must then be a valid axis), else the canonical
/// `axis` (default 1). All other dimensions must agree. Forward copies each bottom's slab
/// (bottom_axis·inner floats per outer index) into the top; backward copies the top diff back
/// to each bottom whose propagateDown is set. With one bottom Caffe shares data and diff; here
/// they are copied (a Blob owns its buffers), which gives the same values.
public final class ConcatLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    private var concatAxis = 0
    private var outer = 0, inner = 0

    public static var minBottoms: Int { 1 }
    public static var exactTops: Int? { 1 }
    /// The chain follows the first bottom: exact for one bottom, approximate for several (the
    /// top's moments are the count-weighted average of the bottoms').
    public var meanField: MeanFieldRule { .identity(approximate: param.bottom.count > 1) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let first = bottom[0]
        let p = param.concatParam ?? ConcatParameter()
        if let dim = p.concatDim {
            guard Int(dim) < first.numAxes else {
                throw shapeError(param, "concat_dim \(dim) is out of range for bottom \(first.shapeString)")
            }
            concatAxis = Int(dim)
        } else {
            concatAxis = try resolveLayerAxis(Int(p.axis), numAxes: first.numAxes, blob: first, param)
        }
        var shape = first.shape
        for (i, b) in bottom.enumerated().dropFirst() {
            guard b.numAxes == first.numAxes else {
                throw shapeError(param, "bottom[0] \(first.shapeString) and bottom[\(i)] \(b.shapeString) have different numbers of axes")
            }
            for j in 0..<shape.count where j != concatAxis && b.shape[j] != first.shape[j] {
                throw shapeError(param, "bottom[0] \(first.shapeString) and bottom[\(i)] \(b.shapeString) differ outside concat axis \(concatAxis)")
            }
            shape[concatAxis] += b.shape[concatAxis]
        }
        if bottom.contains(where: { $0 === top[0] }) {
            throw shapeError(param, "Concat does not compute in place")
        }
        top[0].reshape(shape)
        outer = first.count(from: 0, to: concatAxis)
        inner = first.count(from: concatAxis + 1)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let y = top[0].data, topAxis = top[0].shape[concatAxis]
        var offset = 0
        for b in bottom {
            let axisLen = b.shape[concatAxis], slab = axisLen * inner, x = b.data, off = offset
            layerRowChunks(outer, rowLength: slab) { o in
                (y + (o * topAxis + off) * inner).update(from: x + o * slab, count: slab)
            }
            offset += axisLen
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let dy = top[0].diff, topAxis = top[0].shape[concatAxis]
        var offset = 0
        for (i, b) in bottom.enumerated() {
            let axisLen = b.shape[concatAxis], slab = axisLen * inner, off = offset
            if i < propagateDown.count, propagateDown[i] {
                let dx = b.diff
                layerRowChunks(outer, rowLength: slab) { o in
                    (dx + o * slab).update(from: dy + (o * topAxis + off) * inner, count: slab)
                }
            }
            offset += axisLen
        }
    }
}
