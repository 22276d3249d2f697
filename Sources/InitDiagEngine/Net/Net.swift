import InitDiagCore
import InitDiagTrace
/// Something that watches a net run: probes record statistics here. Observers only read.
public protocol NetObserver: AnyObject {
    func netDidForward(layer index: Int, net: Net)
    func netDidBackward(layer index: Int, net: Net)
}

/// A learnable blob as the solver sees it: the owner of its data (shared params appear once).
public struct NetParam {
    public let blob: Blob
    public let layerIndex: Int
    public let blobIndex: Int
    public let lrMult: Float
    public let decayMult: Float
    /// "conv1_1/0": layer name and blob index, for logs.
    public var displayName: String
}

/// A net is an ordered list of layers and the named blobs between them (Caffe net.cpp).
///
/// Built from a NetParameter for one state: layers are filtered by their include/exclude rules,
/// Split layers are inserted where a blob feeds several consumers, in-place tops share their
/// bottom's blob, and every layer is set up in order. Parameters are filled in that same order
/// by `initializer`, which is what makes the random draws line up with Caffe's.
public final class Net {
    public let name: String
    public let phase: Phase
    /// The resolved net after filtering and split insertion.
    public let parameter: NetParameter
    public private(set) var layers: [Layer] = []
    public var layerParams: [LayerParameter] { parameter.layer }
    public private(set) var blobs: [Blob] = []
    public private(set) var blobIndex: [String: Int] = [:]
    public private(set) var bottomIDs: [[Int]] = []
    public private(set) var topIDs: [[Int]] = []
    public private(set) var bottomVecs: [[Blob]] = []
    public private(set) var topVecs: [[Blob]] = []
    public private(set) var layerNeedsBackward: [Bool] = []
    public private(set) var bottomNeedsBackward: [[Bool]] = []
    /// Loss weight of each blob (by blob id); 0 for blobs that are not losses.
    public private(set) var blobLossWeights: [Float] = []
    /// Learnable parameters (owners only), in net order: what the solver updates.
    public private(set) var params: [NetParam] = []
    /// Blobs never consumed by a later layer (e.g. "loss", "accuracy").
    public private(set) var outputBlobIDs: [Int] = []
    /// Tops of Input layers: the caller writes their data.
    public private(set) var inputBlobIDs: [Int] = []
    public weak var observer: NetObserver?
    /// When set, forward and backward time every layer (seconds, last pass) — for `bench`.
    public var timesLayers = false
    public private(set) var forwardSeconds: [Double] = []
    public private(set) var backwardSeconds: [Double] = []

    /// Fills the blobs of a layer right after its setUp (its declared fillers, or a scheme's:
    /// `ParameterInitializer.initialize`), drawing from the run's generator.
    public typealias Initializer = (_ layer: Layer, _ rng: RandomSource) throws -> Void

    /// - Parameters:
    ///   - state: phase, level and stages; layers' rules are evaluated against it.
    ///   - initializer: fills a freshly set-up layer's blobs (declared fillers or a scheme).
    ///   - givenInitializer: runs after a layer's given blobs (a binary net's, an ONNX file's
    ///     initializers) are copied in: a scheme that replaces a layer's weight or bias redraws
    ///     that blob there (`ParameterInitializer.redrawGiven`); nil keeps every given blob.
    public init(_ param: NetParameter, state: NetState, context: LayerContext,
                memory: MemoryGuard = MemoryGuard(), initializer: Initializer,
                givenInitializer: Initializer? = nil) throws {
        var state = state
        if let s = param.state { state.level = s.level; state.stage = Array(Set(state.stage + s.stage)).sorted() }
        self.phase = state.phase
        self.name = param.name
        let resolved = try param.filtered(for: state).withSplits()
        self.parameter = resolved
        var ctx = context
        ctx.phase = state.phase
        try build(resolved, context: ctx, memory: memory, initializer: initializer, givenInitializer: givenInitializer)
    }

