import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's ELU (BVLC/caffe src/caffe/layers/elu_layer.cpp):
/// y = max(x, 0) + α·(e^min(x, 0) − 1), i.e. x for x > 0 and α(eˣ − 1) for x ≤ 0;
/// dx = dy·([x > 0] + (α + y)·[x ≤ 0]) — the x ≤ 0 branch uses the output (α + y = α·eˣ). Float
/// arithmetic in Caffe's order (expf).
///
/// Parameters: `elu_param { alpha }` (default 1; must be finite here).
/// In place (top === bottom) is supported. For α ≥ 0 the output has the sign of the input, so
/// backward reads the tests [x > 0] from it exactly as Caffe does; for α < 0 (where Caffe's
/// in-place backward would read the wrong branch) the input is kept and used.
public final class ELULayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let alpha: Float
    private let saved: SavedBottom

    public var meanField: MeanFieldRule { .pointwise(.elu(alpha: Double(alpha))) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        alpha = param.eluParam?.alpha ?? 1
        saved = SavedBottom(param)
        try requireFinite(alpha, "alpha", param)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
        if alpha < 0 { saved.reshape(bottom: bottom[0], top: top[0]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        if alpha < 0 { saved.save(bottom: bottom[0], top: top[0]) }
        let x = bottom[0].data, y = top[0].data, a = alpha
        parallelChunks(bottom[0].count, minChunk: 4096) { r in
            for i in r {
                let v = x[i]
                y[i] = stdMax(v, 0) + a * (expf(stdMin(v, 0)) - 1)
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let x = alpha < 0 ? saved.input(bottom: bottom[0], top: top[0]) : bottom[0].data
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff, a = alpha
        parallelChunks(bottom[0].count) { r in
            for i in r {
                let v = x[i]
                dx[i] = dy[i] * ((v > 0 ? 1 : 0) + (a + y[i]) * (v <= 0 ? 1 : 0))
            }
        }
    }
}
