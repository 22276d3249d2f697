import InitDiagCore
import InitDiagTrace
/// Which filler each parameter blob of a layer gets, as Caffe declares it (SEMANTICS §3
/// "Defaults"): Convolution / InnerProduct fill the weight then the bias (if bias_term); an
/// omitted filler is constant 0. Scale's γ defaults to constant 1, its β to the bias_filler
/// (constant 0). Bias fills its one blob. BatchNorm's statistics start at 0 (no filler).
public func declaredFillers(for layer: LayerParameter, blobCount: Int) -> [FillerParameter] {
    let zero = FillerParameter(type: "constant")
    var one = FillerParameter(type: "constant")
    one.value = 1
    switch layer.type {
    case "Convolution":
        let p = layer.convolutionParam ?? ConvolutionParameter()
        return Array([p.weightFiller ?? zero, p.biasFiller ?? zero].prefix(blobCount))
    case "InnerProduct":
        let p = layer.innerProductParam ?? InnerProductParameter()
        return Array([p.weightFiller ?? zero, p.biasFiller ?? zero].prefix(blobCount))
    case "Scale":
        let p = layer.scaleParam ?? ScaleParameter()
        // With two bottoms γ comes from bottom[1]; the only blob left is β.
        if layer.bottom.count > 1 { return blobCount > 0 ? [p.biasFiller ?? zero] : [] }
        return Array([p.filler ?? one, p.biasFiller ?? zero].prefix(blobCount))
    case "Bias":
        return blobCount > 0 ? [layer.biasParam?.filler ?? zero] : []
    case "TorchBatchNorm":
        // γ 1, β 0, running mean 0, running variance 1 (PyTorch's BatchNorm reset_parameters).
        return Array([one, zero, zero, one].prefix(blobCount))
    default:
        return []
    }
}

/// Fills every new layer's parameters in setup order from the run's generator: the declared
/// fillers, with the weight and bias fillers of Convolution and InnerProduct layers replaced by
/// the scheme's where it says so. This order of draws is Caffe's (layer by layer, weight then bias).
public struct ParameterInitializer: Sendable {
    public let scheme: Scheme

    public init(scheme: Scheme) { self.scheme = scheme }

    /// The fillers used for a layer's blobs (declared ones, or the scheme's).
    public func fillers(for layer: LayerParameter, blobs: [Blob]) -> [FillerParameter] {
        var fs = declaredFillers(for: layer, blobCount: blobs.count)
        guard layer.type == "Convolution" || layer.type == "InnerProduct", !blobs.isEmpty else { return fs }
        let declaredW: FillerParameter? = layer.type == "Convolution" ? layer.convolutionParam?.weightFiller : layer.innerProductParam?.weightFiller
        let declaredB: FillerParameter? = layer.type == "Convolution" ? layer.convolutionParam?.biasFiller : layer.innerProductParam?.biasFiller
        // PyTorch's schemes take fans from the (out, in) layout; a transposed InnerProduct stores
        // its weight as (in, out).
        var weightShape = blobs[0].shape
        if layer.type == "InnerProduct", layer.innerProductParam?.transpose == true { weightShape.reverse() }
        fs[0] = scheme.weightFiller(declared: declaredW, weightShape: weightShape)
        if blobs.count > 1 {
            fs[1] = scheme.biasFiller(declared: declaredB, weightShape: weightShape, biasShape: blobs[1].shape)
        }
        return fs
    }

    /// Text for reports and traces: which scheme gave each blob its filler, and the filler, e.g.
    /// "as-declared xavier U(±1.732)", "torch-default U(±0.1925)".
    public func labels(for layer: LayerParameter, blobs: [Blob]) -> [String] {
        let fs = fillers(for: layer, blobs: blobs)
        var out = zip(blobs, fs).map { fillerDescription($1, shape: $0.shape) }
        guard layer.type == "Convolution" || layer.type == "InnerProduct", !blobs.isEmpty else { return out }
        let p = layer.type == "Convolution"
            ? (layer.convolutionParam?.weightFiller, layer.convolutionParam?.biasFiller)
            : (layer.innerProductParam?.weightFiller, layer.innerProductParam?.biasFiller)
        var weightShape = blobs[0].shape
        if layer.type == "InnerProduct", layer.innerProductParam?.transpose == true { weightShape.reverse() }
        out[0] = scheme.weightFillerLabel(declared: p.0, weightShape: weightShape)
        if blobs.count > 1 {
            out[1] = scheme.biasFillerLabel(declared: p.1, weightShape: weightShape, biasShape: blobs[1].shape)
        }
        return out
    }

    public func initialize(_ layer: LayerParameter, _ blobs: [Blob], _ rng: RandomSource) throws {
        for (blob, filler) in zip(blobs, fillers(for: layer, blobs: blobs)) {
            try fill(blob, with: filler, rng: rng, layer: layer.name)
        }
    }
}
