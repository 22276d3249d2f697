import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's Log (BVLC/caffe src/caffe/layers/log_layer.cpp): y = log_base(shift + scale·x), base −1
/// meaning e, in Caffe's float steps: v = scale·x (if scale ≠ 1) + shift (if shift ≠ 0),
/// y = logf(v)·(1/ln base) (the multiply only when 1/ln base ≠ 1);
/// dx = dy·(v^−1·(scale/ln base)) with v recomputed from x (powf(v, −1), the multiply only when
/// scale/ln base ≠ 1).
///
/// Parameters: `log_param { base (−1), scale (1), shift (0) }`. Caffe's checks become errors:
/// base must be −1 or > 0, and ln(base) and 1/ln(base) must be finite (base 1 is refused);
/// scale and shift must be finite here.
/// In place (top === bottom) is supported: backward reads x, so the forward keeps a copy of it
/// (Caffe's own in-place backward would read the output as x).
public final class LogLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let base: Float, scale: Float, shift: Float
    /// Caffe's base_scale_ = 1/ln(base) and backward_num_scale_ = scale/ln(base).
    public let baseScale: Float, backwardNumScale: Float
    private let saved: SavedBottom

    public var meanField: MeanFieldRule {
        .pointwise(.log(base: Double(base), scale: Double(scale), shift: Double(shift)))
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.logParam ?? LogParameter()
        base = p.base; scale = p.scale; shift = p.shift
        saved = SavedBottom(param)
        func fail(_ what: String) -> InputError { InputError("layer '\(param.name)' (Log): \(what)") }
        if base != -1 { guard base > 0 else { throw fail("base must be strictly positive (or −1 for e), got \(base)") } }
        let logBase: Float = base == -1 ? 1 : logf(base)
        guard logBase.isFinite else { throw fail("log(base) = log(\(base)) is not finite") }
        baseScale = 1 / logBase
        guard baseScale.isFinite else { throw fail("1/log(base) = 1/log(\(base)) is not finite (base 1 has no logarithm)") }
        try requireFinite(scale, "scale", param)
        try requireFinite(shift, "shift", param)
        backwardNumScale = scale / logBase
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
        saved.reshape(bottom: bottom[0], top: top[0])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        saved.save(bottom: bottom[0], top: top[0])
        let x = bottom[0].data, y = top[0].data, a = scale, b = shift, bs = baseScale
        parallelChunks(bottom[0].count, minChunk: 4096) { r in
            for i in r {
                var v = x[i]
                if a != 1 { v = v * a }
                if b != 0 { v = v + b }
                v = logf(v)
                if bs != 1 { v = v * bs }
                y[i] = v
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let x = saved.input(bottom: bottom[0], top: top[0])
        let dy = top[0].diff, dx = bottom[0].diff, a = scale, b = shift, k = backwardNumScale
        parallelChunks(bottom[0].count) { r in
            for i in r {
                var v = x[i]
                if a != 1 { v = v * a }
                if b != 0 { v = v + b }
                v = powf(v, -1)
                if k != 1 { v = v * k }
                dx[i] = dy[i] * v
            }
        }
    }
}
