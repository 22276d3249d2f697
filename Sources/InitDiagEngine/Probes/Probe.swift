import InitDiagCore
import InitDiagTrace
import Foundation

/// Watches a net through `NetObserver` and writes one step of statistics (docs/trace-format.md) into a flat
/// vector laid out by `TraceLayout`: the first top of every layer right after its forward (so a
/// convolution is seen before the in-place ReLU that follows it), the gradient each layer wrote
/// into its first bottom, every learnable blob's data and gradient, and the update ratio.
/// It only reads blobs — except inside an in-place ReLU (negative_slope 0) that follows the
/// layer whose top it works on: there the probe runs the ReLU's pass itself (`ReLUStatisticsPass`)
/// and records both layers from one read of the blob (the convolution's output and the ReLU's
/// forward, the gradient written by the layer above and the ReLU's backward), writing exactly what
/// the ReLU would. In VGG-like nets that is three quarters of the recorded bytes.
public final class Probe: NetObserver, ReLUStatisticsPass {
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
    /// Per layer: the in-place ReLU that records this layer's forward (−1: none), and for a ReLU
    /// the layer whose forward it records (−1: none); the same for the backward pass (the ReLU
    /// records the gradient its upper neighbour wrote into the shared blob).
    private var forwardRecordedBy: [Int], forwardRecordsFor: [Int]
    private var backwardRecordedBy: [Int], backwardRecordsFor: [Int]
    /// Per layer: the saturation band of its nonlinearity when its top records
    /// `forward/saturated_fraction` (a sigmoid or tanh, by its declared mean-field rule).
    private let saturationBands: [(center: Double, halfWidth: Double)?]
    /// The step's histograms (`layout.histograms` order, `TraceHistogramBins.slotCount` each;
    /// zeros where nothing was recorded).
    public var histogramCounts: UnsafeBufferPointer<Int64> { UnsafeBufferPointer(start: counts, count: layout.histogramValueCount) }
    private let counts: UnsafeMutablePointer<Int64>
    /// Each histogram's bins: nil until its first recorded step chooses them (or `useHistogramBins`
    /// sets them from the trace a resumed run appends to).
    public private(set) var histogramBins: [TraceHistogramBins?]
    /// Per histogram: the exact output range of a bounded nonlinearity's top (forward only).
    private let histogramRanges: [(lo: Double, hi: Double)?]
    /// Per histogram: the histogram whose bins it takes (docs/trace-format.md "Histograms"): an
    /// in-place ReLU (negative_slope 0) bins its top like the layer that wrote the blob before it,
    /// and its gradient like the gradient the layer above wrote into the blob. The fused pass then
    /// counts each value once for both (`BlobStatistics.computeReLUForward`/`Backward`).
    private var histogramBinsFrom: [Int?]
    /// Whether recorded steps take histograms and quantiles (on by default; `bench --probes
    /// alternate` turns it off for its "without histograms" iterations).
    public var recordsHistograms = true

