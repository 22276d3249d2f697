import InitDiagCore
import InitDiagTrace
/// Caffe's `CanonicalAxisIndex`: an axis in [−numAxes, numAxes) counted from the end when
/// negative; out of range is an input error naming the layer (Caffe aborts).
func resolveLayerAxis(_ axis: Int, numAxes: Int, blob: Blob, _ param: LayerParameter,
                      field: String = "axis") throws -> Int {
    guard axis >= -numAxes, axis < numAxes else {
        throw shapeError(param, "\(field) \(axis) is out of range for bottom \(blob.shapeString) (\(numAxes) axes)")
    }
    return axis < 0 ? axis + numAxes : axis
}

/// Runs `body(row)` for every row in 0..<rows, in contiguous chunks spread over the engine's
/// threads only when a chunk holds at least ~16k elements: a thread per tiny row would cost more
/// than the work. Rows must touch disjoint memory.
@inline(__always)
func layerRowChunks(_ rows: Int, rowLength: Int, _ body: (Int) -> Void) {
    parallelChunks(rows, minChunk: max(1, 16_384 / max(rowLength, 1))) { r in
        for row in r { body(row) }
    }
}

/// How a Scale/Bias operand of shape bottom[axis ..< axis + k] broadcasts over bottom:
/// bottom viewed as (outer, dim, inner) with the operand indexed by the middle index
/// (BVLC/caffe src/caffe/layers/scale_layer.cpp, bias_layer.cpp Reshape).
struct AffineBroadcast: Equatable {
    var outer = 0, dim = 0, inner = 0

    /// Caffe: axis = 0 when the operand is a scalar (any choice is equivalent), else the
    /// canonical `axis`; the operand's dims must equal bottom's from there.
    static func resolve(bottom: Blob, operand: Blob, axis: Int32, _ param: LayerParameter,
                        operandName: String) throws -> AffineBroadcast {
        let a = operand.numAxes == 0 ? 0
            : try resolveLayerAxis(Int(axis), numAxes: bottom.numAxes, blob: bottom, param)
        guard bottom.numAxes >= a + operand.numAxes,
              Array(bottom.shape[a ..< a + operand.numAxes]) == operand.shape else {
            throw shapeError(param, "\(operandName) \(operand.shapeString) does not match bottom \(bottom.shapeString) "
                + "starting at axis \(a)")
        }
        return AffineBroadcast(outer: bottom.count(from: 0, to: a), dim: operand.count,
                               inner: bottom.count(from: a + operand.numAxes))
    }

    /// The learned operand's shape: bottom[axis ..< axis + numAxes] (numAxes −1 = to the end).
    static func parameterShape(bottom: Blob, axis: Int32, numAxes: Int32, _ param: LayerParameter) throws -> [Int] {
        let a = try resolveLayerAxis(Int(axis), numAxes: bottom.numAxes, blob: bottom, param)
        guard numAxes >= -1 else {
            throw InputError("layer '\(param.name)' (\(param.type)): num_axes must be ≥ 0, or −1 for all remaining axes; got \(numAxes)")
        }
        if numAxes == -1 { return Array(bottom.shape[a...]) }
        let n = Int(numAxes)
        guard bottom.numAxes >= a + n else {
            throw shapeError(param, "num_axes \(n) from axis \(a) extends past bottom \(bottom.shapeString)")
        }
        return Array(bottom.shape[a ..< a + n])
    }
}

/// y[o, d, i] += b[d] for the (outer, dim, inner) view; Caffe adds the bias after copying
/// (gemm with K = 1 and beta 1: one float add per element).
func addBroadcastBias(_ y: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ g: AffineBroadcast) {
    let inner = g.inner
    layerRowChunks(g.outer * g.dim, rowLength: inner) { row in
        let v = b[row % g.dim]
        let p = y + row * inner
        for k in 0..<inner { p[k] += v }
    }
}

/// Per-operand gradient sums for the (outer, dim, inner) view: for each d, the inner sums
/// s_o = Σ_k a[o, d, k]·(b[o, d, k] if given) are combined in one of Caffe's two orders:
/// - `.perOuterIntoTarget` (bias_layer.cpp: one gemv per outer index, beta = accumulate for the
///   first and 1 after): target = ((t₀ + s₀) + s₁) + …, t₀ = target if accumulating, else 0;
/// - `.totalThenTarget` (scale_layer.cpp: gemv over inner, then a transposed gemv over outer with
///   beta = accumulate): target = (s₀ + s₁ + …) + t₀.
enum BroadcastReduceOrder { case perOuterIntoTarget, totalThenTarget }