    private func where_(_ layer: LayerParameter) -> String { parameter.locate(layer) }

    /// Runs a layer's construction, set-up or filling; an InputError it throws (a shape CHECK,
    /// a bad stride, an unknown filler) gets the layer's "file:line: " in front, like the
    /// syntax errors have.
    private func located<T>(_ layer: LayerParameter, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as InputError {
            let prefix = where_(layer)
            if prefix.isEmpty || e.message.hasPrefix(prefix) { throw e }
            throw InputError(prefix + e.message)
        }
    }

    private func build(_ param: NetParameter, context: LayerContext, memory: MemoryGuard,
                       initializer: Initializer, givenInitializer: Initializer?) throws {
        var available = Set<String>()
        var estimatedBytes = 0
        var blobNeedsBackward: [Bool] = []
        var ownerOfSharedName: [String: (layer: Int, blob: Int)] = [:]

        for (li, lp) in param.layer.enumerated() {
            let type = try LayerFactory.type(named: lp.type, layer: lp, location: where_(lp))
            try Net.checkCounts(type, lp, location: where_(lp))
            if !lp.propagateDown.isEmpty && lp.propagateDown.count != lp.bottom.count {
                throw InputError("\(where_(lp))layer '\(lp.name)': propagate_down is given \(lp.propagateDown.count) times for \(lp.bottom.count) bottoms")
            }
            if !lp.lossWeight.isEmpty && lp.lossWeight.count != lp.top.count {
                throw InputError("\(where_(lp))layer '\(lp.name)': loss_weight is given \(lp.lossWeight.count) times for \(lp.top.count) tops")
            }
            let layer = try located(lp) { try type.init(param: lp, context: context) }
            var needBackward = false
            var bIDs: [Int] = [], bNeed: [Bool] = []
            for (j, name) in lp.bottom.enumerated() {
                guard available.contains(name), let id = blobIndex[name] else {
                    throw InputError("\(where_(lp))unknown bottom blob '\(name)' (layer '\(lp.name)', bottom index \(j))")
                }
                bIDs.append(id)
                needBackward = needBackward || blobNeedsBackward[id]
                bNeed.append(lp.propagateDown.isEmpty ? blobNeedsBackward[id] : lp.propagateDown[j])
                available.remove(name)
            }
            var tIDs: [Int] = []
            for (j, name) in lp.top.enumerated() {
                if j < lp.bottom.count && lp.bottom[j] == name {
                    tIDs.append(bIDs[j])                    // in place: same blob object
                } else if blobIndex[name] != nil {
                    throw InputError("\(where_(lp))top blob '\(name)' of layer '\(lp.name)' is produced by more than one layer")
                } else {
                    blobIndex[name] = blobs.count
                    tIDs.append(blobs.count)
                    blobs.append(Blob(name: name))
                    blobNeedsBackward.append(false)
                    blobLossWeights.append(0)
                }
                available.insert(name)
                if layer is InputLayer { inputBlobIDs.append(tIDs[j]) }
            }
            let bottomBlobs = bIDs.map { blobs[$0] }, topBlobs = tIDs.map { blobs[$0] }
            try located(lp) { try layer.setUp(bottom: bottomBlobs, top: topBlobs) }
            // Shapes are known now and nothing large is allocated yet: check before filling.
            let newTops = tIDs.enumerated().filter { j, id in !(j < bIDs.count && bIDs[j] == id) }.map { topBlobs[$0.offset].count }
            let added = MemoryGuard.bytes(forCounts: newTops + layer.blobs.map(\.count))
            estimatedBytes = estimatedBytes > Int.max - added ? Int.max : estimatedBytes + added
            try memory.check(estimatedBytes: estimatedBytes,
                             what: "\(where_(lp))net '\(param.name)' up to layer '\(lp.name)' (\(lp.type), top \(topBlobs.first?.shapeString ?? "-"))")

            // Loss weights: given per top, or 1 on top 0 of a loss layer.
            for j in tIDs.indices {
                let w: Float = j < lp.lossWeight.count ? lp.lossWeight[j]
                    : (lp.lossWeight.isEmpty && type.isLoss && j == 0 ? 1 : 0)
                blobLossWeights[tIDs[j]] = w
            }

            // Parameters: given blobs are used as they are, otherwise the initializer fills them.
            if lp.param.count > layer.blobs.count {
                throw InputError("\(where_(lp))layer '\(lp.name)': \(lp.param.count) param specs for \(layer.blobs.count) parameter blobs")
            }
            if !lp.blobs.isEmpty {
                try Net.copyGiven(lp, into: layer, location: where_(lp))
                if let redraw = givenInitializer { try located(lp) { try redraw(layer, context.rng) } }
            } else {
                try located(lp) { try initializer(layer, context.rng) }
            }
            // Caffe Net::AppendParam reads the layer's own layer_param(): BatchNorm adds its
            // lr_mult 0 specs there at setup when the prototxt gives none.
            let specs = layer.param.param
            for (pi, blob) in layer.blobs.enumerated() {
                var spec = pi < specs.count ? specs[pi] : ParamSpec()
                if type.hasStateBlobs && pi >= specs.count { spec.lrMult = 0; spec.decayMult = 0 }
                if type.hasStateBlobs && spec.lrMult != 0 {
                    throw InputError("\(where_(lp))layer '\(lp.name)' (\(lp.type)): its blobs are statistics, not learned; lr_mult must be 0")
                }
                needBackward = needBackward || (spec.lrMult != 0 && !type.hasStateBlobs)
                if let shared = spec.name, !shared.isEmpty, let owner = ownerOfSharedName[shared] {
                    let ownerBlob = layers[owner.layer].blobs[owner.blob]
                    let same = spec.shareMode == .PERMISSIVE ? ownerBlob.count == blob.count : ownerBlob.shape == blob.shape
                    if !same {
                        throw InputError("\(where_(lp))layer '\(lp.name)': shared parameter '\(shared)' has shape \(blob.shapeString) but its owner '\(layerParams[owner.layer].name)' has \(ownerBlob.shapeString)")
                    }
                    layer.blobs[pi] = ownerBlob
                    continue
                }
                if let shared = spec.name, !shared.isEmpty { ownerOfSharedName[shared] = (li, pi) }
                if !type.hasStateBlobs {
                    params.append(NetParam(blob: blob, layerIndex: li, blobIndex: pi, lrMult: spec.lrMult,
                                           decayMult: spec.decayMult, displayName: "\(lp.name)/\(pi)"))
                }
            }
            layers.append(layer)
            bottomIDs.append(bIDs); topIDs.append(tIDs)
            bottomVecs.append(bottomBlobs); topVecs.append(topBlobs)
            bottomNeedsBackward.append(bNeed)
            layerNeedsBackward.append(needBackward)
            if needBackward { for id in tIDs { blobNeedsBackward[id] = true } }
        }

        // Walk back from the losses: only layers under a loss run backward, and a layer whose
        // every top skips propagation skips its backward (Caffe Net::Init).
        var underLoss = Set<String>(), skipBackprop = Set<String>()
        for li in stride(from: layers.count - 1, through: 0, by: -1) {
            var contributes = false, skipDown = true
            for id in topIDs[li] {
                let n = blobs[id].name
                if blobLossWeights[id] != 0 || underLoss.contains(n) { contributes = true }
                if !skipBackprop.contains(n) { skipDown = false }
                if contributes && !skipDown { break }
            }
            if layerNeedsBackward[li] && skipDown {
                layerNeedsBackward[li] = false
                bottomNeedsBackward[li] = bottomNeedsBackward[li].map { _ in false }
            }
            if !contributes { layerNeedsBackward[li] = false }
            for (j, id) in bottomIDs[li].enumerated() {
                if contributes { underLoss.insert(blobs[id].name) } else { bottomNeedsBackward[li][j] = false }
                if !bottomNeedsBackward[li][j] { skipBackprop.insert(blobs[id].name) }
            }
        }
        if param.forceBackward {
            for li in layers.indices {
                layerNeedsBackward[li] = true
                for j in bottomIDs[li].indices {
                    bottomNeedsBackward[li][j] = bottomNeedsBackward[li][j] || layers[li].allowForceBackward(bottomIndex: j)
                }
            }
        }
        // Caffe aborts in the first backward of a layer without one (Threshold): refuse here.
        for li in layers.indices where layers[li] is ForwardOnlyLayer && bottomNeedsBackward[li].contains(true) {
            let lp = param.layer[li]
            throw InputError("\(where_(lp))layer '\(lp.name)' (\(lp.type)) has no backward (Caffe's is not implemented and aborts), but the net needs a gradient through its bottom '\(lp.bottom.first ?? "")'; set propagate_down: false on it or keep it off the path from a loss to learnable layers")
        }
        outputBlobIDs = blobs.indices.filter { available.contains(blobs[$0].name) }
    }

