import InitDiagCore
import InitDiagTrace
/// Caffe's HingeLoss (BVLC/caffe src/caffe/layers/hinge_loss_layer.cpp): one-vs-all hinge over
/// C = count/N scores per sample.
///
/// With δᵢⱼ = −1 for j = labelᵢ and +1 otherwise, tᵢⱼ = max(0, 1 + δᵢⱼ·xᵢⱼ):
///   L1 (default): loss = 1/N · Σᵢⱼ tᵢⱼ   (caffe_cpu_asum)
///   L2:           loss = 1/N · Σᵢⱼ tᵢⱼ²  (caffe_cpu_dot)
/// This is not PyTorch's multi_margin_loss (Σ_{j≠y} max(0, 1 − x_y + x_j)/C): every class,
/// the true one included, has its own margin against 0.
/// Gradient, w = top[0].diff[0]: L1: w/N · sign(tᵢⱼ)·δᵢⱼ; L2: 2w/N · tᵢⱼ·δᵢⱼ. No gradient to
/// the labels. Parameters: hinge_loss_param { norm: L1 | L2 [L1] }. Caffe keeps tᵢⱼ in
/// bottom[0]'s diff between forward and backward; here it is a private buffer (same values).
/// Checks: same first dimension, at most 4 axes; a label outside [0, C) (Caffe: undefined) is
/// skipped and reported in `labelError`.
public final class HingeLossLayer: LabelReadingLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let norm: HingeLossParameter.Norm
    public private(set) var labelError: InputError?
    private let margins = Blob(name: "hinge_margins")
    private var num = 1, dim = 0

    public static var exactBottoms: Int? { 2 }
    public static var exactTops: Int? { 1 }
    public static var isLoss: Bool { true }
    public static var role: LayerRole { .loss }
    public var meanField: MeanFieldRule { .stop }
    public func allowForceBackward(bottomIndex: Int) -> Bool { bottomIndex != 1 }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        norm = (param.hingeLossParam ?? HingeLossParameter()).norm
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        try CaffeLoss.reshapeBase(param, bottom: bottom, top: top)
        num = try CaffeLoss.legacyNum(bottom[0], param)
        dim = num == 0 ? 0 : bottom[0].count / num
        margins.reshape(like: bottom[0])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, labels = bottom[1].data, t = margins.data
        let count = bottom[0].count
        t.update(from: x, count: count)
        var error: InputError? = nil
        for i in 0..<num {
            if let label = readCaffeLabel(labels[i], classes: dim, ignoreLabel: nil, position: i, param, error: &error) {
                t[i * dim + label] *= -1
            }
        }
        labelError = error
        parallelChunks(count) { r in for i in r { t[i] = max(0, 1 + t[i]) } }
        switch norm {
        case .L1: top[0].data[0] = CaffeLoss.asum(count, t) / Float(num)
        case .L2: top[0].data[0] = CaffeLoss.dot(count, t, t) / Float(num)
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let labels = bottom[1].data, t = margins.data, dx = bottom[0].diff
        let count = bottom[0].count
        dx.update(from: t, count: count)
        var error: InputError? = nil
        for i in 0..<num {
            if let label = readCaffeLabel(labels[i], classes: dim, ignoreLabel: nil, position: i, param, error: &error) {
                dx[i * dim + label] *= -1
            }
        }
        let w = top[0].diff[0]
        switch norm {
        case .L1:
            // caffe_cpu_sign: (0 < x) − (x < 0), then caffe_scal by w/N.
            let s = w / Float(num)
            parallelChunks(count) { r in
                for i in r {
                    let v = dx[i]
                    dx[i] = (v > 0 ? 1 : (v < 0 ? -1 : 0)) * s
                }
            }
        case .L2:
            let s = w * 2 / Float(num)
            parallelChunks(count) { r in for i in r { dx[i] *= s } }
        }
    }
}
