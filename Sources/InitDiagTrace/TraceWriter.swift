import InitDiagCore

import Foundation

/// The run's state as written in the root attribute `status` (docs/trace-format.md).
public enum TraceStatus: String, Sendable, CaseIterable {
    case running, finished, diverged, interrupted
}

/// One layer of the trace: its attributes and which statistic series it records.
public struct TraceLayerLayout: Sendable {
    public var name: String
    public var type: String
    /// Order in the net.
    public var index: Int
    public var bottoms: [String]
    public var tops: [String]
    public var fanIn: Int?
    public var fanOut: Int?
    public var weightFiller: String?
    public var biasFiller: String?
    /// More attributes of the layer group (e.g. mean-field predictions), written as given.
    public var extraAttributes: [String: HDF5AttributeValue]
    /// `forward/<stat>` for every name of `TraceStatisticNames.forward`.
    public var recordsForward: Bool
    /// `backward/<stat>` for every name of `TraceStatisticNames.blob`.
    public var recordsBackward: Bool
    /// `forward/saturated_fraction` too (with `recordsForward`): the top of a bounded nonlinearity.
    public var recordsSaturation: Bool = false
    /// `forward/histogram` and `forward/q..` (with `recordsForward`), `backward/histogram` and
    /// `backward/q..` (with `recordsBackward`).
    public var recordsHistograms: Bool = false
    /// Learnable blobs: `param<i>/data/<stat>`, `param<i>/grad/<stat>`, `param<i>/update_ratio`.
    public var paramCount: Int

    public init(name: String, type: String, index: Int, bottoms: [String] = [], tops: [String] = [],
                fanIn: Int? = nil, fanOut: Int? = nil, weightFiller: String? = nil, biasFiller: String? = nil,
                extraAttributes: [String: HDF5AttributeValue] = [:],
                recordsForward: Bool = true, recordsBackward: Bool = false, paramCount: Int = 0) {
        self.name = name; self.type = type; self.index = index; self.bottoms = bottoms; self.tops = tops
        self.fanIn = fanIn; self.fanOut = fanOut; self.weightFiller = weightFiller; self.biasFiller = biasFiller
        self.extraAttributes = extraAttributes
        self.recordsForward = recordsForward; self.recordsBackward = recordsBackward; self.paramCount = paramCount
    }
}

/// Where one learnable blob's series start in the step vector.
public struct TraceParamSlots: Sendable, Equatable {
    /// First of `TraceStatisticNames.blob.count` values: the blob's data statistics.
    public let data: Int
    /// First of `TraceStatisticNames.blob.count` values: its gradient statistics.
    public let grad: Int
    /// ‖Δw‖₂ / ‖w‖₂.
    public let updateRatio: Int
}

/// Where one layer's series start in the step vector (nil: not recorded).
public struct TraceLayerSlots: Sendable, Equatable {
    /// First of `TraceStatisticNames.forward.count` values.
    public let forward: Int?
    /// First of `TraceStatisticNames.blob.count` values.
    public let backward: Int?
    public let params: [TraceParamSlots]
    /// `forward/saturated_fraction` (nil: not recorded).
    public var saturation: Int? = nil
    /// First of `TraceStatisticNames.quantiles.count` values: `forward/q..` (nil: not recorded).
    public var forwardQuantiles: Int? = nil
    public var backwardQuantiles: Int? = nil
    /// Index into `TraceLayout.histograms` of `forward/histogram`, `backward/histogram`.
    public var forwardHistogram: Int? = nil
    public var backwardHistogram: Int? = nil
}

/// One histogram dataset of the layout: its layer and its path in the layer group.
public struct TraceHistogramSlot: Sendable, Equatable {
    public let layer: Int
    /// "forward/histogram" or "backward/histogram".
    public let name: String
}

