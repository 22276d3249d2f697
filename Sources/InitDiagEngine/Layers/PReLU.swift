import InitDiagCore
import InitDiagTrace
/// Caffe's PReLU (BVLC/caffe src/caffe/layers/prelu_layer.cpp):
/// y = max(x, 0) + a_c·min(x, 0), with a_c the slope of x's channel (axis 1), or one slope for all
/// with channel_shared;
/// dx = dy·([x > 0] + a_c·[x ≤ 0]); the slope diff **adds** Σ dy·x·[x ≤ 0] over the elements of
/// its channel (all elements when shared), summed in float in Caffe's element order (n, then the
/// positions of the channel), starting from the diff already there.
///
/// Blob 0: the slopes, shape (C) or, with channel_shared, a scalar (shape ()), filled by
/// `prelu_param.filler` (default constant 0.25). Parameters: `prelu_param { filler channel_shared
/// (false) }`. The bottom needs ≥ 2 axes (Caffe's CHECK_GE(num_axes, 2)); its channel count must
/// stay that of the slopes.
///
/// In place (top === bottom) is supported as in Caffe: the forward copies the input
/// (bottom_memory_) and backward reads that copy; the slope diff is computed before the bottom
/// diff, which overwrites the shared top diff.
///
/// Role `.neuron`: PReLU is an elementwise nonlinearity (a leaky ReLU whose slope is learned), not
/// an affine map — the activation findings (dead units, sign statistics) apply to it as to ReLU.
public final class PReLULayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let channelShared: Bool
    /// The slope filler: `prelu_param.filler` or Caffe's constant 0.25.
    public let filler: FillerParameter
    private let saved: SavedBottom
    private var channels = 0, dim = 0, num = 0

    /// Caffe's default filler when `prelu_param.filler` is omitted.
    public static func declaredFiller(_ param: LayerParameter) -> FillerParameter {
        if let f = param.preluParam?.filler { return f }
        var f = FillerParameter(type: "constant")
        f.value = 0.25
        return f
    }

    public var declaredFillers: [FillerParameter] { [filler] }

    /// A leaky ReLU when every slope is the same (channel_shared, or a constant filler): the
    /// slope read from the blob once it is filled, from a constant filler before. Slopes that
    /// differ between channels are not one pointwise map: the chain restarts after the layer.
    public var meanField: MeanFieldRule {
        if let b = blobs.first, b.count > 0 {
            let s = b.data[0]
            for i in 1..<b.count where b.data[i] != s { return .restart }
            return s.isFinite ? .pointwise(.relu(slope: Double(s))) : .restart
        }
        if filler.type == "constant" { return .pointwise(.relu(slope: Double(filler.value))) }
        return .restart
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        channelShared = param.preluParam?.channelShared ?? false
        filler = Self.declaredFiller(param)
        saved = SavedBottom(param)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard bottom[0].numAxes >= 2 else {
            throw shapeError(param, "the bottom needs at least 2 axes (N, C, …), got \(bottom[0].shapeString)")
        }
        blobs = [Blob(name: "\(param.name)_slope", shape: channelShared ? [] : [bottom[0].dim(1)])]
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        guard b.numAxes >= 2 else {
            throw shapeError(param, "the bottom needs at least 2 axes (N, C, …), got \(b.shapeString)")
        }
        if !channelShared, b.dim(1) != blobs[0].count {
            throw shapeError(param, "bottom \(b.shapeString) has \(b.dim(1)) channels, the slopes \(blobs[0].count)")
        }
        num = b.dim(0); channels = b.dim(1); dim = b.count(from: 2)
        if top[0] !== b { top[0].reshape(like: b) }
        saved.reshape(bottom: b, top: top[0])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        saved.save(bottom: bottom[0], top: top[0])
        let x = bottom[0].data, y = top[0].data, slopes = blobs[0].data
        let shared = channelShared, c = channels, d = dim
        layerRowChunks(num * c, rowLength: d) { plane in
            let a = slopes[shared ? 0 : plane % c]
            let src = x + plane * d, dst = y + plane * d
            for k in 0..<d {
                let v = src[k]
                dst[k] = stdMax(v, 0) + a * stdMin(v, 0)
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let x = saved.input(bottom: bottom[0], top: top[0])
        let dy = top[0].diff, slopes = blobs[0].data, slopeDiff = blobs[0].diff
        let n = num, c = channels, d = dim
        // Slopes first: in place, the bottom diff below overwrites the top diff.
        if channelShared {
            var acc = slopeDiff[0]
            for i in 0..<(n * c * d) {
                let v = x[i]
                acc += dy[i] * v * (v <= 0 ? 1 : 0)
            }
            slopeDiff[0] = acc
        } else {
            parallelFor(c) { ch in
                var acc = slopeDiff[ch]
                for s in 0..<n {
                    let base = (s * c + ch) * d
                    for k in 0..<d {
                        let v = x[base + k]
                        acc += dy[base + k] * v * (v <= 0 ? 1 : 0)
                    }
                }
                slopeDiff[ch] = acc
            }
        }
        guard propagateDown.first == true else { return }
        let dx = bottom[0].diff, shared = channelShared
        layerRowChunks(n * c, rowLength: d) { plane in
            let a = slopes[shared ? 0 : plane % c]
            let base = plane * d
            for k in 0..<d {
                let v = x[base + k]
                dx[base + k] = dy[base + k] * ((v > 0 ? 1 : 0) + a * (v <= 0 ? 1 : 0))
            }
        }
    }
}