    private static func checkCounts(_ type: Layer.Type, _ lp: LayerParameter, location: String) throws {
        func fail(_ what: String) -> InputError {
            InputError("\(location)layer '\(lp.name)' (\(lp.type)) \(what)")
        }
        if let n = type.exactBottoms, lp.bottom.count != n { throw fail("takes \(n) bottom blob(s), got \(lp.bottom.count)") }
        if lp.bottom.count < type.minBottoms { throw fail("takes at least \(type.minBottoms) bottom blob(s), got \(lp.bottom.count)") }
        if let n = type.exactTops, lp.top.count != n { throw fail("produces \(n) top blob(s), got \(lp.top.count)") }
        if lp.top.count < type.minTops { throw fail("produces at least \(type.minTops) top blob(s), got \(lp.top.count)") }
        if let n = type.maxTops, lp.top.count > n { throw fail("produces at most \(n) top blob(s), got \(lp.top.count)") }
    }

    /// Blobs given in the prototxt (or a binary net) replace the fillers; counts and shapes must
    /// match what the layer expects (legacy 4-D shapes match on the trailing axes).
    static func copyGiven(_ lp: LayerParameter, into layer: Layer, location: String) throws {
        guard lp.blobs.count == layer.blobs.count else {
            throw InputError("\(location)layer '\(lp.name)': \(lp.blobs.count) blobs given, the layer has \(layer.blobs.count)")
        }
        for (i, proto) in lp.blobs.enumerated() {
            let blob = layer.blobs[i]
            let values = proto.values
            guard shapesMatch(proto.resolvedShape, blob.shape), values.count == blob.count else {
                throw InputError("\(location)layer '\(lp.name)': blob \(i) has shape \(proto.resolvedShape) with \(values.count) values, expected \(blob.shape)")
            }
            blob.setData(values)
        }
    }

