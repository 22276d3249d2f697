import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's BNLL, "binomial normal log likelihood" (BVLC/caffe src/caffe/layers/bnll_layer.cpp):
/// y = log(1 + eˣ) (softplus), computed as x + log(1 + e^−x) for x > 0 and log(1 + eˣ) otherwise,
/// with e^±x in float and the rest in double (Caffe's `1.` literal), rounded once to float;
/// dx = dy·e/(e + 1) with e = exp(min(x, kBNLL_THRESHOLD = 50)) in float, (dy·e) in float and the
/// division by (e + 1.) in double.
///
/// No parameters. In place (top === bottom) is supported: backward reads x, so the forward keeps a
/// copy of it (Caffe's own in-place backward would read the output as x).
public final class BNLLLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    /// bnll_layer.cpp: `const float kBNLL_THRESHOLD = 50.;`
    public static let threshold: Float = 50
    private let saved: SavedBottom

    public var meanField: MeanFieldRule { .pointwise(.bnll) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        saved = SavedBottom(param)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
        saved.reshape(bottom: bottom[0], top: top[0])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        saved.save(bottom: bottom[0], top: top[0])
        let x = bottom[0].data, y = top[0].data
        parallelChunks(bottom[0].count, minChunk: 4096) { r in
            for i in r {
                let v = x[i]
                y[i] = v > 0 ? Float(Double(v) + log(1 + Double(expf(-v)))) : Float(log(1 + Double(expf(v))))
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let x = saved.input(bottom: bottom[0], top: top[0])
        let dy = top[0].diff, dx = bottom[0].diff, t = Self.threshold
        parallelChunks(bottom[0].count) { r in
            for i in r {
                let e = expf(stdMin(x[i], t))
                dx[i] = Float(Double(dy[i] * e) / (Double(e) + 1))
            }
        }
    }
}
