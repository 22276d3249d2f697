import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's Sigmoid (BVLC/caffe src/caffe/layers/sigmoid_layer.cpp): y = 1/(1 + e^−x), computed as
/// Caffe does, `0.5·tanh(0.5·x) + 0.5` in double and rounded to float (no overflow for large |x|);
/// dx = dy·y·(1 − y), with (dy·y) in float and the product with (1. − y) in double, as Caffe's
/// `top_diff[i] * sigmoid_x * (1. - sigmoid_x)` is evaluated.
///
/// Parameters: `sigmoid_param { engine }` only (CPU result the same for every engine).
/// In place (top === bottom) is supported: backward reads only the output.
public final class SigmoidLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public var meanField: MeanFieldRule { .pointwise(.sigmoid) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data
        parallelChunks(bottom[0].count, minChunk: 4096) { r in
            for i in r { y[i] = caffeSigmoid(x[i]) }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff
        parallelChunks(bottom[0].count) { r in
            for i in r {
                let s = y[i]
                dx[i] = Float(Double(dy[i] * s) * (1 - Double(s)))
            }
        }
    }
}
