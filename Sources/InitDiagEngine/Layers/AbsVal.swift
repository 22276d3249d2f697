import InitDiagCore
import InitDiagTrace
/// Caffe's AbsVal (BVLC/caffe src/caffe/layers/absval_layer.cpp): y = |x|; dx = sign(x)·dy with
/// sign(0) = 0 (caffe_cpu_sign: (0 < x) − (x < 0); NaN gives 0).
///
/// No parameters. Not in place: Caffe's LayerSetUp CHECK_NEs top and bottom ("AbsVal Layer does
/// not allow in-place computation"); here that is an InputError at set-up.
public final class AbsValLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public var meanField: MeanFieldRule { .pointwise(.absval) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard top[0] !== bottom[0] else {
            throw shapeError(param, "AbsVal does not allow in-place computation (top '\(param.top.first ?? "")' is its bottom); give the top another name")
        }
        try reshape(bottom: bottom, top: top)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data
        parallelChunks(bottom[0].count) { r in
            for i in r { y[i] = Swift.abs(x[i]) }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let x = bottom[0].data, dy = top[0].diff, dx = bottom[0].diff
        parallelChunks(bottom[0].count) { r in
            for i in r {
                let v = x[i]
                let sign: Float = (0 < v ? 1 : 0) - (v < 0 ? 1 : 0)
                dx[i] = sign * dy[i]
            }
        }
    }
}