/// The declared shape of a trace: the layers and, derived once, the flat order of every series.
/// A step is a `[Double]` of `seriesCount` values in this order; `slots[i]` says where layer i's
/// values go (fill them with `BlobStats.store(into:forward:)`).
///
/// Order, per layer in `layers` order: forward stats (forwardNames order), forward/saturated_fraction
/// where recorded, forward quantiles where recorded, backward stats (names order), backward
/// quantiles, then for each param i: data stats, grad stats, update_ratio. Histograms are not in
/// the step vector: a step's histograms are `histograms.count × TraceHistogramBins.slotCount` Int64
/// counts, in `histograms` order (forward before backward, layers in order).
public struct TraceLayout: Sendable {
    public let layers: [TraceLayerLayout]
    public let slots: [TraceLayerSlots]
    public let histograms: [TraceHistogramSlot]
    /// Int64 counts per step: histograms.count × slotCount.
    public var histogramValueCount: Int { histograms.count * TraceHistogramBins.slotCount }
    /// Each series' dataset path relative to its layer group, e.g. "forward/mean", aligned with the
    /// step vector.
    public let seriesNames: [String]
    /// Index into `layers` of each series.
    public let seriesLayer: [Int]
    public var seriesCount: Int { seriesNames.count }
    private let indexByName: [String: Int]

    /// Position in `layers` (and `slots`) of the layer named `name`.
    public func layerIndex(named name: String) -> Int? { indexByName[name] }

    public init(layers: [TraceLayerLayout]) {
        self.layers = layers
        var slots: [TraceLayerSlots] = []
        var names: [String] = []
        var owner: [Int] = []
        var histograms: [TraceHistogramSlot] = []
        for (li, layer) in layers.enumerated() {
            func add(_ relative: [String]) -> Int {
                let start = names.count
                names.append(contentsOf: relative)
                owner.append(contentsOf: repeatElement(li, count: relative.count))
                return start
            }
            let forward = layer.recordsForward ? add(TraceStatisticNames.forward.map { "forward/" + $0 }) : nil
            let saturation = layer.recordsForward && layer.recordsSaturation
                ? add(["forward/" + TraceStatisticNames.saturatedFraction]) : nil
            let forwardQuantiles = layer.recordsForward && layer.recordsHistograms
                ? add(TraceStatisticNames.quantiles.map { "forward/" + $0 }) : nil
            let backward = layer.recordsBackward ? add(TraceStatisticNames.blob.map { "backward/" + $0 }) : nil
            let backwardQuantiles = layer.recordsBackward && layer.recordsHistograms
                ? add(TraceStatisticNames.quantiles.map { "backward/" + $0 }) : nil
            var forwardHistogram: Int? = nil, backwardHistogram: Int? = nil
            if forwardQuantiles != nil {
                forwardHistogram = histograms.count
                histograms.append(TraceHistogramSlot(layer: li, name: "forward/" + TraceStatisticNames.histogram))
            }
            if backwardQuantiles != nil {
                backwardHistogram = histograms.count
                histograms.append(TraceHistogramSlot(layer: li, name: "backward/" + TraceStatisticNames.histogram))
            }
            var params: [TraceParamSlots] = []
            for p in 0..<max(0, layer.paramCount) {
                let data = add(TraceStatisticNames.blob.map { "param\(p)/data/" + $0 })
                let grad = add(TraceStatisticNames.blob.map { "param\(p)/grad/" + $0 })
                let ratio = add(["param\(p)/update_ratio"])
                params.append(TraceParamSlots(data: data, grad: grad, updateRatio: ratio))
            }
            slots.append(TraceLayerSlots(forward: forward, backward: backward, params: params, saturation: saturation,
                                         forwardQuantiles: forwardQuantiles, backwardQuantiles: backwardQuantiles,
                                         forwardHistogram: forwardHistogram, backwardHistogram: backwardHistogram))
        }
        self.slots = slots
        self.histograms = histograms
        var indexByName: [String: Int] = [:]
        for (i, layer) in layers.enumerated() where indexByName[layer.name] == nil { indexByName[layer.name] = i }
        self.indexByName = indexByName
        self.seriesNames = names
        self.seriesLayer = owner
    }
}