    /// Caffe's ShapeEquals: a legacy (num, channels, height, width) shape matches an N-D shape
    /// when the N-D axes equal its trailing axes and the leading ones are 1.
    package static func shapesMatch(_ given: [Int], _ expected: [Int]) -> Bool {
        if given == expected { return true }
        guard given.count == 4, expected.count <= 4 else { return false }
        let pad = 4 - expected.count
        return given.prefix(pad).allSatisfy { $0 == 1 } && Array(given.suffix(expected.count)) == expected
    }

    // MARK: Running

    /// One forward pass; returns the total loss Σ weight·top over weighted tops.
    @discardableResult
    public func forward() throws -> Float { try forward(from: 0, through: layers.count - 1) }

    /// The forward of layers `start...end` only (Caffe's ForwardFromTo), e.g. to re-run the
    /// layers after a data layer on the batch it already produced; the loss of the weighted tops
    /// among them.
    @discardableResult
    public func forward(from start: Int, through end: Int) throws -> Float {
        var loss: Float = 0
        if timesLayers && forwardSeconds.count != layers.count { forwardSeconds = Array(repeating: 0, count: layers.count) }
        guard start <= end, start >= 0, end < layers.count else { return 0 }
        for li in start...end {
            let t0 = timesLayers ? monotonicSeconds() : 0
            try layers[li].reshape(bottom: bottomVecs[li], top: topVecs[li])
            layers[li].forward(bottom: bottomVecs[li], top: topVecs[li])
            if timesLayers { forwardSeconds[li] = monotonicSeconds() - t0 }
            // Layers that cannot throw keep the first bad input they met (a corrupt record, a
            // label outside [0, C)); the run stops here with it.
            if let data = layers[li] as? DataLayer, let error = data.lastError { throw error }
            if let data = layers[li] as? HDF5DataLayer, let error = data.lastError { throw error }
            if let reader = layers[li] as? LabelReadingLayer, let error = reader.labelError {
                throw error
            }
            for id in topIDs[li] where blobLossWeights[id] != 0 {
                let b = blobs[id]
                for i in 0..<b.count { loss += blobLossWeights[id] * b.data[i] }
            }
            observer?.netDidForward(layer: li, net: self)
        }
        return loss
    }

