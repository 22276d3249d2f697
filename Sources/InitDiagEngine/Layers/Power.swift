import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's Power (BVLC/caffe src/caffe/layers/power_layer.cpp): y = (shift + scale·x)^power, in
/// Caffe's float steps (scale applied only when ≠ 1, shift only when ≠ 0, powf only when
/// power ≠ 1). With diff_scale = power·scale (float):
/// - diff_scale = 0 (power 0 or scale 0): y = 1 if power = 0, else shift^power, for every element;
///   dx = 0.
/// - power = 1: dx = dy·diff_scale.
/// - power = 2: dx = dy·((diff_scale·scale)·x + diff_scale·shift).
/// - shift = 0: dx = dy·(power·(y / x)) (Caffe's y/x form: 0/0 gives NaN at x = 0, as in Caffe).
/// - otherwise: dx = dy·(diff_scale·(y / (shift + scale·x))).
///
/// Parameters: `power_param { power (1), scale (1), shift (0) }`, each finite here.
/// In place (top === bottom) is supported. Where backward reads x (every case but
/// diff_scale = 0 and power = 1) the input is kept by the forward and read back, so the gradient
/// is the out-of-place one; Caffe's own in-place backward would read the output as x.
public final class PowerLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let power: Float, scale: Float, shift: Float
    /// Caffe's diff_scale_ = power_ * scale_.
    public let diffScale: Float
    private let saved: SavedBottom

    public var meanField: MeanFieldRule {
        .pointwise(.power(power: Double(power), scale: Double(scale), shift: Double(shift)))
    }

    /// Whether backward reads the input (and so needs it kept when in place).
    private var backwardReadsInput: Bool { !(diffScale == 0 || power == 1) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.powerParam ?? PowerParameter()
        power = p.power; scale = p.scale; shift = p.shift
        diffScale = power * scale
        saved = SavedBottom(param)
        try requireFinite(power, "power", param)
        try requireFinite(scale, "scale", param)
        try requireFinite(shift, "shift", param)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
        if backwardReadsInput { saved.reshape(bottom: bottom[0], top: top[0]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let n = bottom[0].count, y = top[0].data
        if diffScale == 0 {
            let value: Float = power == 0 ? 1 : powf(shift, power)
            y.update(repeating: value, count: n)
            return
        }
        if backwardReadsInput { saved.save(bottom: bottom[0], top: top[0]) }
        let x = bottom[0].data, a = scale, b = shift, p = power
        parallelChunks(n, minChunk: 4096) { r in
            for i in r {
                var v = x[i]
                if a != 1 { v = v * a }
                if b != 0 { v = v + b }
                if p != 1 { v = powf(v, p) }
                y[i] = v
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let n = bottom[0].count, dx = bottom[0].diff, dy = top[0].diff
        let ds = diffScale, a = scale, b = shift, p = power
        if !backwardReadsInput {
            // caffe_set(diff_scale), then × top_diff unless diff_scale is 0.
            parallelChunks(n) { r in
                for i in r { dx[i] = ds == 0 ? 0 : dy[i] * ds }
            }
            return
        }
        let x = saved.input(bottom: bottom[0], top: top[0]), y = top[0].data
        if p == 2 {
            let k = ds * a, c = ds * b
            parallelChunks(n) { r in
                for i in r {
                    var d = k * x[i]
                    if b != 0 { d = d + c }
                    dx[i] = dy[i] * d
                }
            }
        } else if b == 0 {
            parallelChunks(n) { r in
                for i in r { dx[i] = dy[i] * ((y[i] / x[i]) * p) }
            }
        } else {
            parallelChunks(n) { r in
                for i in r {
                    var d = x[i]
                    if a != 1 { d = d * a }
                    d = d + b
                    d = y[i] / d
                    if ds != 1 { d = d * ds }
                    dx[i] = dy[i] * d
                }
            }
        }
    }
}
