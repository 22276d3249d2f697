import InitDiagCore
import InitDiagTrace
/// Caffe's EuclideanLoss (BVLC/caffe src/caffe/layers/euclidean_loss_layer.cpp).
///
/// loss = 1/(2N) · Σᵢ (aᵢ − bᵢ)² with N = bottom[0].num() (the first dimension), the sum a
/// single-precision dot product of d = a − b with itself (caffe_cpu_dot, cblas_sdot).
/// Gradients, both bottoms (EuclideanLoss allows force_backward on either, no label):
/// ∂/∂a = +w/N · d, ∂/∂b = −w/N · d, w = top[0].diff[0] (the loss weight the net writes there).
///
/// Checks (Caffe CHECKs, here `InputError` naming the layer): same first dimension, the same
/// count(1) for both bottoms, at most 4 axes (Blob::num()). No parameters besides loss_weight;
/// no in-place (the top is a scalar).
public final class EuclideanLossLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    /// d = bottom[0] − bottom[1] of the last forward (Caffe's diff_).
    private let difference = Blob(name: "euclidean_diff")
    /// Blob::num() of each bottom (the same: their first dimensions are checked equal).
    private var nums = [1, 1]

    public static var exactBottoms: Int? { 2 }
    public static var exactTops: Int? { 1 }
    public static var isLoss: Bool { true }
    public static var role: LayerRole { .loss }
    public var meanField: MeanFieldRule { .stop }
    /// EuclideanLossLayer::AllowForceBackward returns true for both bottoms.
    public func allowForceBackward(bottomIndex: Int) -> Bool { true }

    public init(param: LayerParameter, context: LayerContext) throws { self.param = param }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        try CaffeLoss.reshapeBase(param, bottom: bottom, top: top)
        guard bottom[0].count(from: 1) == bottom[1].count(from: 1) else {
            throw shapeError(param, "inputs \(bottom[0].shapeString) and \(bottom[1].shapeString) must have the same dimension")
        }
        nums = [try CaffeLoss.legacyNum(bottom[0], param), try CaffeLoss.legacyNum(bottom[1], param)]
        difference.reshape(like: bottom[0])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let n = bottom[0].count
        let a = bottom[0].data, b = bottom[1].data, d = difference.data
        parallelChunks(n) { r in for i in r { d[i] = a[i] - b[i] } }
        let dot = CaffeLoss.dot(n, d, d)
        top[0].data[0] = dot / Float(nums[0]) / 2
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        for i in 0..<2 where i < propagateDown.count && propagateDown[i] {
            let sign: Float = i == 0 ? 1 : -1
            let alpha = sign * top[0].diff[0] / Float(nums[i])
            CaffeLoss.scale(bottom[i].count, alpha, difference.data, bottom[i].diff)
        }
    }
}
