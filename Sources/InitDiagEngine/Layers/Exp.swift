import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's Exp (BVLC/caffe src/caffe/layers/exp_layer.cpp): y = base^(shift + scale·x), base −1
/// meaning e. Caffe folds it into y = outer·e^(inner·x) with inner = ln(base)·scale and
/// outer = base^shift (e^shift for base −1; exactly 1 when shift = 0), all in float;
/// dx = dy·y·inner (the multiply by inner only when inner ≠ 1).
///
/// Parameters: `exp_param { base (−1), scale (1), shift (0) }`. Caffe's checks become errors:
/// base must be −1 or > 0, and ln(base) must be finite; scale and shift must be finite here.
/// In place (top === bottom) is supported: backward reads only the output.
public final class ExpLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let base: Float, scale: Float, shift: Float
    public let innerScale: Float, outerScale: Float

    public var meanField: MeanFieldRule {
        .pointwise(.exp(base: Double(base), scale: Double(scale), shift: Double(shift)))
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.expParam ?? ExpParameter()
        base = p.base; scale = p.scale; shift = p.shift
        func fail(_ what: String) -> InputError { InputError("layer '\(param.name)' (Exp): \(what)") }
        if base != -1 { guard base > 0 else { throw fail("base must be strictly positive (or −1 for e), got \(base)") } }
        let logBase: Float = base == -1 ? 1 : logf(base)
        guard logBase.isFinite else { throw fail("log(base) = log(\(base)) is not finite") }
        try requireFinite(scale, "scale", param)
        try requireFinite(shift, "shift", param)
        innerScale = logBase * scale
        outerScale = shift == 0 ? 1 : (base != -1 ? powf(base, shift) : expf(shift))
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, inner = innerScale, outer = outerScale
        parallelChunks(bottom[0].count, minChunk: 4096) { r in
            for i in r {
                var v = inner == 1 ? expf(x[i]) : expf(inner * x[i])
                if outer != 1 { v = v * outer }
                y[i] = v
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff, inner = innerScale
        parallelChunks(bottom[0].count) { r in
            for i in r {
                var d = y[i] * dy[i]
                if inner != 1 { d = d * inner }
                dx[i] = d
            }
        }
    }
}