    public init(net: Net, layout: TraceLayout, threads: Int? = nil, fuseReLU: Bool = Probe.fusesReLUByDefault) {
        self.net = net
        self.layout = layout
        self.values = [Double](repeating: .nan, count: layout.seriesCount)
        self.statistics = BlobStatistics(threads: threads)
        self.paramSlots = net.params.map { p in
            let slots = layout.slots[p.layerIndex].params
            return p.blobIndex < slots.count ? slots[p.blobIndex] : nil
        }
        let n = net.layers.count
        saturationBands = (0..<n).map { li in layout.slots[li].saturation == nil ? nil : net.layers[li].meanField.saturationBand }
        counts = .allocate(capacity: Swift.max(1, layout.histogramValueCount))
        counts.initialize(repeating: 0, count: Swift.max(1, layout.histogramValueCount))
        histogramBins = Array(repeating: nil, count: layout.histograms.count)
        histogramRanges = layout.histograms.map { h in
            h.name.hasPrefix("forward/") && h.layer < n ? net.layers[h.layer].meanField.outputRange : nil
        }
        forwardRecordedBy = Array(repeating: -1, count: n); forwardRecordsFor = forwardRecordedBy
        backwardRecordedBy = forwardRecordedBy; backwardRecordsFor = forwardRecordedBy
        histogramBinsFrom = Array(repeating: nil, count: layout.histograms.count)
        // Every in-place ReLU with slope 0 shares its neighbours' histogram bins; with `fuseReLU`
        // it also records them inside its own pass.
        for li in 0..<n {
            guard let relu = net.layers[li] as? ReLULayer, relu.negativeSlope == 0,
                  let blob = net.bottomVecs[li].first, net.topVecs[li].first === blob else { continue }
            let below = li > 0 && net.topVecs[li - 1].first === blob
            let above = li + 1 < n && net.bottomVecs[li + 1].first === blob
            if below, let h = layout.slots[li].forwardHistogram, let from = layout.slots[li - 1].forwardHistogram {
                histogramBinsFrom[h] = from
            }
            if above, let h = layout.slots[li].backwardHistogram, let from = layout.slots[li + 1].backwardHistogram {
                histogramBinsFrom[h] = from
            }
            guard fuseReLU else { continue }
            var fused = false
            if below, layout.slots[li - 1].forward != nil, layout.slots[li].forward != nil {
                forwardRecordedBy[li - 1] = li; forwardRecordsFor[li] = li - 1; fused = true
            }
            if above, layout.slots[li + 1].backward != nil, layout.slots[li].backward != nil,
               net.layerNeedsBackward[li], net.bottomNeedsBackward[li].first == true {
                backwardRecordedBy[li + 1] = li; backwardRecordsFor[li] = li + 1; fused = true
            }
            if fused { relu.statisticsPass = self }
        }
    }

    deinit { counts.deallocate() }

    /// The bins of a trace this run appends to (`train --resume`): histogram k keeps
    /// `bins[k]` instead of choosing its own at its first recorded step.
    public func useHistogramBins(_ bins: [TraceHistogramBins?]) {
        for (k, b) in bins.enumerated() where k < histogramBins.count { if let b { histogramBins[k] = b } }
    }

    /// Where histogram `h` of this step goes, choosing its bins first when this is its first
    /// recorded step: a bounded top's output range, else the bins of the histogram it shares them
    /// with (`histogramBinsFrom`, recorded just before it), else [−M, M] from `maxAbs()` (the
    /// largest finite |value| of the blob now; docs/trace-format.md "Histograms"). That one extra
    /// read of the blob happens once per run.
    private func histogramTarget(_ h: Int?, maxAbs: () -> Double) -> HistogramTarget? {
        guard recordsHistograms, let h else { return nil }
        let bins: TraceHistogramBins
        if let b = histogramBins[h] {
            bins = b
        } else {
            if let r = histogramRanges[h], let b = TraceHistogramBins(lo: r.lo, hi: r.hi) { bins = b }
            else if let from = histogramBinsFrom[h], let b = histogramBins[from] { bins = b }
            else { bins = .symmetric(maxAbs: maxAbs()) }
            histogramBins[h] = bins
        }
        return HistogramTarget(bins: bins, counts: counts + h * TraceHistogramBins.slotCount)
    }

    /// The quantile series of a blob from its histogram (`TraceHistogramBins.quantile`).
    private func storeQuantiles(_ target: HistogramTarget?, _ s: BlobStats, at slot: Int?) {
        guard let target, let slot else { return }
        for (i, p) in TraceHistogramBins.quantileProbabilities.enumerated() {
            values[slot + i] = target.bins.quantile(p, counts: target.counts, min: s.min, max: s.max)
        }
    }

    /// Whether probes record in-place ReLUs inside their pass (INITDIAG_FUSED_RELU=0 turns it
    /// off, for comparisons; the recorded values agree to rounding either way).
    public static let fusesReLUByDefault = ProcessInfo.processInfo.environment["INITDIAG_FUSED_RELU"] != "0"

