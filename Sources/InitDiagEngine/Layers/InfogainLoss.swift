import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's InfogainLoss, final BVLC master (BVLC/caffe src/caffe/layers/infogain_loss_layer.cpp):
/// it applies a softmax itself (an internal Softmax layer over infogain_loss_param.axis), so
/// bottom[0] holds raw scores, not probabilities.
///
/// p = softmax(x) over `axis` (max subtracted, as SoftmaxWithLoss); bottom[1] holds one label per
/// (outer, inner) position; H is C×C (C = the axis dimension) from a third bottom, or else from
/// the binary BlobProto file infogain_loss_param.source (read at set-up, as Caffe does). With
/// positions whose label is not loss_param.ignore_label:
///   loss = −Σ_pos Σ_l H[label, l] · log(max(p[pos, l], 1e-20)) / normaliser
/// (float accumulation in (outer, inner, l) order); normaliser from loss_param.normalization
/// [VALID]: FULL = outer·inner, VALID = counted positions, BATCH_SIZE = outer, NONE = 1, then
/// max(1, ·). The legacy `normalize` field is refused, as Caffe CHECKs ("normalize is
/// deprecated"). Gradient: ∂/∂x[pos, l] = (p[pos, l]·Σ_k H[label, k] − H[label, l])·w/normaliser,
/// 0 at ignored positions, w = top[0].diff[0]. No gradient to the labels or to H.
/// An optional second top receives the probabilities (then loss_weight is given once per top).
/// Invalid labels are skipped and reported in `labelError`.
public final class InfogainLossLayer: LabelReadingLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let axis: Int32
    public let ignoreLabel: Int32?
    public let normalization: LossParameter.NormalizationMode
    public private(set) var labelError: InputError?
    /// H from infogain_loss_param.source (nil when the layer has a third bottom).
    public let fileMatrix: Blob?
    /// Probabilities of the last forward (Caffe's prob_).
    public let probabilities = Blob(name: "infogain_prob")
    private let rowSums = Blob(name: "infogain_sum_rows_H")
    private var kernel = SoftmaxKernel()
    /// Per-position label of the last forward, −1 where skipped.
    private var labelIndex: [Int32] = []
    private var validCount = 0

    public static var minBottoms: Int { 2 }
    public static var minTops: Int { 1 }
    public static var maxTops: Int? { 2 }
    public static var isLoss: Bool { true }
    public static var role: LayerRole { .loss }
    public var meanField: MeanFieldRule { .stop }
    public func allowForceBackward(bottomIndex: Int) -> Bool { bottomIndex == 0 }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        guard param.bottom.count <= 3 else {
            throw InputError("layer '\(param.name)' (InfogainLoss) takes 2 or 3 bottom blob(s), got \(param.bottom.count)")
        }
        let p = param.infogainLossParam ?? InfogainLossParameter()
        axis = p.axis
        let loss = param.lossParam ?? LossParameter()
        if loss.normalize != nil {
            throw InputError("layer '\(param.name)' (InfogainLoss): loss_param.normalize is deprecated; use \"normalization\" (Caffe refuses it for this layer)")
        }
        ignoreLabel = loss.ignoreLabel
        normalization = loss.normalization ?? .VALID
        if param.bottom.count < 3 {
            guard let source = p.source, !source.isEmpty else {
                throw InputError("layer '\(param.name)' (InfogainLoss): the infogain matrix source must be specified (infogain_loss_param.source) or given as a third bottom")
            }
            fileMatrix = try InfogainLossLayer.loadMatrix(source, param)
        } else {
            fileMatrix = nil
        }
    }

    /// ReadProtoFromBinaryFile + Blob::FromProto: shape from the legacy dims or `shape`, values
    /// from double_data if present, else data; their count must fill the shape.
    static func loadMatrix(_ path: String, _ param: LayerParameter) throws -> Blob {
        let bytes = try Prototxt.readFile(path, what: "infogain matrix")
        let proto: BlobProto
        do { proto = try WireCodec.decode(BlobProto.self, bytes) } catch let e as WireError {
            throw InputError("\(path): not a binary BlobProto infogain matrix (\(e.message) at byte \(e.offset)) — layer '\(param.name)' (InfogainLoss)")
        }
        let shape = proto.resolvedShape
        let values = proto.values
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw InputError("\(path): the BlobProto's shape \(shape) does not hold its \(values.count) values — layer '\(param.name)' (InfogainLoss)")
        }
        let b = Blob(name: "infogain_H", shape: shape)
        b.setData(values)
        return b
    }

    private func matrix(_ bottom: [Blob]) -> Blob { bottom.count >= 3 ? bottom[2] : (fileMatrix ?? emptyMatrix) }
    /// Stands in when set up with fewer bottoms than declared: reshape then refuses its size.
    private let emptyMatrix = Blob(name: "infogain_H_missing", shape: [0])

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        try CaffeLoss.checkLossWeights(param, top: top)
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        try CaffeLoss.reshapeBase(param, bottom: bottom, top: top)
        let b = bottom[0], labels = bottom[1]
        let a = try resolveLayerAxis(Int(axis), numAxes: b.numAxes, blob: b, param)
        kernel = SoftmaxKernel(outer: b.count(from: 0, to: a), channels: b.shape[a], inner: b.count(from: a + 1))
        let positions = kernel.outer * kernel.inner
        guard labels.count == positions else {
            throw shapeError(param, "number of labels must match number of predictions: label \(labels.shapeString) has \(labels.count) but prediction \(b.shapeString) has \(positions) positions around axis \(a)")
        }
        let c = kernel.channels
        let h = matrix(bottom)
        guard h.count == c * c else {
            throw shapeError(param, "the infogain matrix H \(h.shapeString) must be \(c)×\(c) (\(c) classes on axis \(a))")
        }
        probabilities.reshape(like: b)
        rowSums.reshape([c])
        if bottom.count < 3 { sumRows(h) }
        if top.count > 1 { top[1].reshape(like: b) }
        if labelIndex.count != positions { labelIndex = [Int32](repeating: -1, count: positions) }
    }

    /// sum_rows_of_H: float sums in column order.
    private func sumRows(_ h: Blob) {
        let c = kernel.channels, m = h.data, s = rowSums.data
        for row in 0..<c {
            var sum: Float = 0
            for col in 0..<c { sum += m[row * c + col] }
            s[row] = sum
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let p = probabilities.data
        kernel.forward(bottom[0].data, p)
        let labels = bottom[1].data, h = matrix(bottom).data
        let c = kernel.channels, inner = kernel.inner, dim = c * inner
        var error: InputError? = nil
        var loss: Float = 0
        var count = 0
        for i in 0..<kernel.outer {
            for j in 0..<inner {
                let pos = i * inner + j
                guard let label = readCaffeLabel(labels[pos], classes: c, ignoreLabel: ignoreLabel, position: pos,
                                                 param, error: &error) else {
                    labelIndex[pos] = -1
                    continue
                }
                labelIndex[pos] = Int32(label)
                for l in 0..<c {
                    loss -= h[label * c + l] * logf(max(p[i * dim + l * inner + j], caffeLogThreshold))
                }
                count += 1
            }
        }
        labelError = error
        validCount = count
        top[0].data[0] = loss / CaffeLoss.normalizer(normalization, outer: kernel.outer, inner: inner, validCount: count)
        if top.count > 1 { top[1].data.update(from: p, count: probabilities.count) }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let hBlob = matrix(bottom)
        // H given as a bottom may change: its rows are summed on every backward (as Caffe).
        if bottom.count >= 3 { sumRows(hBlob) }
        let p = probabilities.data, h = hBlob.data, sums = rowSums.data, dx = bottom[0].diff
        let c = kernel.channels, inner = kernel.inner, dim = c * inner
        for i in 0..<kernel.outer {
            for j in 0..<inner {
                let label = Int(labelIndex[i * inner + j])
                if label < 0 {
                    for l in 0..<c { dx[i * dim + l * inner + j] = 0 }
                } else {
                    for l in 0..<c {
                        let k = i * dim + l * inner + j
                        dx[k] = p[k] * sums[label] - h[label * c + l]
                    }
                }
            }
        }
        let factor = top[0].diff[0] / CaffeLoss.normalizer(normalization, outer: kernel.outer, inner: inner, validCount: validCount)
        let n = probabilities.count
        parallelChunks(n) { r in for k in r { dx[k] *= factor } }
    }
}