/// What the root group says about the run (docs/trace-format.md).
public struct TraceRunInfo: Sendable {
    public var netName: String
    public var scheme: String
    public var seed: Int64
    public var batchSize: Int64
    /// The data SPEC (`cifar10:DIR`, `synthetic:1`, …).
    public var data: String
    /// The resolved net, as text.
    public var netPrototxt: String
    public var solverPrototxt: String
    public var created: Date
    public var initdiagVersion: String
    /// More root attributes, written as given.
    public var extraAttributes: [String: HDF5AttributeValue]

    public init(netName: String, scheme: String, seed: Int64, batchSize: Int64, data: String,
                netPrototxt: String, solverPrototxt: String, created: Date = Date(),
                initdiagVersion: String = InitDiagCore.initdiagVersion,
                extraAttributes: [String: HDF5AttributeValue] = [:]) {
        self.netName = netName; self.scheme = scheme; self.seed = seed; self.batchSize = batchSize
        self.data = data; self.netPrototxt = netPrototxt; self.solverPrototxt = solverPrototxt
        self.created = created; self.initdiagVersion = initdiagVersion; self.extraAttributes = extraAttributes
    }
}

/// Misuse of a TraceWriter by its caller (not a problem with user input).
public enum TraceWriterError: Error, CustomStringConvertible, Equatable {
    case closed(path: String)
    case wrongValueCount(expected: Int, got: Int)

    public var description: String {
        switch self {
        case .closed(let path): return "trace \(path) is already finished"
        case .wrongValueCount(let e, let g): return "trace step has \(g) values, the layout declares \(e)"
        }
    }
}

/// Writes one run's trace (docs/trace-format.md): declare the layout once, append one flat step vector per
/// recorded step, finish with the status and diagnosis.
///
/// Steps are buffered in memory and written in blocks: every dataset is extended once per flush,
/// at the latest every `flushEvery` steps (default 10), and on `flushNow`, `markInterrupted` and
/// `finish`. Every flush ends with `H5Fflush`, and no HDF5 call touches the file between flushes,
/// so the file on disk is at all times a complete HDF5 file with every flushed step: a killed run
/// leaves a readable trace.
///
/// Why not SWMR: HDF5 1.10's SWMR writing marks the superblock "open for SWMR write", and every
/// reader that does not itself ask for an SWMR read — h5dump 1.10 (it has no such option), h5py
/// without `swmr=True` — refuses to open such a file, also after the writer died ("may use
/// <h5clear file>"). It also forbids creating attributes (the final `diagnosis`) and needs the
/// latest file format, which HDF5 1.8 readers cannot read. Instead the writer uses the default
/// file format and opens the file without HDF5's POSIX lock, so h5dump/h5py can open the trace at
/// any time while the run holds it; what they see is the state of the last flush (a reader that
/// opens it in the middle of a flush may see an inconsistent file and should retry). Readers in
/// this package open it with `TraceReader`, which also reads SWMR files.
///
/// Names: layer names are escaped by `TraceNames.escape`; the original is in attribute `name`.
///
/// Thread safety: every public method takes a lock, so a signal-handling thread (e.g. a
/// DispatchSource for SIGINT) may call `flushNow()` or `markInterrupted()` while the training
/// thread appends.
public final class TraceWriter: @unchecked Sendable {
    public let path: String
    public let layout: TraceLayout
    public let flushEvery: Int

    private let lock = NSLock()
    private var file: HDF5File?
    private var series: [HDF5Dataset] = []
    /// The `histogram` datasets, in `layout.histograms` order.
    private var histogramSets: [HDF5Dataset] = []
    /// Bins given with the steps whose `bin_edges` attribute is not written yet / already written.
    private var pendingBins: [Int: TraceHistogramBins] = [:]
    private var binsWritten: [Bool] = []
    /// Buffered histogram rows: pendingHistograms[k * histogramValueCount + …].
    private var pendingHistograms: [Int64] = []
    private var iterationSet: HDF5Dataset
    private var lossSet: HDF5Dataset
    private var lrSet: HDF5Dataset
    private var wallTimeSet: HDF5Dataset
    private var gradNormSet: HDF5Dataset
    private var testIterationSet: HDF5Dataset
    private var testLossSet: HDF5Dataset
    private var testAccuracySet: HDF5Dataset