    /// The trace layout of a net: every layer with a top records forward statistics, layers that
    /// write a bottom gradient record backward statistics, learnable (not state) blobs record
    /// data, gradient and update ratio. `attributes(li)` supplies fillers, fans and predictions.
    public static func layout(for net: Net, attributes: (Int) -> TraceLayerLayout.Attributes) -> TraceLayout {
        TraceLayout(layers: net.layerParams.enumerated().map { li, lp in
            let a = attributes(li)
            let learnable = type(of: net.layers[li]).hasStateBlobs ? 0 : net.layers[li].blobs.count
            var l = TraceLayerLayout(name: lp.name, type: lp.type, index: li, bottoms: lp.bottom, tops: lp.top,
                                     fanIn: a.fanIn, fanOut: a.fanOut, weightFiller: a.weightFiller,
                                     biasFiller: a.biasFiller, extraAttributes: a.extra,
                                     recordsForward: !lp.top.isEmpty,
                                     recordsBackward: net.layerNeedsBackward[li] && (net.bottomNeedsBackward[li].first ?? false),
                                     paramCount: learnable)
            // A bounded nonlinearity's top: forward/saturated_fraction (decided by its mean-field rule).
            l.recordsSaturation = net.layers[li].meanField.saturationBand != nil
            l.recordsHistograms = true
            return l
        })
    }

