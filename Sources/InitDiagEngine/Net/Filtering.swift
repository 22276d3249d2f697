import InitDiagCore
import InitDiagTrace
// Which layers a net keeps for a given state (Caffe net.cpp FilterNet / StateMeetsRule), and the
// automatic Split layers (Caffe util/insert_splits.cpp). Both work on NetParameter values, before
// any layer exists.

extension NetStateRule {
    /// A rule is met iff every condition it sets holds: phase equal, level within
    /// [min_level, max_level], every `stage` present in the state and no `not_stage` present.
    public func isMet(by state: NetState) -> Bool {
        if let p = phase, p != state.phase { return false }
        if let lo = minLevel, state.level < lo { return false }
        if let hi = maxLevel, state.level > hi { return false }
        for s in stage where !state.stage.contains(s) { return false }
        for s in notStage where state.stage.contains(s) { return false }
        return true
    }
}

extension NetParameter {
    /// The layers that take part in a net with this state. Without include rules a layer is kept
    /// unless an exclude rule is met; with include rules it is kept iff one of them is met.
    /// Giving both kinds is an error, as in Caffe.
    public func filtered(for state: NetState) throws -> NetParameter {
        var out = self
        out.layer = []
        for layer in self.layer {
            if !layer.include.isEmpty && !layer.exclude.isEmpty {
                throw InputError("\(locate(layer))layer '\(layer.name)': specify either include rules or exclude rules, not both")
            }
            var included = layer.include.isEmpty
            if included { included = !layer.exclude.contains { $0.isMet(by: state) } }
            else { included = layer.include.contains { $0.isMet(by: state) } }
            if included { out.layer.append(layer) }
        }
        return out
    }

    /// "file:line: " for a layer read from text, "" otherwise.
    func locate(_ layer: LayerParameter) -> String {
        guard !sourcePath.isEmpty else { return "" }
        let file = sourcePath.split(separator: "/").last.map(String.init) ?? sourcePath
        return layer.line > 0 ? "\(file):\(layer.line): " : "\(file): "
    }

    /// Caffe's InsertSplits: a top blob consumed by more than one bottom (a nonzero explicit
    /// loss_weight on it counts as one more consumer) gets a Split layer right after the layer
    /// that produced it; each consumer reads its own split top. Names follow Caffe exactly:
    /// layer `<blob>_<producer>_<topindex>_split`, tops `<blob>_<producer>_<topindex>_split_<k>`.
    public func withSplits() throws -> NetParameter {
        struct TopRef: Hashable { let layer: Int; let top: Int }
        var lastProducer: [String: TopRef] = [:]
        var source: [TopRef: TopRef] = [:]          // (layer, bottom) → producing top
        var consumers: [TopRef: Int] = [:]
        var lossWeight: [TopRef: Float] = [:]
        for (i, layer) in self.layer.enumerated() {
            for (j, name) in layer.bottom.enumerated() {
                guard let t = lastProducer[name] else {
                    throw InputError("\(locate(layer))unknown bottom blob '\(name)' (layer '\(layer.name)', bottom index \(j))")
                }
                source[TopRef(layer: i, top: j)] = t
                consumers[t, default: 0] += 1
            }
            for (j, name) in layer.top.enumerated() { lastProducer[name] = TopRef(layer: i, top: j) }
            for j in 0..<min(layer.lossWeight.count, layer.top.count) {
                let t = lastProducer[layer.top[j]]!
                lossWeight[t] = layer.lossWeight[j]
                if layer.lossWeight[j] != 0 { consumers[t, default: 0] += 1 }
            }
        }
        func blobName(_ producer: String, _ blob: String, _ topIndex: Int, _ k: Int) -> String {
            "\(blob)_\(producer)_\(topIndex)_split_\(k)"
        }
        var nextSplitIndex: [TopRef: Int] = [:]
        var out = self
        out.layer = []
        for (i, original) in self.layer.enumerated() {
            var layer = original
            for j in layer.bottom.indices {
                let t = source[TopRef(layer: i, top: j)]!
                if consumers[t, default: 0] > 1 {
                    let k = nextSplitIndex[t, default: 0]
                    nextSplitIndex[t] = k + 1
                    layer.bottom[j] = blobName(self.layer[t.layer].name, layer.bottom[j], t.top, k)
                }
            }
            var splits: [LayerParameter] = []
            for j in layer.top.indices {
                let t = TopRef(layer: i, top: j)
                let count = consumers[t, default: 0]
                guard count > 1 else { continue }
                let weight = lossWeight[t, default: 0]
                var split = LayerParameter(name: "\(layer.top[j])_\(layer.name)_\(j)_split", type: "Split")
                split.bottom = [layer.top[j]]
                split.top = (0..<count).map { blobName(layer.name, layer.top[j], j, $0) }
                split.line = layer.line
                if weight != 0 {
                    // The loss moves to the split's first top; the producer's own weight is cleared.
                    split.lossWeight = (0..<count).map { $0 == 0 ? weight : 0 }
                    layer.lossWeight = []
                    nextSplitIndex[t, default: 0] += 1
                }
                splits.append(split)
            }
            out.layer.append(layer)
            out.layer.append(contentsOf: splits)
        }
        return out
    }
}
