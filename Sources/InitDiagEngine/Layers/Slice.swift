import InitDiagCore
import InitDiagTrace
/// Caffe's Slice (BVLC/caffe src/caffe/layers/slice_layer.cpp): splits the bottom along
/// `slice_axis` = legacy slice_dim if given, else the canonical `axis` (default 1). With
/// `slice_point` (one fewer than the tops, strictly increasing) top i gets [point_{i−1}, point_i);
/// without it the axis is split into equal parts (its length must be a multiple of the top
/// count). Forward copies each slab; backward copies each top's diff back into its part of the
/// bottom diff (which the slices cover completely). With one top Caffe shares the buffers; here
/// they are copied (same values). Not in place.
public final class SliceLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    private var sliceAxis = 0
    private var outer = 0, inner = 0

    public static var exactBottoms: Int? { 1 }
    public static var minTops: Int { 1 }
    public var meanField: MeanFieldRule { .identity(approximate: false) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        let p = param.sliceParam ?? SliceParameter()
        if let dim = p.sliceDim {
            guard Int(dim) < b.numAxes else {
                throw shapeError(param, "slice_dim \(dim) is out of range for bottom \(b.shapeString)")
            }
            sliceAxis = Int(dim)
        } else {
            sliceAxis = try resolveLayerAxis(Int(p.axis), numAxes: b.numAxes, blob: b, param)
        }
        if top.contains(where: { $0 === b }) { throw shapeError(param, "Slice does not compute in place") }
        let length = b.shape[sliceAxis]
        var sizes: [Int] = []
        if !p.slicePoint.isEmpty {
            guard p.slicePoint.count == top.count - 1 else {
                throw shapeError(param, "\(p.slicePoint.count) slice_point values for \(top.count) tops: give one fewer than the tops")
            }
            guard top.count <= length else {
                throw shapeError(param, "\(top.count) tops for axis \(sliceAxis) of length \(length) (bottom \(b.shapeString))")
            }
            var prev = 0
            for point in p.slicePoint.map(Int.init) {
                guard point > prev else {
                    throw shapeError(param, "slice_point values must be increasing and positive (\(point) after \(prev))")
                }
                sizes.append(point - prev)
                prev = point
            }
            // Caffe allows the last part to be empty (slice_point = the axis length).
            guard length >= prev else {
                throw shapeError(param, "slice_point \(prev) is not inside axis \(sliceAxis) of length \(length) (bottom \(b.shapeString))")
            }
            sizes.append(length - prev)
        } else {
            guard length % top.count == 0 else {
                throw shapeError(param, "number of top blobs (\(top.count)) should evenly divide input slice dimension (\(length)) of bottom \(b.shapeString)")
            }
            sizes = Array(repeating: length / top.count, count: top.count)
        }
        for (t, size) in zip(top, sizes) {
            var shape = b.shape
            shape[sliceAxis] = size
            t.reshape(shape)
        }
        outer = b.count(from: 0, to: sliceAxis)
        inner = b.count(from: sliceAxis + 1)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = UnsafePointer(bottom[0].data), bottomAxis = bottom[0].shape[sliceAxis], inner = self.inner
        var offset = 0
        for t in top {
            let axisLen = t.shape[sliceAxis], slab = axisLen * inner, y = t.data, off = offset
            layerRowChunks(outer, rowLength: slab) { o in
                (y + o * slab).update(from: x + (o * bottomAxis + off) * inner, count: slab)
            }
            offset += axisLen
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let dx = bottom[0].diff, bottomAxis = bottom[0].shape[sliceAxis], inner = self.inner
        var offset = 0
        for t in top {
            let axisLen = t.shape[sliceAxis], slab = axisLen * inner, dy = UnsafePointer(t.diff), off = offset
            layerRowChunks(outer, rowLength: slab) { o in
                (dx + (o * bottomAxis + off) * inner).update(from: dy + o * slab, count: slab)
            }
            offset += axisLen
        }
    }
}
