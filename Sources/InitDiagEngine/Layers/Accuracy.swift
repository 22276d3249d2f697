import InitDiagCore
import InitDiagTrace
/// Caffe's Accuracy (BVLC/caffe src/caffe/layers/accuracy_layer.cpp).
///
/// For each (outer, inner) position around `axis` whose label is not ignore_label: count the
/// classes scoring ≥ the true class's score (the true class included); the prediction is correct
/// iff count − 1 < top_k — ties count as errors. Caffe stops counting once count − 1 reaches
/// top_k, which does not change the outcome. top[0] = correct/positions as float (0 when no
/// position counted); optional top[1] (C) = per-class accuracy, 0 for classes without samples.
///
/// No backward: Caffe's Backward_cpu is NOT_IMPLEMENTED for any propagated bottom, so
/// `allowForceBackward` is false and bottom diffs are never touched. Invalid labels are skipped
/// and reported in `labelError` (see `LabelReadingLayer`).
public final class AccuracyLayer: LabelReadingLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let topK: Int
    public let axis: Int32
    public let ignoreLabel: Int32?
    public private(set) var labelError: InputError?
    private var outer = 0, classes = 0, inner = 0
    /// Samples per class of the last forward (Caffe's nums_buffer_), allocated at reshape.
    private let samplesPerClass = Blob(name: "accuracy_nums")

    public static var exactBottoms: Int? { 2 }
    public static var minTops: Int { 1 }
    public static var maxTops: Int? { 2 }
    public func allowForceBackward(bottomIndex: Int) -> Bool { false }
    public static var role: LayerRole { .metric }
    /// Its top is a count, not a signal: the chain ends.
    public var meanField: MeanFieldRule { .stop }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.accuracyParam ?? AccuracyParameter()
        topK = Int(p.topK)
        axis = p.axis
        ignoreLabel = p.ignoreLabel
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0], labels = bottom[1]
        let a = try resolveLayerAxis(Int(axis), numAxes: b.numAxes, blob: b, param)
        outer = b.count(from: 0, to: a)
        classes = b.shape[a]
        inner = b.count(from: a + 1)
        guard labels.count == outer * inner else {
            throw shapeError(param, "label \(labels.shapeString) has \(labels.count) labels but prediction \(b.shapeString) "
                + "has \(outer * inner) positions around axis \(a)")
        }
        // Caffe: CHECK_LE(top_k_, count/label count) "top_k must be less than or equal to the
        // number of classes."
        guard topK <= classes else {
            throw InputError("layer '\(param.name)' (Accuracy): top_k \(topK) exceeds the \(classes) classes of bottom \(b.shapeString)")
        }
        top[0].reshape([])
        if top.count > 1 {
            top[1].reshape([classes])
            samplesPerClass.reshape([classes])
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, labels = bottom[1].data
        let c = classes, inner = inner, dim = c * inner
        let perClass = top.count > 1
        if perClass {
            top[1].zeroData()
            samplesPerClass.zeroData()
        }
        var error: InputError? = nil
        var correct: Float = 0
        var count = 0
        for o in 0..<outer {
            for k in 0..<inner {
                let pos = o * inner + k
                guard let label = readCaffeLabel(labels[pos], classes: c, ignoreLabel: ignoreLabel, position: pos,
                                                 param, error: &error) else { continue }
                if perClass { samplesPerClass.data[label] += 1 }
                let trueScore = x[o * dim + label * inner + k]
                // The true class counts itself, hence the start at −1.
                var better = -1
                var j = 0
                while j < c && better < topK {
                    if x[o * dim + j * inner + k] >= trueScore { better += 1 }
                    j += 1
                }
                if better < topK {
                    correct += 1
                    if perClass { top[1].data[label] += 1 }
                }
                count += 1
            }
        }
        labelError = error
        top[0].data[0] = count == 0 ? 0 : correct / Float(count)
        if perClass {
            let acc = top[1].data, nums = samplesPerClass.data
            for j in 0..<c { acc[j] = nums[j] == 0 ? 0 : acc[j] / nums[j] }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {}
}
