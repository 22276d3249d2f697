import InitDiagCore
import InitDiagTrace
/// Fills every new layer's parameters in setup order from the run's generator: the fillers the
/// layer declares (`Layer.declaredFillers`, Caffe's defaults for omitted ones), with the blobs the
/// layer names in `Layer.schemeTargets` given the scheme's fillers instead where it says so. This
/// order of draws is Caffe's (layer by layer, blob by blob).
public struct ParameterInitializer: Sendable {
    public let scheme: Scheme

    public init(scheme: Scheme) { self.scheme = scheme }

    /// The fillers used for a set-up layer's blobs (declared ones, or the scheme's).
    public func fillers(for layer: Layer) -> [FillerParameter] {
        var fs = layer.declaredFillers
        guard let t = layer.schemeTargets, t.weight < fs.count else { return fs }
        fs[t.weight] = scheme.weightFiller(declared: fs[t.weight], weightShape: t.fanShape)
        if let b = t.bias, b < fs.count {
            fs[b] = scheme.biasFiller(declared: fs[b], weightShape: t.fanShape, biasShape: layer.blobs[b].shape)
        }
        return fs
    }

    /// Text for reports and traces: which scheme gave each blob its filler, and the filler, e.g.
    /// "as-declared xavier U(±1.732)", "torch-default U(±0.1925)"; blobs the schemes do not touch
    /// get the filler's description alone.
    ///
    /// `given`: the layer's blobs came with the net (an ONNX file's initializers): a blob the
    /// scheme does not redraw is "as-exported (the file's values, Var v)" with v measured.
    public func labels(for layer: Layer, given: Bool = false) -> [String] {
        let declared = layer.declaredFillers
        let fs = fillers(for: layer)
        var out = zip(layer.blobs, fs).map { fillerDescription($1, shape: $0.shape) }
        if given {
            for k in layer.blobs.indices where !redraws(layer, blob: k) {
                out[k] = "as-exported (the file's values, Var \(fillerNumber(ParameterInitializer.measuredVariance(layer.blobs[k]))))"
            }
        }
        guard let t = layer.schemeTargets, t.weight < declared.count else { return out }
        if !given || redraws(layer, blob: t.weight) {
            out[t.weight] = scheme.weightFillerLabel(declared: declared[t.weight], weightShape: t.fanShape)
        }
        if let b = t.bias, b < declared.count, !given || redraws(layer, blob: b) {
            out[b] = scheme.biasFillerLabel(declared: declared[b], weightShape: t.fanShape, biasShape: layer.blobs[b].shape)
        }
        return out
    }

    /// Whether this scheme redraws blob `k` of a layer whose blobs were given (`redrawGiven`):
    /// the scheme target weight when `w=` is not as-declared, the bias when `b=` is not; a torch
    /// rule needs the weight's PyTorch fans (≥ 2 axes), as PyTorch's reset_parameters does.
    public func redraws(_ layer: Layer, blob k: Int) -> Bool {
        guard let t = layer.schemeTargets, k < layer.blobs.count else { return false }
        let fans = torchFans(t.fanShape).map { $0.fanIn > 0 } ?? false
        if k == t.weight {
            return scheme.weights != .asDeclared && (fans || !scheme.weights.rawValue.hasPrefix("torch"))
        }
        if k == t.bias { return scheme.biases != .asDeclared && (fans || scheme.biases != .torchDefault) }
        return false
    }

    /// For a layer whose blobs were given (an ONNX file's initializers, a binary net's blobs),
    /// run after they are copied in (`Net`'s `givenInitializer`): the blobs this scheme replaces
    /// (`redraws`: the Conv/Gemm weight and bias of `Layer.schemeTargets`) are drawn from the
    /// scheme's filler, the others keep the file's values — `w=as-declared` (for an ONNX file
    /// spelt `as-exported` too) keeps the weight, `b=as-declared` the bias. Draws come from the
    /// run's generator in layer order, weight before bias, as for declared fillers.
    public func redrawGiven(_ layer: Layer, _ rng: RandomSource) throws {
        guard let t = layer.schemeTargets else { return }
        let fs = fillers(for: layer)
        for k in [t.weight] + (t.bias.map { [$0] } ?? []) where redraws(layer, blob: k) {
            if k == t.weight && scheme.weights.isOrthogonal {
                try OrthogonalInit.fill(layer.blobs[k], fanShape: t.fanShape, rng: rng, layer: layer.param.name)
            } else {
                try fill(layer.blobs[k], with: fs[k], rng: rng, layer: layer.param.name)
            }
        }
    }

    /// Population variance of a blob's values (Double sums in one pass): what a given blob (an
    /// ONNX initializer as exported) holds, where a filler would give its formula's variance.
    public static func measuredVariance(_ blob: Blob) -> Double {
        let n = blob.count
        guard n > 0 else { return 0 }
        var s = 0.0, s2 = 0.0
        let p = blob.data
        for i in 0..<n { let d = Double(p[i]); s += d; s2 += d * d }
        let mean = s / Double(n)
        return max(0, s2 / Double(n) - mean * mean)
    }

    /// The net's initializer (`Net.Initializer`): fills a freshly set-up layer's blobs.
    public func initialize(_ layer: Layer, _ rng: RandomSource) throws {
        let orthogonal = scheme.weights.isOrthogonal ? layer.schemeTargets : nil
        for (k, (blob, filler)) in zip(layer.blobs, fillers(for: layer)).enumerated() {
            if let t = orthogonal, k == t.weight {
                try OrthogonalInit.fill(blob, fanShape: t.fanShape, rng: rng, layer: layer.param.name)
            } else {
                try fill(blob, with: filler, rng: rng, layer: layer.param.name)
            }
        }
    }
}