func reduceBroadcast(_ g: AffineBroadcast, _ a: UnsafePointer<Float>, times b: UnsafePointer<Float>?,
                     into target: UnsafeMutablePointer<Float>, accumulate: Bool, order: BroadcastReduceOrder) {
    let inner = g.inner, dim = g.dim, outer = g.outer
    layerRowChunks(dim, rowLength: outer * inner) { d in
        var total: Float = 0
        var started = false
        if order == .perOuterIntoTarget, accumulate { total = target[d]; started = true }
        for o in 0..<outer {
            let base = (o * dim + d) * inner
            var s: Float = 0
            if let b {
                for k in 0..<inner { s += a[base + k] * b[base + k] }
            } else {
                for k in 0..<inner { s += a[base + k] }
            }
            total = started ? total + s : s
            started = true
        }
        if order == .totalThenTarget {
            target[d] = accumulate ? total + target[d] : total
        } else {
            target[d] = total
        }
    }
}

/// Caffe's Bias layer (BVLC/caffe src/caffe/layers/bias_layer.cpp): y = x + b broadcast over
/// bottom axes [axis, axis + num_axes); b is blob 0 (filler default constant 0, applied by the
/// net) or bottom[1]. Backward: dx = dy; db = Σ dy over outer and inner, added into blob 0's diff
/// (a learned parameter accumulates) or written into bottom[1]'s diff. In-place supported.
public final class BiasLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let axis: Int32
    public let numAxes: Int32
    private var geometry = AffineBroadcast()

    public static var minBottoms: Int { 1 }
    public static var exactTops: Int? { 1 }

    // Per-type knowledge (Core/LayerTraits.swift).
    public static var role: LayerRole { .affine }
    /// One bottom: y = x + b, the `.affine` rule with γ ≡ 1 and β = blob 0: m' = m + E[b²]. With b
    /// from bottom[1] the sum of two signals is not modelled: the chain restarts.
    public var meanField: MeanFieldRule { param.bottom.count > 1 ? .restart : .affine }
    /// No γ blob; the offset is blob 0.
    public var meanFieldBlobs: MeanFieldBlobs { MeanFieldBlobs(multiplier: nil, offset: blobs.isEmpty ? nil : 0) }
    /// bias_param.filler (default constant 0) for its one learned blob.
    public var declaredFillers: [FillerParameter] {
        blobs.isEmpty ? [] : [param.biasParam?.filler ?? FillerParameter(type: "constant")]
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.biasParam ?? BiasParameter()
        axis = p.axis
        numAxes = p.numAxes
        guard numAxes >= -1 else {
            throw InputError("layer '\(param.name)' (Bias): num_axes must be ≥ 0, or −1 for all remaining axes; got \(numAxes)")
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard bottom.count <= 2 else {
            throw shapeError(param, "takes 1 or 2 bottoms, got \(bottom.count)")
        }
        if bottom.count == 1 {
            let shape = try AffineBroadcast.parameterShape(bottom: bottom[0], axis: axis, numAxes: numAxes, param)
            blobs = [Blob(name: "\(param.name)_bias", shape: shape)]
        } else {
            blobs = []
        }
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let operand = bottom.count > 1 ? bottom[1] : blobs[0]
        geometry = try AffineBroadcast.resolve(bottom: bottom[0], operand: operand, axis: axis, param,
                                               operandName: bottom.count > 1 ? "bottom[1]" : "bias")
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, n = bottom[0].count
        if x != y { y.update(from: x, count: n) }
        addBroadcastBias(y, (bottom.count > 1 ? bottom[1] : blobs[0]).data, geometry)
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let dy = top[0].diff
        if propagateDown.first == true, top[0] !== bottom[0] {
            bottom[0].diff.update(from: dy, count: bottom[0].count)
        }
        if bottom.count == 1 {
            reduceBroadcast(geometry, dy, times: nil, into: blobs[0].diff, accumulate: true, order: .perOuterIntoTarget)
        } else if propagateDown.count > 1, propagateDown[1] {
            reduceBroadcast(geometry, dy, times: nil, into: bottom[1].diff, accumulate: false, order: .perOuterIntoTarget)
        }
    }
}
