import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's SigmoidCrossEntropyLoss (BVLC/caffe src/caffe/layers/sigmoid_cross_entropy_loss_layer.cpp).
///
/// bottom[0] = scores x, bottom[1] = targets t (same count; t in [0, 1], not necessarily 0/1).
/// Per element, in Caffe's numerically stable form (float arithmetic, [x ≥ 0] as 0/1):
///   ℓᵢ = −( xᵢ·(tᵢ − [xᵢ ≥ 0]) − log(1 + exp(xᵢ − 2·xᵢ·[xᵢ ≥ 0])) )
/// which is −t·log σ(x) − (1 − t)·log(1 − σ(x)). loss = Σ ℓᵢ over elements whose target,
/// truncated to int, is not loss_param.ignore_label, divided by the normaliser:
/// `normalization` if given, else legacy `normalize` (true → VALID, false → BATCH_SIZE), else
/// **BATCH_SIZE** (this layer keeps its historical divide-by-num default; SoftmaxWithLoss's is
/// VALID). FULL = N·count(1), VALID = counted elements, BATCH_SIZE = N, NONE = 1, then max(1, ·).
/// Gradient: (σ(xᵢ) − tᵢ)·w/normaliser, 0 at ignored elements, w = top[0].diff[0]; σ as Caffe's
/// Sigmoid layer computes it, 0.5·tanh(0.5x) + 0.5. No gradient to the targets.
public final class SigmoidCrossEntropyLossLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let ignoreLabel: Int32?
    public let normalization: LossParameter.NormalizationMode
    /// σ(bottom[0]) of the last forward (Caffe's sigmoid_output_).
    public let sigmoidOutput = Blob(name: "sigmoid_ce_output")
    private var outer = 0, inner = 0
    /// The normaliser of the last forward (Caffe's normalizer_), used by backward.
    public private(set) var lastNormalizer: Float = 1

    public static var exactBottoms: Int? { 2 }
    public static var exactTops: Int? { 1 }
    public static var isLoss: Bool { true }
    public static var role: LayerRole { .loss }
    public var meanField: MeanFieldRule { .stop }
    public func allowForceBackward(bottomIndex: Int) -> Bool { bottomIndex != 1 }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let loss = param.lossParam ?? LossParameter()
        ignoreLabel = loss.ignoreLabel
        normalization = CaffeLoss.normalizationMode(loss, fallback: .BATCH_SIZE)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        try CaffeLoss.reshapeBase(param, bottom: bottom, top: top)
        outer = bottom[0].shape[0]
        inner = bottom[0].count(from: 1)
        guard bottom[0].count == bottom[1].count else {
            throw shapeError(param, "inputs \(bottom[0].shapeString) and \(bottom[1].shapeString) must have the same count")
        }
        sigmoidOutput.reshape(like: bottom[0])
    }

    @inline(__always) private func ignored(_ t: Float) -> Bool {
        guard let ignore = ignoreLabel, let v = CaffeLoss.truncatedInt(t) else { return false }
        return v == Int(ignore)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let n = bottom[0].count
        let x = bottom[0].data, t = bottom[1].data, s = sigmoidOutput.data
        parallelChunks(n) { r in for i in r { s[i] = caffeSigmoid(x[i]) } }
        var loss: Float = 0
        var valid = 0
        // Sequential: Caffe accumulates in one float in element order.
        for i in 0..<n {
            if ignored(t[i]) { continue }
            let xi = x[i]
            let positive: Float = xi >= 0 ? 1 : 0
            loss -= xi * (t[i] - positive) - logf(1 + expf(xi - 2 * xi * positive))
            valid += 1
        }
        lastNormalizer = CaffeLoss.normalizer(normalization, outer: outer, inner: inner, validCount: valid)
        top[0].data[0] = loss / lastNormalizer
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let n = bottom[0].count
        let s = sigmoidOutput.data, t = bottom[1].data, dx = bottom[0].diff
        let weight = top[0].diff[0] / lastNormalizer
        let hasIgnore = ignoreLabel != nil
        parallelChunks(n) { r in
            for i in r {
                // caffe_sub, the ignored entries zeroed, then one caffe_scal.
                let g: Float = hasIgnore && self.ignored(t[i]) ? 0 : s[i] - t[i]
                dx[i] = g * weight
            }
        }
    }
}
