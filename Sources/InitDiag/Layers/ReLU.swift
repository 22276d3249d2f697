/// Caffe's ReLU (BVLC/caffe src/caffe/layers/relu_layer.cpp):
/// y = max(x, 0) + slope·min(x, 0); dx = dy·([x > 0] + slope·[x ≤ 0]).
///
/// In-place (top === bottom) is supported: backward then reads the output instead of the input,
/// which has the same sign for slope ≥ 0, exactly as Caffe does. The derivative at x = 0 is the
/// slope (the `[x ≤ 0]` term).
public final class ReLULayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let negativeSlope: Float

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        negativeSlope = param.reluParam?.negativeSlope ?? 0
        guard negativeSlope.isFinite else {
            throw InputError("layer '\(param.name)' (ReLU): negative_slope must be finite, got \(negativeSlope)")
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, slope = negativeSlope
        parallelChunks(bottom[0].count) { r in
            for i in r {
                let v = x[i]
                // std::max(v, 0) is (v < 0 ? 0 : v) and std::min(v, 0) is (0 < v ? 0 : v): NaN
                // propagates through both, as in Caffe.
                y[i] = (v < 0 ? 0 : v) + slope * (0 < v ? 0 : v)
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let x = bottom[0].data, dy = top[0].diff, dx = bottom[0].diff, slope = negativeSlope
        parallelChunks(bottom[0].count) { r in
            for i in r {
                let v = x[i]
                dx[i] = dy[i] * ((v > 0 ? 1 : 0) + slope * (v <= 0 ? 1 : 0))
            }
        }
    }
}