    /// One backward pass, from the losses down. Loss tops get their weight as diff first.
    public func backward() {
        for (id, w) in blobLossWeights.enumerated() where w != 0 {
            blobs[id].diff.update(repeating: w, count: blobs[id].count)
        }
        if timesLayers && backwardSeconds.count != layers.count { backwardSeconds = Array(repeating: 0, count: layers.count) }
        for li in stride(from: layers.count - 1, through: 0, by: -1) where layerNeedsBackward[li] {
            let t0 = timesLayers ? monotonicSeconds() : 0
            layers[li].backward(top: topVecs[li], propagateDown: bottomNeedsBackward[li], bottom: bottomVecs[li])
            if timesLayers { backwardSeconds[li] = monotonicSeconds() - t0 }
            observer?.netDidBackward(layer: li, net: self)
        }
    }

    /// Zeroes every learnable diff (param diffs accumulate during backward).
    public func clearParamDiffs() {
        for p in params { p.blob.zeroDiff() }
    }

    /// Whether backward computes the gradient of a layer's parameter blob (Caffe's
    /// param_propagate_down): lr_mult ≠ 0, or force_backward.
    public func paramPropagatesDown(layer li: Int, blob i: Int) -> Bool {
        if parameter.forceBackward { return true }
        let lp = layerParams[li]
        if type(of: layers[li]).hasStateBlobs { return false }
        return (i < lp.param.count ? lp.param[i].lrMult : 1) != 0
    }

    public func blob(named name: String) -> Blob? { blobIndex[name].map { blobs[$0] } }

    public func layerIndex(named name: String) -> Int? { layerParams.firstIndex { $0.name == name } }

    /// Copies every learnable and state blob from `other` by layer name (the test net sharing the
    /// train net's weights, as Caffe's ShareTrainedLayersWith does).
    public func shareWeights(from other: Net) {
        for (li, lp) in layerParams.enumerated() {
            guard let oi = other.layerIndex(named: lp.name) else { continue }
            let mine = layers[li], theirs = other.layers[oi]
            guard mine.blobs.count == theirs.blobs.count else { continue }
            for k in mine.blobs.indices where mine.blobs[k].shape == theirs.blobs[k].shape {
                mine.blobs[k] = theirs.blobs[k]
            }
        }
    }

    /// Bytes the net's blobs need for data and diff (what the memory guard checked).
    public var estimatedBlobBytes: Int { MemoryGuard.bytes(forCounts: blobs.map(\.count) + layers.flatMap { $0.blobs.map(\.count) }) }

    /// Total number of learnable values (owners only).
    public var parameterCount: Int { params.reduce(0) { $0 + $1.blob.count } }
}
