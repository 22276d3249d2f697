import InitDiagCore
import InitDiagTrace
/// Caffe's ContrastiveLoss (BVLC/caffe src/caffe/layers/contrastive_loss_layer.cpp).
///
/// Bottoms: a (N, C[, 1, 1]), b (same), y (N[, 1, 1, 1]) the similarity label (static_cast<int>
/// ≠ 0: similar). With dᵢ² = ‖aᵢ − bᵢ‖² (a float dot product per sample):
///   loss = 1/(2N) · Σᵢ [ yᵢ·dᵢ² + (1 − yᵢ)·max(margin − dᵢ, 0)² ]        (legacy_version false)
///   loss = 1/(2N) · Σᵢ [ yᵢ·dᵢ² + (1 − yᵢ)·max(margin − dᵢ², 0) ]         (legacy_version true)
/// Gradient to a (sign +1) and b (sign −1), α = sign·w/N, w = top[0].diff[0]:
///   similar: α·(aᵢ − bᵢ); dissimilar, legacy: −α·(aᵢ − bᵢ) where margin − dᵢ² > 0;
///   dissimilar: −α·(margin − dᵢ)/(dᵢ + 1e-4)·(aᵢ − bᵢ) where margin − dᵢ > 0 (Caffe's 1e-4
///   guard, so the gradient at d = 0 is finite); 0 otherwise.
/// Parameters: contrastive_loss_param { margin [1.0], legacy_version [false] }. No gradient to y.
/// Checks: a and b have the same channels, height = width = 1, y has channels = height = width
/// = 1 and N values; at most 4 axes. A non-finite y is reported in `labelError`.
public final class ContrastiveLossLayer: LabelReadingLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let margin: Float
    public let legacyVersion: Bool
    public private(set) var labelError: InputError?
    private let difference = Blob(name: "contrastive_diff")
    private let distanceSquared = Blob(name: "contrastive_dist_sq")
    /// Per sample: the similarity of the last forward (nil where unreadable).
    private var similar: [Bool] = []
    private var num = 0, channels = 0

    public static var exactBottoms: Int? { 3 }
    public static var exactTops: Int? { 1 }
    public static var isLoss: Bool { true }
    public static var role: LayerRole { .loss }
    public var meanField: MeanFieldRule { .stop }
    public func allowForceBackward(bottomIndex: Int) -> Bool { bottomIndex != 2 }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.contrastiveLossParam ?? ContrastiveLossParameter()
        margin = p.margin
        legacyVersion = p.legacyVersion
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        try CaffeLoss.reshapeBase(param, bottom: bottom, top: top)
        let a = bottom[0], b = bottom[1], y = bottom[2]
        for blob in [a, b, y] { _ = try CaffeLoss.legacyNum(blob, param) }
        guard CaffeLoss.legacyShape(a, 1) == CaffeLoss.legacyShape(b, 1) else {
            throw shapeError(param, "bottoms \(a.shapeString) and \(b.shapeString) must have the same channels")
        }
        for blob in [a, b] where CaffeLoss.legacyShape(blob, 2) != 1 || CaffeLoss.legacyShape(blob, 3) != 1 {
            throw shapeError(param, "bottom \(blob.shapeString) must be N×C or N×C×1×1 (height and width 1)")
        }
        guard (1...3).allSatisfy({ CaffeLoss.legacyShape(y, $0) == 1 }), y.count == a.shape[0] else {
            throw shapeError(param, "the similarity label \(y.shapeString) must hold one value per pair (N or N×1×1×1, N = \(a.shape[0]))")
        }
        num = a.shape[0]
        channels = CaffeLoss.legacyShape(a, 1)
        difference.reshape([num, channels])
        distanceSquared.reshape([num])
        similar = [Bool](repeating: false, count: num)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let a = bottom[0].data, b = bottom[1].data, y = bottom[2].data
        let d = difference.data, dsq = distanceSquared.data, c = channels
        let n = num * c
        parallelChunks(n) { r in for i in r { d[i] = a[i] - b[i] } }
        var error: InputError? = nil
        var loss: Float = 0
        for i in 0..<num {
            dsq[i] = CaffeLoss.dot(c, d + i * c, d + i * c)
            guard let label = CaffeLoss.truncatedInt(y[i]) else {
                if error == nil {
                    error = InputError("layer '\(param.name)' (ContrastiveLoss): similarity label \(y[i]) at position \(i) is not a number")
                }
                similar[i] = false
                continue
            }
            similar[i] = label != 0
            if similar[i] {
                loss += dsq[i]
            } else if legacyVersion {
                loss += max(margin - dsq[i], 0)
            } else {
                let dist = max(margin - dsq[i].squareRoot(), 0)
                loss += dist * dist
            }
        }
        labelError = error
        top[0].data[0] = loss / Float(num) / 2
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let d = difference.data, dsq = distanceSquared.data, c = channels
        for i in 0..<2 where i < propagateDown.count && propagateDown[i] {
            let sign: Float = i == 0 ? 1 : -1
            let alpha = sign * top[0].diff[0] / Float(num)
            let out = bottom[i].diff
            for j in 0..<num {
                let row = out + j * c, dj = d + j * c
                if similar[j] {
                    for k in 0..<c { row[k] = alpha * dj[k] }
                    continue
                }
                let mdist: Float, beta: Float
                if legacyVersion {
                    mdist = margin - dsq[j]
                    beta = -alpha
                } else {
                    let dist = dsq[j].squareRoot()
                    mdist = margin - dist
                    beta = -alpha * mdist / (dist + Float(1e-4))
                }
                if mdist > 0 {
                    for k in 0..<c { row[k] = beta * dj[k] }
                } else {
                    for k in 0..<c { row[k] = 0 }
                }
            }
        }
    }
}
