import InitDiagCore
import InitDiagTrace
import CStatistics

/// Caffe's ReLU (BVLC/caffe src/caffe/layers/relu_layer.cpp):
/// y = max(x, 0) + slope·min(x, 0); dx = dy·([x > 0] + slope·[x ≤ 0]).
///
/// In-place (top === bottom) is supported: backward then reads the output instead of the input,
/// which has the same sign for slope ≥ 0, exactly as Caffe does. The derivative at x = 0 is the
/// slope (the `[x ≤ 0]` term).
public final class ReLULayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let negativeSlope: Float
    /// A probe that records this layer's statistics (and those of the blob it works on) inside the
    /// layer's own pass, so the blob is read once instead of three times (see `Probe`). It writes
    /// exactly what the plain pass writes; when it declines (returns false) the plain pass runs.
    public weak var statisticsPass: ReLUStatisticsPass?

    public var meanField: MeanFieldRule { .pointwise(.relu(slope: Double(negativeSlope))) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        negativeSlope = param.reluParam?.negativeSlope ?? 0
        guard negativeSlope.isFinite else {
            throw InputError("layer '\(param.name)' (ReLU): negative_slope must be finite, got \(negativeSlope)")
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        if negativeSlope == 0, let pass = statisticsPass, pass.reluForward(self, bottom: bottom[0], top: top[0]) { return }
        let x = bottom[0].data, y = top[0].data, slope = negativeSlope
        // y = (v < 0 ? 0 : v) + slope·(0 < v ? 0 : v): std::max(v, 0) and std::min(v, 0) as Caffe
        // writes them, so NaN propagates through both (vector kernel in Sources/CStatistics).
        parallelChunks(bottom[0].count) { r in idg_relu_forward(x, y, r.lowerBound, r.upperBound, slope) }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        if negativeSlope == 0, let pass = statisticsPass, pass.reluBackward(self, top: top[0], bottom: bottom[0]) { return }
        let x = bottom[0].data, dy = top[0].diff, dx = bottom[0].diff, slope = negativeSlope
        // dx = dy·([v > 0] + slope·[v ≤ 0]).
        parallelChunks(bottom[0].count) { r in idg_relu_backward_plain(dy, x, dx, r.lowerBound, r.upperBound, slope) }
    }
}

/// Takes statistics inside a ReLU's pass (negative_slope 0 only). Each method either computes
/// the layer's output exactly as the plain pass would, records, and returns true, or does nothing
/// and returns false.
public protocol ReLUStatisticsPass: AnyObject {
    /// top = max(bottom, 0).
    func reluForward(_ layer: ReLULayer, bottom: Blob, top: Blob) -> Bool
    /// bottom.diff = top.diff · [bottom.data > 0].
    func reluBackward(_ layer: ReLULayer, top: Blob, bottom: Blob) -> Bool
}