    /// Steps already on disk.
    private var written = 0
    private var testWritten = 0
    /// Buffered steps, row-major: pendingValues[k * seriesCount + s].
    private var pendingValues: [Double] = []
    private var pendingIterations: [Int64] = []
    private var pendingLoss: [Double] = []
    private var pendingLR: [Double] = []
    private var pendingWallTime: [Double] = []
    private var pendingGradNorm: [Double] = []
    private var pendingTestIterations: [Int64] = []
    private var pendingTestLoss: [Double] = []
    private var pendingTestAccuracy: [Double] = []
    private var column: [Double] = []
    private var abandoned = false
    public private(set) var status: TraceStatus = .running

    /// Creates (or truncates) the trace at `path` with every group, dataset and attribute of the
    /// layout, status "running". Throws InputError when the file cannot be created or two layers
    /// map to the same name.
    public init(path: String, run: TraceRunInfo, layout: TraceLayout, flushEvery: Int = 10) throws {
        self.path = path
        self.layout = layout
        self.flushEvery = max(1, flushEvery)
        var seen = Set<String>()
        for layer in layout.layers where !seen.insert(TraceNames.escape(layer.name)).inserted {
            throw InputError("trace \(path): two layers are named '\(layer.name)'")
        }
        // Said plainly, before HDF5 reports it in its own terms.
        let folder = (path as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        if !folder.isEmpty {
            if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) {
                throw InputError("cannot create trace file \(path): folder \(folder) does not exist")
            } else if !isDir.boolValue {
                throw InputError("cannot create trace file \(path): \(folder) is a file, not a folder")
            }
        }
        let file: HDF5File
        do {
            file = try HDF5File.create(path: path, fileLocking: false)
        } catch let error as HDF5Error {
            throw InputError("cannot create trace file \(path): \(error.reason.isEmpty ? "HDF5 error" : error.reason)")
        }
        self.file = file
        do {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            formatter.timeZone = TimeZone(identifier: "UTC")
            let root: [(String, HDF5AttributeValue)] = [
                ("format", .string("initdiag-trace")), ("format_version", .int(1)),
                ("initdiag_version", .string(run.initdiagVersion)),
                ("created_utc", .string(formatter.string(from: run.created))),
                ("net_name", .string(run.netName)), ("scheme", .string(run.scheme)),
                ("seed", .int(run.seed)), ("batch_size", .int(run.batchSize)), ("data", .string(run.data)),
                ("net_prototxt", .string(run.netPrototxt)), ("solver_prototxt", .string(run.solverPrototxt)),
                ("status", .string(TraceStatus.running.rawValue)),
            ]
            for (name, value) in run.extraAttributes where !root.contains(where: { $0.0 == name }) {
                try file.setAttribute(name, value)
            }
            for (name, value) in root { try file.setAttribute(name, value) }
            // Net order (h5py lists the /layers groups alphabetically).
            try file.setAttribute("layer_order", .strings(layout.layers.map(\.name)))

            let steps = try file.createGroup("steps")
            iterationSet = try steps.createExtendibleDataset("iteration", type: .int64)
            lossSet = try steps.createExtendibleDataset("loss", type: .float64)
            lrSet = try steps.createExtendibleDataset("lr", type: .float64)
            wallTimeSet = try steps.createExtendibleDataset("wall_time", type: .float64)
            gradNormSet = try steps.createExtendibleDataset("grad_norm", type: .float64)
            for (d, text) in [(iterationSet, "solver iteration of the recorded step (Caffe's numbering, from 0)"),
                              (lossSet, "training loss of the step (mean over iter_size passes), before the update"),
                              (lrSet, "learning rate the step's update used"),
                              (wallTimeSet, "seconds the step took (forward, backward, statistics and update)"),
                              (gradNormSet, "global l2 norm of every learnable parameter's gradient, before clipping, weight decay and the update")] {
                try d.setAttribute("description", .string(text))
            }
            let test = try file.createGroup("test")
            testIterationSet = try test.createExtendibleDataset("iteration", type: .int64)
            testLossSet = try test.createExtendibleDataset("loss", type: .float64)
            testAccuracySet = try test.createExtendibleDataset("accuracy", type: .float64)

            let layers = try file.createGroup("layers")
            var layerGroups: [HDF5Group] = []
            for layer in layout.layers {
                let group = try layers.createGroup(TraceNames.escape(layer.name))
                try group.setAttribute("name", .string(layer.name))
                try group.setAttribute("type", .string(layer.type))
                try group.setAttribute("index", .int(Int64(layer.index)))
                try group.setAttribute("bottoms", .string(layer.bottoms.joined(separator: ",")))
                try group.setAttribute("tops", .string(layer.tops.joined(separator: ",")))
                if let v = layer.fanIn { try group.setAttribute("fan_in", .int(Int64(v))) }
                if let v = layer.fanOut { try group.setAttribute("fan_out", .int(Int64(v))) }
                if let v = layer.weightFiller { try group.setAttribute("weight_filler", .string(v)) }
                if let v = layer.biasFiller { try group.setAttribute("bias_filler", .string(v)) }
                for (name, value) in layer.extraAttributes.sorted(by: { $0.key < $1.key }) {
                    try group.setAttribute(name, value)
                }
                layerGroups.append(group)
            }
            // Series datasets in step-vector order; their parent groups are created on first use.
            var subgroups: [String: HDF5Group] = [:]
            series.reserveCapacity(layout.seriesCount)
            for (s, relative) in layout.seriesNames.enumerated() {
                let li = layout.seriesLayer[s]
                let parts = relative.split(separator: "/").map(String.init)
                var parent = layerGroups[li]
                var key = "\(li)"
                for part in parts.dropLast() {
                    key += "/" + part
                    if let g = subgroups[key] {
                        parent = g
                    } else {
                        let g = try parent.createGroup(part)
                        subgroups[key] = g
                        parent = g
                    }
                }
                let dataset = try parent.createExtendibleDataset(parts.last ?? relative, type: .float64)
                try dataset.setAttribute("description", .string(TraceWriter.seriesDescription(relative, layerType: layout.layers[li].type)))
                series.append(dataset)
            }
            for h in layout.histograms {
                let parts = h.name.split(separator: "/").map(String.init)
                let key = "\(h.layer)/" + parts[0]
                let parent: HDF5Group
                if let g = subgroups[key] { parent = g } else {
                    parent = try layerGroups[h.layer].createGroup(parts[0])
                    subgroups[key] = parent
                }
                // Deflated: most columns of a row are 0 and the rows of uncounted steps all −1
                // (--histogram-every), which zlib level 1 shrinks to almost nothing.
                let d = try parent.createExtendibleMatrix(parts[1], columns: TraceHistogramBins.slotCount, type: .int64,
                                                          deflate: 1)
                try d.setAttribute("description", .string(TraceWriter.histogramDescription(h.name, layerType: layout.layers[h.layer].type)))
                histogramSets.append(d)
            }
            binsWritten = Array(repeating: false, count: layout.histograms.count)
            try file.flush()
        } catch let error as HDF5Error {
            throw InputError("cannot create trace file \(path): \(error.description)")
        }
        pendingValues.reserveCapacity(self.flushEvery * layout.seriesCount)
        column = [Double](repeating: 0, count: self.flushEvery)
    }

