import InitDiagCore
import InitDiagTrace
/// Net rewrites a sweep applies before building (docs/schemes.md `bn=on`).
extension NetParameter {
    /// Inserts BatchNorm followed by Scale (bias_term: true) after every Convolution, both in place
    /// on the convolution's top, with Caffe semantics (use_global_stats follows the phase). The
    /// convolution keeps its own bias. Names: `<conv>_bn`, `<conv>_scale`; a name already taken
    /// gets a numeric suffix.
    public func withBatchNormAfterConvolutions() -> NetParameter {
        var out = self
        out.layer = []
        var taken = Set(layer.map(\.name))
        func fresh(_ base: String) -> String {
            var name = base, k = 2
            while taken.contains(name) { name = "\(base)\(k)"; k += 1 }
            taken.insert(name)
            return name
        }
        for l in layer {
            out.layer.append(l)
            guard l.type == "Convolution", let top = l.top.first else { continue }
            var bn = LayerParameter(name: fresh("\(l.name)_bn"), type: "BatchNorm")
            bn.bottom = [top]; bn.top = [top]
            bn.include = l.include; bn.exclude = l.exclude; bn.line = l.line
            bn.batchNormParam = BatchNormParameter()
            var scale = LayerParameter(name: fresh("\(l.name)_scale"), type: "Scale")
            scale.bottom = [top]; scale.top = [top]
            scale.include = l.include; scale.exclude = l.exclude; scale.line = l.line
            var sp = ScaleParameter()
            sp.biasTerm = true
            scale.scaleParam = sp
            out.layer.append(bn)
            out.layer.append(scale)
        }
        return out
    }
}
