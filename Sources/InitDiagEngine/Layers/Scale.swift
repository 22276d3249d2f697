import InitDiagCore
import InitDiagTrace
/// Caffe's Scale layer (BVLC/caffe src/caffe/layers/scale_layer.cpp): y = x·γ broadcast over
/// bottom axes [axis, axis + num_axes) (num_axes −1 = to the end, 0 = a scalar), γ = blob 0
/// (filler default constant 1, applied by the net) or bottom[1]; with bias_term, y += β after the
/// product (Caffe runs an inner Bias layer on the top in place), β of γ's shape with bias_filler
/// (default constant 0).
///
/// Blob order as Caffe: one bottom → [γ, β]; two bottoms → [β] only.
///
/// Backward: β gets Σ dy (accumulated); γ gets Σ dy·x over outer and inner (x saved before an
/// in-place forward); dx = dy·γ. Caffe's γ-diff quirk is kept: when γ covers the whole bottom
/// (count equal) or the outer count is 1 with inner > 1 and more than one γ element, Caffe writes
/// the γ diff instead of adding to it (its "product in the scale diff" shortcut); elsewhere a
/// learned γ accumulates. A γ from bottom[1] is always overwritten.
public final class ScaleLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let axis: Int32
    public let numAxes: Int32
    public let biasTerm: Bool
    private var geometry = AffineBroadcast()
    /// The bottom saved by an in-place forward (Caffe's temp_), for the γ gradient.
    private let savedBottom = Blob(name: "scale_saved_bottom")

    public static var minBottoms: Int { 1 }
    public static var exactTops: Int? { 1 }

    // Per-type knowledge (Core/LayerTraits.swift).
    public static var role: LayerRole { .affine }
    /// One bottom: y = γ·x + β with learned γ, β: m' = E[γ²]·m + E[β²]. With γ from bottom[1] the
    /// product of two signals is not modelled: the chain restarts.
    public var meanField: MeanFieldRule { param.bottom.count > 1 ? .restart : .affine }
    /// One bottom: γ's filler (default constant 1), then bias_filler (default constant 0) with
    /// bias_term. Two bottoms: γ is bottom[1], so only β (bias_filler) is left.
    public var declaredFillers: [FillerParameter] {
        let p = param.scaleParam ?? ScaleParameter()
        let zero = FillerParameter(type: "constant")
        var one = FillerParameter(type: "constant")
        one.value = 1
        if param.bottom.count > 1 { return blobs.isEmpty ? [] : [p.biasFiller ?? zero] }
        return Array([p.filler ?? one, p.biasFiller ?? zero].prefix(blobs.count))
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.scaleParam ?? ScaleParameter()
        axis = p.axis
        numAxes = p.numAxes
        biasTerm = p.biasTerm
        guard numAxes >= -1 else {
            throw InputError("layer '\(param.name)' (Scale): num_axes must be ≥ 0, or −1 for all remaining axes; got \(numAxes)")
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard bottom.count <= 2 else { throw shapeError(param, "takes 1 or 2 bottoms, got \(bottom.count)") }
        blobs = []
        if bottom.count == 1 {
            let shape = try AffineBroadcast.parameterShape(bottom: bottom[0], axis: axis, numAxes: numAxes, param)
            blobs.append(Blob(name: "\(param.name)_scale", shape: shape))
        }
        if biasTerm {
            let gammaShape = bottom.count == 1 ? blobs[0].shape : bottom[1].shape
            blobs.append(Blob(name: "\(param.name)_bias", shape: gammaShape))
        }
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let gamma = bottom.count > 1 ? bottom[1] : blobs[0]
        geometry = try AffineBroadcast.resolve(bottom: bottom[0], operand: gamma, axis: axis, param,
                                               operandName: bottom.count > 1 ? "bottom[1]" : "scale")
        if biasTerm {
            let beta = blobs[blobs.count - 1]
            guard beta.shape == gamma.shape else {
                throw shapeError(param, "bias \(beta.shapeString) does not match scale \(gamma.shapeString)")
            }
        }
        if top[0] === bottom[0] { savedBottom.reshape(like: bottom[0]) } else { top[0].reshape(like: bottom[0]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let n = bottom[0].count
        var x = UnsafePointer(bottom[0].data)
        if top[0] === bottom[0] {
            savedBottom.data.update(from: bottom[0].data, count: n)
            x = UnsafePointer(savedBottom.data)
        }
        let y = top[0].data, g = (bottom.count > 1 ? bottom[1] : blobs[0]).data
        let inner = geometry.inner, dim = geometry.dim
        layerRowChunks(geometry.outer * dim, rowLength: inner) { row in
            let f = g[row % dim]
            let src = x + row * inner, dst = y + row * inner
            for k in 0..<inner { dst[k] = src[k] * f }
        }
        if biasTerm { addBroadcastBias(y, blobs[blobs.count - 1].data, geometry) }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let dy = top[0].diff
        if biasTerm {
            // Caffe's inner Bias layer: a learned β, accumulated one outer index at a time.
            reduceBroadcast(geometry, dy, times: nil, into: blobs[blobs.count - 1].diff, accumulate: true,
                            order: .perOuterIntoTarget)
        }
        let gammaIsParam = bottom.count == 1
        if gammaIsParam || (propagateDown.count > 1 && propagateDown[1]) {
            let gamma = gammaIsParam ? blobs[0] : bottom[1]
            let x = top[0] === bottom[0] ? savedBottom.data : bottom[0].data
            let g = geometry
            let isEltwise = bottom[0].count == gamma.count
            let caffeOverwrites = isEltwise || (g.outer == 1 && g.inner > 1 && g.dim > 1)
            reduceBroadcast(g, dy, times: x, into: gamma.diff, accumulate: gammaIsParam && !caffeOverwrites,
                            order: .totalThenTarget)
        }
        if propagateDown.first == true {
            let gd = (bottom.count > 1 ? bottom[1] : blobs[0]).data
            let dx = bottom[0].diff, inner = geometry.inner, dim = geometry.dim
            layerRowChunks(geometry.outer * dim, rowLength: inner) { row in
                let f = gd[row % dim]
                let src = dy + row * inner, dst = dx + row * inner
                for k in 0..<inner { dst[k] = src[k] * f }
            }
        }
    }
}