    /// The `description` attribute of a histogram dataset.
    public static func histogramDescription(_ relative: String, layerType: String) -> String {
        let of = String(seriesDescription(relative, layerType: layerType).dropFirst("histogram of ".count))
        return "counts per recorded step (one row each) of \(of): column 0 the values below bin_edges[0], columns 1-64 the bins [bin_edges[k-1], bin_edges[k]) (the last one closed), column 65 the values above bin_edges[64]; non-finite values are not counted. The bins are fixed at the run's first recorded step (docs/trace-format.md)"
    }

    /// The `description` attribute of a series dataset: what the statistic is, of which blob.
    public static func seriesDescription(_ relative: String, layerType: String) -> String {
        let parts = relative.split(separator: "/").map(String.init)
        let stat = parts.last ?? relative
        let statText: String
        switch stat {
        case "mean": statText = "mean over all elements"
        case "std": statText = "standard deviation over all elements"
        case "mean_abs": statText = "mean of |x| over all elements"
        case "l2": statText = "l2 norm (√ of the sum of squares)"
        case "min": statText = "smallest element"
        case "max": statText = "largest element"
        case "zero_fraction": statText = "share of elements exactly 0"
        case "nonfinite_count": statText = "number of NaN or infinite elements"
        case "between_sample_std": statText = "√ of the mean over elements of the variance across the batch's samples (how much it changes from one input to another)"
        case "dead_fraction": statText = "share of channels (units) ≤ 0 for every sample and position of the batch"
        case "input_dependence": statText = "between-sample variance over total variance (0: every input gives the same output)"
        case "update_ratio": statText = "‖Δw‖₂/‖w‖₂ of the step's update"
        case "histogram": statText = "histogram"
        case let q where TraceStatisticNames.quantiles.contains(q):
            statText = "\(q.dropFirst().drop { $0 == "0" })% quantile, interpolated within the bin of the layer's histogram that holds it (error at most that bin's width)"
        default: statText = stat
        }
        let blob: String
        switch parts.first ?? "" {
        case "forward":
            let weighted = ["Convolution", "InnerProduct", "Deconvolution"].contains(layerType)
            blob = weighted ? "the layer's top right after its forward: the pre-activation (before an in-place ReLU)"
                : layerType == "ReLU" ? "the layer's top: the post-activation" : "the layer's top after its forward"
        case "backward": blob = "the gradient the layer writes into its bottom"
        case let p where p.hasPrefix("param"):
            let which = parts.count > 2 ? parts[1] : ""
            blob = "learnable blob \(p.dropFirst(5))" + (which == "data" ? "'s values" : which == "grad" ? "'s gradient" : "")
        default: blob = parts.dropLast().joined(separator: "/")
        }
        return "\(statText) of \(blob)"
    }

