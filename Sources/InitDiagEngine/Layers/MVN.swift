import InitDiagCore
import InitDiagTrace
import Foundation

/// Caffe's mean-variance normalisation (BVLC/caffe src/caffe/layers/mvn_layer.cpp), per sample:
/// rows are (n, c) planes, or whole samples with across_channels. For a row of dim values
///   d = x − μ,  μ = Σx / dim;  with normalize_variance (default true):
///   σ = (Σd² / dim)^0.5,  y = d / (σ + eps)   (eps, default 1e-9, is added to the std);
///   otherwise y = d.
/// Backward, as Caffe writes it: normalize_variance: dx = (dy − (Σdy + y·Σ(y·dy)) / dim) / (σ + eps)
/// (the exact gradient for eps = 0; Caffe omits the factor σ/(σ + eps) on the last term);
/// otherwise dx = dy − Σdy / dim. Sums run in float, in row order. In place allowed (backward
/// reads only y; the row sums are taken before the row's diff is overwritten).
public final class MVNLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let normalizeVariance: Bool
    public let acrossChannels: Bool
    public let eps: Float
    private var rows = 0, dim = 0
    /// σ + eps per row (Caffe's variance_ after the forward).
    private let std = Blob(name: "mvn_std")

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    public static var role: LayerRole { .normalization }
    public var meanField: MeanFieldRule { .restart }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.mvnParam ?? MVNParameter()
        normalizeVariance = p.normalizeVariance
        acrossChannels = p.acrossChannels
        eps = p.eps
        guard eps.isFinite else { throw shapeError(param, "eps must be finite") }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        // Caffe reads num() and channels(): Blob::LegacyShape(0) and (1), i.e. shape(0) and
        // shape(1), 1 for an axis the blob does not have; more than 4 axes is a CHECK failure.
        guard b.numAxes <= 4 else {
            throw shapeError(param, "cannot use legacy accessors on blobs with more than 4 axes (bottom \(b.shapeString))")
        }
        let n = b.numAxes > 0 ? b.shape[0] : 1, c = b.numAxes > 1 ? b.shape[1] : 1
        rows = acrossChannels ? n : n * c
        dim = rows == 0 ? 0 : b.count / rows
        if top[0] !== b { top[0].reshape(b.shape) }
        std.reshape([rows])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = UnsafePointer(bottom[0].data), y = top[0].data, sd = std.data
        let dim = self.dim, invDim = Float(1.0 / Double(dim)), nv = normalizeVariance, eps = self.eps
        layerRowChunks(rows, rowLength: dim) { i in
            let r = x + i * dim, o = y + i * dim
            var sum: Float = 0
            for j in 0..<dim { sum += r[j] }
            let mean = sum * invDim
            for j in 0..<dim { o[j] = r[j] + (-mean) }
            guard nv else { return }
            var sq: Float = 0
            for j in 0..<dim { sq += o[j] * o[j] }
            let s = powf(sq * invDim, 0.5) + eps
            sd[i] = s
            for j in 0..<dim { o[j] = o[j] / s }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let y = UnsafePointer(top[0].data), dy = UnsafePointer(top[0].diff), dx = bottom[0].diff
        let sd = UnsafePointer(std.data), dim = self.dim, nv = normalizeVariance
        let invDim = Float(1.0 / Double(dim)), negInvDim = Float(-1.0 / Double(dim))
        layerRowChunks(rows, rowLength: dim) { i in
            let yr = y + i * dim, g = dy + i * dim, d = dx + i * dim
            if nv {
                var yg: Float = 0, gs: Float = 0
                for j in 0..<dim { yg += yr[j] * g[j]; gs += g[j] }
                let s = sd[i]
                for j in 0..<dim {
                    let t = gs + yr[j] * yg
                    d[j] = (g[j] + negInvDim * t) / s
                }
            } else {
                var gs: Float = 0
                for j in 0..<dim { gs += g[j] }
                let m = gs * invDim
                for j in 0..<dim { d[j] = g[j] + (-m) }
            }
        }
    }
}
