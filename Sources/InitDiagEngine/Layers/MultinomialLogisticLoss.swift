import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's MultinomialLogisticLoss (BVLC/caffe src/caffe/layers/multinomial_logistic_loss_layer.cpp).
///
/// bottom[0] holds probabilities (N, C, …): dim = count/N values per sample, the label picks
/// index `label` of them (Caffe reads p[i·dim + label]). loss = −1/N · Σᵢ log(max(p[i, labelᵢ],
/// kLOG_THRESHOLD = 1e-20)), accumulated in float in sample order. Gradient: 0 everywhere except
/// ∂/∂p[i, labelᵢ] = −w/N / max(p[i, labelᵢ], 1e-20), w = top[0].diff[0]. No normalization
/// mode, no ignore_label (Caffe's layer reads neither). No gradient to the labels.
///
/// Checks: same first dimension; bottom[1] has channels = height = width = 1 (N or N×1×1×1);
/// at most 4 axes. A label outside [0, dim) (Caffe: undefined behaviour) is skipped and reported
/// in `labelError`.
public final class MultinomialLogisticLossLayer: LabelReadingLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public private(set) var labelError: InputError?
    private var num = 1, dim = 0

    public static var exactBottoms: Int? { 2 }
    public static var exactTops: Int? { 1 }
    public static var isLoss: Bool { true }
    public static var role: LayerRole { .loss }
    public var meanField: MeanFieldRule { .stop }
    public func allowForceBackward(bottomIndex: Int) -> Bool { bottomIndex != 1 }

    public init(param: LayerParameter, context: LayerContext) throws { self.param = param }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        try CaffeLoss.reshapeBase(param, bottom: bottom, top: top)
        let labels = bottom[1]
        _ = try CaffeLoss.legacyNum(labels, param)
        guard (1...3).allSatisfy({ CaffeLoss.legacyShape(labels, $0) == 1 }) else {
            throw shapeError(param, "label \(labels.shapeString) must be N or N×1×1×1 (channels, height and width 1)")
        }
        num = try CaffeLoss.legacyNum(bottom[0], param)
        dim = num == 0 ? 0 : bottom[0].count / num
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let p = bottom[0].data, labels = bottom[1].data
        var error: InputError? = nil
        var loss: Float = 0
        for i in 0..<num {
            guard let label = readCaffeLabel(labels[i], classes: dim, ignoreLabel: nil, position: i, param, error: &error) else { continue }
            let prob = max(p[i * dim + label], caffeLogThreshold)
            loss -= logf(prob)
        }
        labelError = error
        top[0].data[0] = loss / Float(num)
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let p = bottom[0].data, labels = bottom[1].data, dx = bottom[0].diff
        dx.initialize(repeating: 0, count: bottom[0].count)
        let scale = -top[0].diff[0] / Float(num)
        var error: InputError? = nil
        for i in 0..<num {
            guard let label = readCaffeLabel(labels[i], classes: dim, ignoreLabel: nil, position: i, param, error: &error) else { continue }
            let prob = max(p[i * dim + label], caffeLogThreshold)
            dx[i * dim + label] = scale / prob
        }
    }
}
