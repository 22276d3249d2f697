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
        forwardRecordedBy = Array(repeating: -1, count: n); forwardRecordsFor = forwardRecordedBy
        backwardRecordedBy = forwardRecordedBy; backwardRecordsFor = forwardRecordedBy
        guard fuseReLU else { return }
        for li in 0..<n {
            guard let relu = net.layers[li] as? ReLULayer, relu.negativeSlope == 0,
                  let blob = net.bottomVecs[li].first, net.topVecs[li].first === blob else { continue }
            var fused = false
            if li > 0, net.topVecs[li - 1].first === blob,
               layout.slots[li - 1].forward != nil, layout.slots[li].forward != nil {
                forwardRecordedBy[li - 1] = li; forwardRecordsFor[li] = li - 1; fused = true
            }
            if li + 1 < n, net.bottomVecs[li + 1].first === blob,
               layout.slots[li + 1].backward != nil, layout.slots[li].backward != nil,
               net.layerNeedsBackward[li], net.bottomNeedsBackward[li].first == true {
                backwardRecordedBy[li + 1] = li; backwardRecordsFor[li] = li + 1; fused = true
            }
            if fused { relu.statisticsPass = self }
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
            return l
        })
    }

    /// Starts a new step: clears the previous values.
    public func beginStep(recording: Bool) {
        isRecording = recording
        firstNonFinite = nil
        if recording { values.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) } }
    }

    public func netDidForward(layer li: Int, net: Net) {
        // Recorded inside the ReLU's pass (the next layer, or this one).
        guard forwardRecordedBy[li] < 0, forwardRecordsFor[li] < 0 else { return }
        guard isRecording, let slot = layout.slots[li].forward, let top = net.topVecs[li].first else { return }
        if let band = saturationBands[li], let saturationSlot = layout.slots[li].saturation {
            // The top of a sigmoid or tanh: the saturated share in the same pass.
            let s = statistics.computeForward(UnsafeBufferPointer(top.dataBuffer), shape: top.shape, band: band)
            store(s, at: slot, forward: true)
            values[saturationSlot] = s.saturatedFraction
            if s.nonfiniteCount > 0 { noteNonFinite("forward", li, top.name) }
            return
        }
        let s = statistics.compute(top, forward: true)
        store(s, at: slot, forward: true)
        if s.nonfiniteCount > 0 { noteNonFinite("forward", li, top.name) }
    }

    public func netDidBackward(layer li: Int, net: Net) {
        guard backwardRecordedBy[li] < 0, backwardRecordsFor[li] < 0 else { return }
        guard isRecording, let slot = layout.slots[li].backward, let bottom = net.bottomVecs[li].first else { return }
        let s = statistics.compute(bottom, diff: true)
        store(s, at: slot, forward: false)
        if s.nonfiniteCount > 0 { noteNonFinite("backward", li, bottom.name) }
    }

    public func reluForward(_ layer: ReLULayer, bottom: Blob, top: Blob) -> Bool {
        guard isRecording, let li = layerIndex(of: layer), forwardRecordsFor[li] >= 0,
              let slot = layout.slots[li].forward, let producerSlot = layout.slots[forwardRecordsFor[li]].forward
        else { return false }
        let (x, y) = statistics.computeReLUForward(UnsafeBufferPointer(bottom.dataBuffer), shape: bottom.shape,
                                                   output: top.data)
        let producer = forwardRecordsFor[li]
        store(x, at: producerSlot, forward: true)
        if x.nonfiniteCount > 0 { noteNonFinite("forward", producer, bottom.name) }
        store(y, at: slot, forward: true)
        if y.nonfiniteCount > 0 { noteNonFinite("forward", li, top.name) }
        return true
    }

    public func reluBackward(_ layer: ReLULayer, top: Blob, bottom: Blob) -> Bool {
        guard isRecording, let li = layerIndex(of: layer), backwardRecordsFor[li] >= 0,
              let slot = layout.slots[li].backward, let upperSlot = layout.slots[backwardRecordsFor[li]].backward
        else { return false }
        let (dy, dx) = statistics.computeReLUBackward(dy: top.diff, y: bottom.data, dx: bottom.diff, count: bottom.count)
        let upper = backwardRecordsFor[li]
        store(dy, at: upperSlot, forward: false)
        if dy.nonfiniteCount > 0 { noteNonFinite("backward", upper, top.name) }
        store(dx, at: slot, forward: false)
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
