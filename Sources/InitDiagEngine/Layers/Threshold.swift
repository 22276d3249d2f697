import InitDiagCore
import InitDiagTrace
/// A layer without a backward pass (Caffe's Backward_cpu is NOT_IMPLEMENTED). The net refuses to
/// build when it needs a gradient through one (Net.build), where Caffe would abort at the first
/// backward.
public protocol ForwardOnlyLayer: Layer {}

/// Caffe's Threshold (BVLC/caffe src/caffe/layers/threshold_layer.cpp): y = 1 if x > threshold,
/// else 0 (NaN gives 0).
///
/// Parameters: `threshold_param { threshold }` (default 0; must not be NaN here).
/// Backward: none. Caffe's Backward_cpu is NOT_IMPLEMENTED (threshold_layer.hpp) and aborts the
/// process when it runs; here a net that would need a gradient through a Threshold layer (a
/// learnable layer or a forced-backward input below it, under a loss) fails to build with an
/// InputError naming the layer, so the user fixes it the way a Caffe user must (propagate_down:
/// false on its bottom, or moving the Threshold off the gradient path). force_backward does not
/// force it (there is no gradient to force). When backward is called with propagate_down false
/// it does nothing.
/// In place (top === bottom) is supported: elementwise, no backward.
public final class ThresholdLayer: NeuronLayer, ForwardOnlyLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let threshold: Float

    public var meanField: MeanFieldRule { .pointwise(.threshold(Double(threshold))) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        threshold = param.thresholdParam?.threshold ?? 0
        guard !threshold.isNaN else {
            throw InputError("layer '\(param.name)' (Threshold): threshold must be a number, got nan")
        }
    }

    public func allowForceBackward(bottomIndex: Int) -> Bool { false }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, t = threshold
        parallelChunks(bottom[0].count) { r in
            for i in r { y[i] = x[i] > t ? 1 : 0 }
        }
    }

    /// Never asked for a gradient (the net refuses to build when it would be): nothing to do.
    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {}
}
