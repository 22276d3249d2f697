import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's TanH (BVLC/caffe src/caffe/layers/tanh_layer.cpp): y = tanh(x) (float tanhf);
/// dx = dy·(1 − y²), all in float as Caffe's `top_diff[i] * (1 - tanhx * tanhx)`.
///
/// Parameters: `tanh_param { engine }` only (CPU result the same for every engine).
/// In place (top === bottom) is supported: backward reads only the output.
public final class TanHLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public var meanField: MeanFieldRule { .pointwise(.tanh) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data
        parallelChunks(bottom[0].count, minChunk: 4096) { r in
            for i in r { y[i] = tanhf(x[i]) }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff
        parallelChunks(bottom[0].count) { r in
            for i in r {
                let t = y[i]
                dx[i] = dy[i] * (1 - t * t)
            }
        }
    }
}
