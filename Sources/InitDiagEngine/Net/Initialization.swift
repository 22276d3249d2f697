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
    public func labels(for layer: Layer) -> [String] {
        let declared = layer.declaredFillers
        let fs = fillers(for: layer)
        var out = zip(layer.blobs, fs).map { fillerDescription($1, shape: $0.shape) }
        guard let t = layer.schemeTargets, t.weight < declared.count else { return out }
        out[t.weight] = scheme.weightFillerLabel(declared: declared[t.weight], weightShape: t.fanShape)
        if let b = t.bias, b < declared.count {
            out[b] = scheme.biasFillerLabel(declared: declared[b], weightShape: t.fanShape, biasShape: layer.blobs[b].shape)
        }
        return out
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