    /// Recorded steps so far (written + buffered).
    public var stepCount: Int {
        lock.lock(); defer { lock.unlock() }
        return written + pendingIterations.count
    }

    /// Appends one recorded step: `values` in the layout's series order (`layout.seriesCount`
    /// values; NaN where a statistic is unavailable). Writes a block when `flushEvery` steps are
    /// buffered.
    /// `histograms`: the step's `layout.histogramValueCount` counts (nil: a step without
    /// histograms, rows of `TraceHistogramBins.notCounted`); `bins`: the
    /// bins of each histogram, written once as its `bin_edges` attribute (at the next flush) when
    /// first given.
    public func append(iteration: Int, loss: Double, learningRate: Double, values: UnsafeBufferPointer<Double>,
                       wallTime: Double = .nan, gradientNorm: Double = .nan,
                       histograms: UnsafeBufferPointer<Int64>? = nil, bins: [TraceHistogramBins?] = []) throws {
        lock.lock(); defer { lock.unlock() }
        guard file != nil else { throw TraceWriterError.closed(path: path) }
        guard values.count == layout.seriesCount else {
            throw TraceWriterError.wrongValueCount(expected: layout.seriesCount, got: values.count)
        }
        let hc = layout.histogramValueCount
        if hc > 0 {
            if let histograms, histograms.count == hc {
                pendingHistograms.append(contentsOf: histograms)
            } else {
                pendingHistograms.append(contentsOf: repeatElement(TraceHistogramBins.notCounted, count: hc))
            }
            for (k, b) in bins.enumerated() where k < binsWritten.count && !binsWritten[k] {
                if let b, pendingBins[k] == nil { pendingBins[k] = b }
            }
        }
        pendingValues.append(contentsOf: values)
        pendingIterations.append(Int64(iteration))
        pendingLoss.append(loss)
        pendingLR.append(learningRate)
        pendingWallTime.append(wallTime)
        pendingGradNorm.append(gradientNorm)
        if pendingIterations.count >= flushEvery { try flushLocked() }
    }

