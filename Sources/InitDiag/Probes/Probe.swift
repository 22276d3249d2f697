/// Watches a net through `NetObserver` and writes one step of statistics (SPEC §3) into a flat
/// vector laid out by `TraceLayout`: the first top of every layer right after its forward (so a
/// convolution is seen before the in-place ReLU that follows it), the gradient each layer wrote
/// into its first bottom, every learnable blob's data and gradient, and the update ratio.
/// It only reads blobs.
public final class Probe: NetObserver {
    public let net: Net
    public let layout: TraceLayout
    /// The step being recorded; `seriesCount` values, NaN where nothing was measured.
    public private(set) var values: [Double]
    /// Whether this step is recorded (with `--record-every N`, other steps cost nothing).
    public var isRecording = true
    /// Where the first non-finite value of the step was seen (kind "forward"/"backward"/"param",
    /// layer, blob), in execution order.
    public private(set) var firstNonFinite: (phase: String, layer: String, blob: String)?
    private let statistics: BlobStatistics
    /// For each net param (in `net.params` order): the trace slots of its layer and blob.
    private let paramSlots: [TraceParamSlots?]

    public init(net: Net, layout: TraceLayout, threads: Int? = nil) {
        self.net = net
        self.layout = layout
        self.values = [Double](repeating: .nan, count: layout.seriesCount)
        self.statistics = BlobStatistics(threads: threads)
        self.paramSlots = net.params.map { p in
            let slots = layout.slots[p.layerIndex].params
            return p.blobIndex < slots.count ? slots[p.blobIndex] : nil
        }
    }

    /// The trace layout of a net: every layer with a top records forward statistics, layers that
    /// write a bottom gradient record backward statistics, learnable (not state) blobs record
    /// data, gradient and update ratio. `attributes(li)` supplies fillers, fans and predictions.
    public static func layout(for net: Net, attributes: (Int) -> TraceLayerLayout.Attributes) -> TraceLayout {
        TraceLayout(layers: net.layerParams.enumerated().map { li, lp in
            let a = attributes(li)
            let learnable = LayerFactory.implemented[lp.type]?.hasStateBlobs == true ? 0 : net.layers[li].blobs.count
            return TraceLayerLayout(name: lp.name, type: lp.type, index: li, bottoms: lp.bottom, tops: lp.top,
                                    fanIn: a.fanIn, fanOut: a.fanOut, weightFiller: a.weightFiller,
                                    biasFiller: a.biasFiller, extraAttributes: a.extra,
                                    recordsForward: !lp.top.isEmpty,
                                    recordsBackward: net.layerNeedsBackward[li] && (net.bottomNeedsBackward[li].first ?? false),
                                    paramCount: learnable)
        })
    }

    /// Starts a new step: clears the previous values.
    public func beginStep(recording: Bool) {
        isRecording = recording
        firstNonFinite = nil
        if recording { values.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) } }
    }

    public func netDidForward(layer li: Int, net: Net) {
        guard isRecording, let slot = layout.slots[li].forward, let top = net.topVecs[li].first else { return }
        let s = statistics.compute(top, forward: true)
        store(s, at: slot, forward: true)
        if s.nonfiniteCount > 0 { noteNonFinite("forward", li, top.name) }
    }

    public func netDidBackward(layer li: Int, net: Net) {
        guard isRecording, let slot = layout.slots[li].backward, let bottom = net.bottomVecs[li].first else { return }
        let s = statistics.compute(bottom, diff: true)
        store(s, at: slot, forward: false)
        if s.nonfiniteCount > 0 { noteNonFinite("backward", li, bottom.name) }
    }

    /// Parameter values before the update, after backward.
    public func recordParameterData() {
        guard isRecording else { return }
        for (k, p) in net.params.enumerated() {
            guard let slots = paramSlots[k] else { continue }
            let s = statistics.compute(p.blob)
            store(s, at: slots.data, forward: false)
            if s.nonfiniteCount > 0 { noteNonFinite("param", p.layerIndex, "param\(p.blobIndex) data") }
        }
    }

    /// The gradient of net param `k` as the update sees it (or the raw diff when there is no
    /// update, as in `probe`).
    public func recordGradient(param k: Int) {
        guard isRecording, k < paramSlots.count, let slots = paramSlots[k] else { return }
        let p = net.params[k]
        let s = statistics.compute(p.blob, diff: true)
        store(s, at: slots.grad, forward: false)
        if s.nonfiniteCount > 0 { noteNonFinite("param", p.layerIndex, "param\(p.blobIndex) diff") }
    }

    public func recordUpdateRatios(_ ratios: [Double]) {
        guard isRecording else { return }
        for (k, r) in ratios.enumerated() where k < paramSlots.count {
            if let slots = paramSlots[k] { values[slots.updateRatio] = r }
        }
    }

    private func store(_ s: BlobStats, at slot: Int, forward: Bool) {
        values.withUnsafeMutableBufferPointer { s.store(into: $0.baseAddress! + slot, forward: forward) }
    }

    private func noteNonFinite(_ phase: String, _ li: Int, _ blob: String) {
        if firstNonFinite == nil { firstNonFinite = (phase, net.layerParams[li].name, blob) }
    }
}

extension TraceLayerLayout {
    /// The descriptive attributes of a layer group.
    public struct Attributes {
        public var fanIn: Int?
        public var fanOut: Int?
        public var weightFiller: String?
        public var biasFiller: String?
        public var extra: [String: HDF5AttributeValue]
        public init(fanIn: Int? = nil, fanOut: Int? = nil, weightFiller: String? = nil, biasFiller: String? = nil,
                    extra: [String: HDF5AttributeValue] = [:]) {
            self.fanIn = fanIn; self.fanOut = fanOut; self.weightFiller = weightFiller
            self.biasFiller = biasFiller; self.extra = extra
        }
    }
}
