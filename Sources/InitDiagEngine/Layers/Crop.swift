import InitDiagCore
import InitDiagTrace
/// Caffe's Crop (BVLC/caffe src/caffe/layers/crop_layer.cpp): bottom[0] cut to the shape of
/// bottom[1] on every axis from `axis` (default 2) on; earlier axes keep bottom[0]'s size. The
/// window starts at `offset`: none given → 0 everywhere, one → that on every cropped axis, else
/// one per cropped axis. top[i…] = bottom0[offset + i…]. Backward zero-fills bottom[0]'s diff and
/// copies the top diff into the window; bottom[1] only gives a shape (its diff is set to 0).
///
/// Mean field: the crop is a subset of the values, so the moments pass unchanged only to the
/// extent that the signal is stationary over the plane (identity, approximate).
public final class CropLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    private var offsets: [Int] = []

    public static var exactBottoms: Int? { 2 }
    public static var exactTops: Int? { 1 }
    public var meanField: MeanFieldRule { .identity(approximate: true) }
    public func allowForceBackward(bottomIndex: Int) -> Bool { bottomIndex == 0 }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let a = bottom[0], ref = bottom[1]
        let p = param.cropParam ?? CropParameter()
        guard a.numAxes == ref.numAxes else {
            throw shapeError(param, "bottom[0] \(a.shapeString) and bottom[1] \(ref.shapeString) have different numbers of axes")
        }
        if bottom.contains(where: { $0 === top[0] }) { throw shapeError(param, "Crop does not compute in place") }
        let start = try resolveLayerAxis(Int(p.axis), numAxes: a.numAxes, blob: a, param)
        if p.offset.count > 1, p.offset.count != a.numAxes - start {
            throw shapeError(param, "number of offset values specified (\(p.offset.count)) must be equal to the number of dimensions following axis (\(a.numAxes - start))")
        }
        var shape = a.shape
        offsets = Array(repeating: 0, count: a.numAxes)
        for i in start..<a.numAxes {
            let off = p.offset.isEmpty ? 0 : Int(p.offset.count == 1 ? p.offset[0] : p.offset[i - start])
            guard a.shape[i] - off >= ref.shape[i] else {
                throw shapeError(param, "the crop for dimension \(i) is out-of-bounds with size \(ref.shape[i]) and offset \(off) (bottom[0] \(a.shapeString))")
            }
            shape[i] = ref.shape[i]
            offsets[i] = off
        }
        top[0].reshape(shape)
    }

    /// Copies the window between bottom (full) and top (cropped), row by row of the last axis.
    private func copy(bottom: UnsafeMutablePointer<Float>, bottomShape: [Int], top: UnsafeMutablePointer<Float>,
                      topShape: [Int], toTop: Bool) {
        let axes = topShape.count
        guard axes > 0 else {
            if toTop { top[0] = bottom[0] } else { bottom[0] = top[0] }
            return
        }
        let rowLength = topShape[axes - 1]
        let rows = Blob.product(Array(topShape.dropLast()))
        var bottomStrides = Array(repeating: 1, count: axes)
        for i in stride(from: axes - 2, through: 0, by: -1) { bottomStrides[i] = bottomStrides[i + 1] * bottomShape[i + 1] }
        let offsets = self.offsets
        layerRowChunks(rows, rowLength: rowLength) { row in
            // Decompose the row index over the top's leading axes.
            var r = row, src = offsets[axes - 1]
            for i in stride(from: axes - 2, through: 0, by: -1) {
                let idx = r % topShape[i]; r /= topShape[i]
                src += (idx + offsets[i]) * bottomStrides[i]
            }
            let t = top + row * rowLength, b = bottom + src
            if toTop { t.update(from: b, count: rowLength) } else { b.update(from: t, count: rowLength) }
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        copy(bottom: bottom[0].data, bottomShape: bottom[0].shape, top: top[0].data, topShape: top[0].shape, toTop: true)
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        if propagateDown.first == true {
            bottom[0].zeroDiff()
            copy(bottom: bottom[0].diff, bottomShape: bottom[0].shape, top: top[0].diff, topShape: top[0].shape, toTop: false)
        }
        if propagateDown.count > 1, propagateDown[1] { bottom[1].zeroDiff() }
    }
}