    public func append(iteration: Int, loss: Double, learningRate: Double, values: [Double],
                       wallTime: Double = .nan, gradientNorm: Double = .nan,
                       histograms: [Int64]? = nil, bins: [TraceHistogramBins?] = []) throws {
        try values.withUnsafeBufferPointer { v in
            if let histograms {
                try histograms.withUnsafeBufferPointer {
                    try append(iteration: iteration, loss: loss, learningRate: learningRate, values: v, wallTime: wallTime,
                               gradientNorm: gradientNorm, histograms: $0, bins: bins)
                }
            } else {
                try append(iteration: iteration, loss: loss, learningRate: learningRate, values: v, wallTime: wallTime,
                           gradientNorm: gradientNorm, bins: bins)
            }
        }
    }

    /// Appends one test phase's result (written with the next flush). `accuracy` NaN when the net
    /// has no accuracy output.
    public func appendTest(iteration: Int, loss: Double, accuracy: Double) throws {
        lock.lock(); defer { lock.unlock() }
        guard file != nil else { throw TraceWriterError.closed(path: path) }
        pendingTestIterations.append(Int64(iteration))
        pendingTestLoss.append(loss)
        pendingTestAccuracy.append(accuracy)
    }

    /// Writes the buffered steps now.
    public func flushNow() throws {
        lock.lock(); defer { lock.unlock() }
        guard file != nil else { return }
        try flushLocked()
    }

