import InitDiagCore
import InitDiagTrace
/// Caffe's Split (BVLC/caffe src/caffe/layers/split_layer.cpp), inserted by the net where one
/// top feeds several bottoms (insert_splits.cpp). Forward gives every top the bottom's data
/// (Caffe shares it; here it is copied since each Blob owns its buffers). Backward SUMS the top
/// diffs into the bottom diff in Caffe's order: (t0 + t1) + t2 + … (caffe_add then caffe_axpy);
/// one top is a copy. Not in place (Caffe CHECKs that each top differs from the bottom).
public final class SplitLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public static var exactBottoms: Int? { 1 }
    public static var minTops: Int { 1 }
    /// Every top is a copy of the bottom.
    public var meanField: MeanFieldRule { .identity(approximate: false) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        for (i, t) in top.enumerated() {
            guard t !== bottom[0] else { throw shapeError(param, "Split does not compute in place (top[\(i)] is the bottom)") }
            t.reshape(like: bottom[0])
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let n = bottom[0].count, x = bottom[0].data
        for t in top { t.data.update(from: x, count: n) }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let n = bottom[0].count, dx = bottom[0].diff
        if top.count == 1 {
            dx.update(from: top[0].diff, count: n)
            return
        }
        let a = top[0].diff, b = top[1].diff
        parallelChunks(n) { r in for i in r { dx[i] = a[i] + b[i] } }
        for t in top.dropFirst(2) {
            let d = t.diff
            parallelChunks(n) { r in for i in r { dx[i] = d[i] + dx[i] } }
        }
    }
}
