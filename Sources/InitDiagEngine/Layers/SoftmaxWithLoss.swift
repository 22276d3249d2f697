import InitDiagCore
import InitDiagTrace
/// A layer whose forward reads labels from a bottom. Forward cannot throw, so a label that is not
/// a class index is recorded here (the first one of the pass; nil when every label was valid) and
/// that position is skipped. The net must check `labelError` after each forward of such a layer
/// and stop the run with it (Caffe only DCHECKs labels and then reads out of bounds).
public protocol LabelReadingLayer: Layer {
    var labelError: InputError? { get }
}

/// Reads label `value` for a layer with `classes` classes: Caffe truncates the float toward zero
/// (static_cast<int>). Returns nil for the ignore label; records an error and returns nil for a
/// value that is not finite, not an int, or outside [0, classes).
@inline(__always)
func readCaffeLabel(_ value: Float, classes: Int, ignoreLabel: Int32?, position: Int,
                    _ param: LayerParameter, error: inout InputError?) -> Int? {
    guard value.isFinite, value >= -2_147_483_648, value < 2_147_483_648 else {
        if error == nil {
            error = InputError("layer '\(param.name)' (\(param.type)): label \(value) at position \(position) is not a class index")
        }
        return nil
    }
    let label = Int(Int32(value.rounded(.towardZero)))
    if let ignore = ignoreLabel, label == Int(ignore) { return nil }
    guard label >= 0, label < classes else {
        if error == nil {
            error = InputError("layer '\(param.name)' (\(param.type)): label \(label) at position \(position) is outside [0, \(classes))")
        }
        return nil
    }
    return label
}

/// Caffe's SoftmaxWithLoss (BVLC/caffe src/caffe/layers/softmax_loss_layer.cpp).
///
/// Softmax over softmax_param.axis (default 1) with max subtraction; bottom[1] holds one label per
/// (outer, inner) position. loss = −Σ log(max(p[label], FLT_MIN)) over positions whose label is
/// not ignore_label, divided by the normaliser of `LossParameter.effectiveNormalization`:
/// FULL = outer·inner, VALID = number of counted positions, BATCH_SIZE = outer, NONE = 1; then
/// max(1, ·). Gradient: (p − onehot)·(w/normaliser) with w = top[0].diff[0] (the loss weight the
/// net writes there); ignored positions get 0. No gradient to the labels.
///
/// An optional second top receives the probabilities (a copy; Caffe shares the buffer). Caffe's
/// Layer::SetLossWeights then needs loss_weight given once per top: checked in setUp.
///
/// Invalid labels (see `LabelReadingLayer`) are skipped like ignored positions and reported in
/// `labelError`.
public final class SoftmaxWithLossLayer: LabelReadingLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let axis: Int32
    public let ignoreLabel: Int32?
    public let normalization: LossParameter.NormalizationMode
    public private(set) var labelError: InputError?
    private var kernel = SoftmaxKernel()
    /// Probabilities of the last forward (Caffe's prob_).
    public let probabilities = Blob(name: "softmax_loss_prob")
    /// Per-position label index of the last forward, −1 where skipped (ignored or invalid).
    private var labelIndex: UnsafeMutablePointer<Int32>
    private var labelCapacity = 1
    private var validCount = 0

    public static var exactBottoms: Int? { 2 }
    public static var minTops: Int { 1 }
    public static var maxTops: Int? { 2 }
    public static var isLoss: Bool { true }
    public func allowForceBackward(bottomIndex: Int) -> Bool { bottomIndex != 1 }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        axis = param.softmaxParam?.axis ?? 1
        let loss = param.lossParam ?? LossParameter()
        ignoreLabel = loss.ignoreLabel
        normalization = loss.effectiveNormalization
        labelIndex = .allocate(capacity: 1)
        labelIndex.initialize(to: -1)
    }

    deinit { labelIndex.deallocate() }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        // Caffe Layer::SetLossWeights: loss_weight unspecified (LossLayer then adds 1 for top 0)
        // or given once per top.
        if top.count == 2, param.lossWeight.count != 2 {
            throw InputError("layer '\(param.name)' (SoftmaxWithLoss): with two tops, loss_weight must be given once per top (got \(param.lossWeight.count))")
        }
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0], labels = bottom[1]
        // LossLayer::Reshape: same first dimension.
        guard b.numAxes >= 1, labels.numAxes >= 1, b.shape[0] == labels.shape[0] else {
            throw shapeError(param, "data \(b.shapeString) and label \(labels.shapeString) must have the same first dimension")
        }
        let a = try resolveLayerAxis(Int(axis), numAxes: b.numAxes, blob: b, param)
        kernel = SoftmaxKernel(outer: b.count(from: 0, to: a), channels: b.shape[a], inner: b.count(from: a + 1))
        let positions = kernel.outer * kernel.inner
        guard labels.count == positions else {
            throw shapeError(param, "label \(labels.shapeString) has \(labels.count) labels but prediction \(b.shapeString) "
                + "has \(positions) positions around softmax axis \(a)")
        }
        probabilities.reshape(like: b)
        top[0].reshape([])
        if top.count > 1 { top[1].reshape(like: b) }
        if positions > labelCapacity {
            labelIndex.deallocate()
            labelIndex = .allocate(capacity: positions)
            labelCapacity = positions
        }
        labelIndex.initialize(repeating: -1, count: max(positions, 1))
    }

    /// Caffe get_normalizer (Dtype arithmetic), then max(1, ·).
    public func normalizer(validCount: Int) -> Float {
        let n: Float
        switch normalization {
        case .FULL: n = Float(kernel.outer * kernel.inner)
        case .VALID: n = Float(validCount)
        case .BATCH_SIZE: n = Float(kernel.outer)
        case .NONE: n = 1
        }
        return max(1, n)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let p = probabilities.data
        kernel.forward(bottom[0].data, p)
        let labels = bottom[1].data
        let c = kernel.channels, inner = kernel.inner, dim = c * inner
        var error: InputError? = nil
        var loss: Float = 0
        var count = 0
        // Sequential: Caffe accumulates the loss in one float in (outer, inner) order.
        for o in 0..<kernel.outer {
            for k in 0..<inner {
                let pos = o * inner + k
                guard let label = readCaffeLabel(labels[pos], classes: c, ignoreLabel: ignoreLabel, position: pos,
                                                 param, error: &error) else {
                    labelIndex[pos] = -1
                    continue
                }
                labelIndex[pos] = Int32(label)
                loss -= softmaxLogf(max(p[o * dim + label * inner + k], Float.leastNormalMagnitude))
                count += 1
            }
        }
        labelError = error
        validCount = count
        top[0].data[0] = loss / normalizer(validCount: count)
        if top.count > 1 { top[1].data.update(from: p, count: probabilities.count) }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let dx = bottom[0].diff, p = probabilities.data
        let c = kernel.channels, inner = kernel.inner, dim = c * inner
        dx.update(from: p, count: probabilities.count)
        for o in 0..<kernel.outer {
            for k in 0..<inner {
                let label = Int(labelIndex[o * inner + k])
                if label < 0 {
                    for j in 0..<c { dx[o * dim + j * inner + k] = 0 }
                } else {
                    dx[o * dim + label * inner + k] -= 1
                }
            }
        }
        // Caffe: loss_weight = top_diff[0]/get_normalizer(count), then one caffe_scal.
        let factor = top[0].diff[0] / normalizer(validCount: validCount)
        let n = probabilities.count
        parallelChunks(n) { r in for i in r { dx[i] *= factor } }
    }
}