    /// Writes the buffered steps and sets `status` to "interrupted" on disk, keeping the file open
    /// (a later `finish` may still overwrite the status). Does nothing after `finish`.
    /// Adds attributes to a layer's group after the trace was created (values that are known only
    /// once the run has started, such as mean-field predictions from the first batch).
    public func setLayerAttributes(layer index: Int, _ attributes: [String: HDF5AttributeValue]) throws {
        lock.lock(); defer { lock.unlock() }
        guard let file, index >= 0, index < layout.layers.count else { throw TraceWriterError.closed(path: path) }
        let group = try file.openGroup("layers/" + TraceNames.escape(layout.layers[index].name))
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) { try group.setAttribute(name, value) }
    }

    public func markInterrupted() throws {
        lock.lock(); defer { lock.unlock() }
        guard let file else { return }
        try flushLocked()
        try file.setAttribute("status", .string(TraceStatus.interrupted.rawValue))
        status = .interrupted
        try file.flush()
    }

    /// Writes the buffered steps, the final `status` and, when given, `/diagnosis` with attributes
    /// `verdict` and `findings` (JSON text), then closes the file.
    public func finish(status: TraceStatus, verdict: String? = nil, findings: String? = nil) throws {
        lock.lock(); defer { lock.unlock() }
        guard let file else { throw TraceWriterError.closed(path: path) }
        try flushLocked()
        try file.setAttribute("status", .string(status.rawValue))
        if verdict != nil || findings != nil {
            let diagnosis = try file.hasChild("diagnosis") ? try file.openGroup("diagnosis") : try file.createGroup("diagnosis")
            if let verdict { try diagnosis.setAttribute("verdict", .string(verdict)) }
            if let findings { try diagnosis.setAttribute("findings", .string(findings)) }
        }
        self.status = status
        try closeLocked()
    }

    private func closeLocked() throws {
        series.removeAll()
        histogramSets.removeAll()
        let file = self.file
        self.file = nil
        // The dataset objects of /steps and /test are released with `self`; closing the file with
        // them still open would only defer HDF5's close (weak close), so release them first.
        iterationSet = placeholder(); lossSet = placeholder(); lrSet = placeholder()
        wallTimeSet = placeholder(); gradNormSet = placeholder()
        testIterationSet = placeholder(); testLossSet = placeholder(); testAccuracySet = placeholder()
        try file?.close()
    }

    /// A dataset object standing for "closed" (id -1, never used).
    private func placeholder() -> HDF5Dataset {
        let d = HDF5Dataset(id: -1, filePath: path, path: "")
        d.leakForTesting()
        return d
    }

    private func flushLocked() throws {
        guard let file else { return }
        for (h, bins) in pendingBins.sorted(by: { $0.key < $1.key }) {
            try histogramSets[h].setAttribute("bin_edges", .doubles(bins.edges))
            binsWritten[h] = true
        }
        pendingBins.removeAll()
        let k = pendingIterations.count
        if k > 0 {
            let stride = layout.seriesCount
            // Stat series first, /steps/iteration last: a reader that trims every series to the
            // length of /steps/iteration never sees a half-written step.
            try pendingValues.withUnsafeBufferPointer { rows in
                try column.withUnsafeMutableBufferPointer { col in
                    for s in 0..<stride {
                        for r in 0..<k { col[r] = rows[r * stride + s] }
                        try series[s].append(doubles: UnsafeBufferPointer(rebasing: col[0..<k]), at: written)
                    }
                }
            }
            let hc = layout.histogramValueCount
            if hc > 0 {
                try pendingHistograms.withUnsafeBufferPointer { rows in
                    var one = [Int64](repeating: 0, count: k * TraceHistogramBins.slotCount)
                    for (h, set) in histogramSets.enumerated() {
                        for r in 0..<k {
                            for c in 0..<TraceHistogramBins.slotCount {
                                one[r * TraceHistogramBins.slotCount + c] = rows[r * hc + h * TraceHistogramBins.slotCount + c]
                            }
                        }
                        try one.withUnsafeBufferPointer {
                            try set.appendRows(int64s: $0, columns: TraceHistogramBins.slotCount, at: written)
                        }
                    }
                }
                pendingHistograms.removeAll(keepingCapacity: true)
            }
            try pendingLoss.withUnsafeBufferPointer { try lossSet.append(doubles: $0, at: written) }
            try pendingLR.withUnsafeBufferPointer { try lrSet.append(doubles: $0, at: written) }
            try pendingWallTime.withUnsafeBufferPointer { try wallTimeSet.append(doubles: $0, at: written) }
            try pendingGradNorm.withUnsafeBufferPointer { try gradNormSet.append(doubles: $0, at: written) }
            try pendingIterations.withUnsafeBufferPointer { try iterationSet.append(int64s: $0, at: written) }
            written += k
            pendingValues.removeAll(keepingCapacity: true)
            pendingIterations.removeAll(keepingCapacity: true)
            pendingLoss.removeAll(keepingCapacity: true)
            pendingLR.removeAll(keepingCapacity: true)
            pendingWallTime.removeAll(keepingCapacity: true)
            pendingGradNorm.removeAll(keepingCapacity: true)
        }
        let t = pendingTestIterations.count
        if t > 0 {
            try pendingTestLoss.withUnsafeBufferPointer { try testLossSet.append(doubles: $0, at: testWritten) }
            try pendingTestAccuracy.withUnsafeBufferPointer { try testAccuracySet.append(doubles: $0, at: testWritten) }
            try pendingTestIterations.withUnsafeBufferPointer { try testIterationSet.append(int64s: $0, at: testWritten) }
            testWritten += t
            pendingTestIterations.removeAll(keepingCapacity: true)
            pendingTestLoss.removeAll(keepingCapacity: true)
            pendingTestAccuracy.removeAll(keepingCapacity: true)
        }
        try file.flush()
    }

    /// Leaves the file open and unclosed, with buffered steps unwritten — the on-disk state of a
    /// process killed now. Tests only.
    func abandonForTesting() {
        lock.lock(); defer { lock.unlock() }
        for d in series { d.leakForTesting() }
        for d in histogramSets { d.leakForTesting() }
        for d in [iterationSet, lossSet, lrSet, wallTimeSet, gradNormSet, testIterationSet, testLossSet, testAccuracySet] { d.leakForTesting() }
        file?.leakForTesting()
        abandoned = true
        file = nil
    }

    /// A writer dropped without `finish` writes its buffered steps and, if still "running", marks
    /// the run "interrupted" (it ended without saying how).
    deinit {
        guard !abandoned, let file else { return }
        try? flushLocked()
        if status == .running { try? file.setAttribute("status", .string(TraceStatus.interrupted.rawValue)) }
        try? closeLocked()
    }
}