    /// Starts a new step: clears the previous values.
    public func beginStep(recording: Bool) {
        isRecording = recording
        firstNonFinite = nil
        if recording {
            values.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) }
            counts.update(repeating: 0, count: layout.histogramValueCount)
        }
    }

    public func netDidForward(layer li: Int, net: Net) {
        // Recorded inside the ReLU's pass (the next layer, or this one).
        guard forwardRecordedBy[li] < 0, forwardRecordsFor[li] < 0 else { return }
        guard isRecording, let slot = layout.slots[li].forward, let top = net.topVecs[li].first else { return }
        let data = UnsafeBufferPointer(top.dataBuffer)
        let h = histogramTarget(layout.slots[li].forwardHistogram) { maxAbsFinite(data) }
        if let band = saturationBands[li], let saturationSlot = layout.slots[li].saturation {
            // The top of a sigmoid or tanh: the saturated share in the same pass.
            let s = statistics.computeForward(data, shape: top.shape, band: band, histogram: h)
            store(s, at: slot, forward: true)
            values[saturationSlot] = s.saturatedFraction
            storeQuantiles(h, s, at: layout.slots[li].forwardQuantiles)
            if s.nonfiniteCount > 0 { noteNonFinite("forward", li, top.name) }
            return
        }
        let s = statistics.computeForward(data, shape: top.shape, histogram: h)
        store(s, at: slot, forward: true)
        storeQuantiles(h, s, at: layout.slots[li].forwardQuantiles)
        if s.nonfiniteCount > 0 { noteNonFinite("forward", li, top.name) }
    }

    public func netDidBackward(layer li: Int, net: Net) {
        guard backwardRecordedBy[li] < 0, backwardRecordsFor[li] < 0 else { return }
        guard isRecording, let slot = layout.slots[li].backward, let bottom = net.bottomVecs[li].first else { return }
        let diff = UnsafeBufferPointer(bottom.diffBuffer)
        let h = histogramTarget(layout.slots[li].backwardHistogram) { maxAbsFinite(diff) }
        let s = statistics.compute(diff, histogram: h)
        store(s, at: slot, forward: false)
        storeQuantiles(h, s, at: layout.slots[li].backwardQuantiles)
        if s.nonfiniteCount > 0 { noteNonFinite("backward", li, bottom.name) }
    }

    public func reluForward(_ layer: ReLULayer, bottom: Blob, top: Blob) -> Bool {
        guard isRecording, let li = layerIndex(of: layer), forwardRecordsFor[li] >= 0,
              let slot = layout.slots[li].forward, let producerSlot = layout.slots[forwardRecordsFor[li]].forward
        else { return false }
        let producer = forwardRecordsFor[li]
        let data = UnsafeBufferPointer(bottom.dataBuffer)
        // Both histograms or neither (the pass takes both).
        var hs: (x: HistogramTarget, y: HistogramTarget)? = nil
        if layout.slots[producer].forwardHistogram != nil, layout.slots[li].forwardHistogram != nil,
           let hx = histogramTarget(layout.slots[producer].forwardHistogram, maxAbs: { maxAbsFinite(data) }),
           let hy = histogramTarget(layout.slots[li].forwardHistogram, maxAbs: { maxAbsFinite(data) { caffeReLU($0) } }) {
            hs = (hx, hy)
        }
        let (x, y) = statistics.computeReLUForward(data, shape: bottom.shape, output: top.data, histograms: hs)
        store(x, at: producerSlot, forward: true)
        storeQuantiles(hs?.x, x, at: layout.slots[producer].forwardQuantiles)
        if x.nonfiniteCount > 0 { noteNonFinite("forward", producer, bottom.name) }
        store(y, at: slot, forward: true)
        storeQuantiles(hs?.y, y, at: layout.slots[li].forwardQuantiles)
        if y.nonfiniteCount > 0 { noteNonFinite("forward", li, top.name) }
        return true
    }

    public func reluBackward(_ layer: ReLULayer, top: Blob, bottom: Blob) -> Bool {
        guard isRecording, let li = layerIndex(of: layer), backwardRecordsFor[li] >= 0,
              let slot = layout.slots[li].backward, let upperSlot = layout.slots[backwardRecordsFor[li]].backward
        else { return false }
        let upper = backwardRecordsFor[li]
        let g = UnsafeBufferPointer(start: UnsafePointer(top.diff), count: bottom.count)
        let mask = UnsafePointer(bottom.data)
        var hs: (dy: HistogramTarget, dx: HistogramTarget)? = nil
        if layout.slots[upper].backwardHistogram != nil, layout.slots[li].backwardHistogram != nil,
           let ha = histogramTarget(layout.slots[upper].backwardHistogram, maxAbs: { maxAbsFinite(g) }),
           let hb = histogramTarget(layout.slots[li].backwardHistogram, maxAbs: {
               var m = 0.0
               for i in 0..<g.count where mask[i] > 0 && g[i].isFinite { m = Swift.max(m, Double(Swift.abs(g[i]))) }
               return m
           }) {
            hs = (ha, hb)
        }
        let (dy, dx) = statistics.computeReLUBackward(dy: top.diff, y: bottom.data, dx: bottom.diff, count: bottom.count,
                                                      histograms: hs)
        store(dy, at: upperSlot, forward: false)
        storeQuantiles(hs?.dy, dy, at: layout.slots[upper].backwardQuantiles)
        if dy.nonfiniteCount > 0 { noteNonFinite("backward", upper, top.name) }
        store(dx, at: slot, forward: false)
        storeQuantiles(hs?.dx, dx, at: layout.slots[li].backwardQuantiles)
        if dx.nonfiniteCount > 0 { noteNonFinite("backward", li, bottom.name) }
        return true
    }

    private func layerIndex(of layer: ReLULayer) -> Int? {
        // Few ReLUs record for others; the scan is over layer references only.
        net.layers.firstIndex { $0 === layer }
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

/// The largest finite |f(x)| of a buffer (0 when none): what a histogram's range is chosen from.
private func maxAbsFinite(_ x: UnsafeBufferPointer<Float>, _ f: (Float) -> Float = { $0 }) -> Double {
    var m: Float = 0
    for v in x {
        let w = Swift.abs(f(v))
        if w.isFinite, w > m { m = w }
    }
    return Double(m)
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
