import InitDiagCore
/// The recorded training steps of a trace.
public struct TraceSteps: Sendable, Equatable {
    public var iteration: [Int64]
    public var loss: [Double]
    public var lr: [Double]
}

/// The test-phase series of a trace (empty when the run had no test phase).
public struct TraceTestSeries: Sendable, Equatable {
    public var iteration: [Int64]
    public var loss: [Double]
    public var accuracy: [Double]
}

/// One layer group of a trace.
public struct TraceLayerInfo: Sendable {
    /// The layer's name as written in the prototxt (attribute `name`, else the unescaped link).
    public let name: String
    /// The HDF5 link name under /layers (escaped, `TraceNames`).
    public let groupName: String
    public let type: String
    public let index: Int
    public let bottoms: [String]
    public let tops: [String]
    /// Every attribute of the group, including the ones above and extras.
    public let attributes: [String: HDF5AttributeValue]
    /// Every series of the layer as a path relative to its group ("forward/mean",
    /// "param0/update_ratio", …), sorted; the 2-D histograms are not among them.
    public let seriesNames: [String]
    /// The histogram datasets ("forward/histogram", "backward/histogram"), sorted.
    public var histogramNames: [String] = []
}

/// One histogram of a trace: its bins (from `bin_edges`; nil when no step has been recorded
/// yet) and the counts, `TraceHistogramBins.slotCount` per recorded step, row-major.
public struct TraceHistogramSeries: Sendable, Equatable {
    public var bins: TraceHistogramBins?
    public var counts: [Int64]
    public var steps: Int { counts.count / TraceHistogramBins.slotCount }
    public init(bins: TraceHistogramBins?, counts: [Int64]) { self.bins = bins; self.counts = counts }
    /// The counts of step `k`.
    public func row(_ k: Int) -> ArraySlice<Int64> {
        counts[(k * TraceHistogramBins.slotCount)..<((k + 1) * TraceHistogramBins.slotCount)]
    }
    /// Whether step `k` counted its histogram (`--histogram-every`; other rows hold −1).
    public func isCounted(_ k: Int) -> Bool {
        k < steps && counts[k * TraceHistogramBins.slotCount] != TraceHistogramBins.notCounted
    }
    /// The steps that counted their histogram, in order.
    public var countedSteps: [Int] { (0..<steps).filter(isCounted) }
}

/// Reads a trace (docs/trace-format.md), also one that is still being written (see TraceWriter) or was
/// written by an SWMR writer. Statistic series are read on demand; the step count is the one of
/// the moment of opening (open again to see later flushes).
///
/// Every series is trimmed to the length of /steps/iteration, which the writer extends last in
/// each flush; a series shorter than that (a reader that caught a flush half-way) is returned as
/// it is.
public final class TraceReader: @unchecked Sendable {
    public let path: String
    /// The root attributes.
    public let attributes: [String: HDF5AttributeValue]
    /// Layers ordered by `index`.
    public let layers: [TraceLayerInfo]
    /// Recorded steps (length of /steps/iteration when the file was opened).
    public let stepCount: Int
    /// `/diagnosis` attributes, nil when the run has not written them.
    public let verdict: String?
    public let findings: String?

    private let file: HDF5File

    /// Opens `path` read-only. Throws InputError naming the file when it is not an HDF5 file, is
    /// damaged, or is not an initdiag trace.
    public init(path: String) throws {
        self.path = path
        do {
            // Without taking the lock: read-only access needs none, and the lock flag must match the
            // TraceWriter's when this process is also writing the trace (HDF5 refuses a mismatch).
            file = try HDF5File.open(path: path, readOnly: true, fileLocking: false)
        } catch let error as HDF5Error {
            throw InputError("\(path): not a readable HDF5 file (\(error.reason.isEmpty ? "open failed" : error.reason))")
        }
        do {
            var attrs: [String: HDF5AttributeValue] = [:]
            for name in try file.attributeNames() { attrs[name] = try file.attribute(name) }
            guard attrs["format"]?.stringValue == "initdiag-trace" else {
                throw InputError("\(path): not an initdiag trace (root attribute format is not \"initdiag-trace\")")
            }
            attributes = attrs
            stepCount = try file.hasChild("steps") && file.openGroup("steps").hasChild("iteration")
                ? (try file.openDataset("steps/iteration").shape().first ?? 0) : 0

            var infos: [TraceLayerInfo] = []
            if try file.hasChild("layers") {
                let layersGroup = try file.openGroup("layers")
                for link in try layersGroup.childNames() where try layersGroup.childKind(link) == .group {
                    let group = try layersGroup.openGroup(link)
                    var layerAttrs: [String: HDF5AttributeValue] = [:]
                    for name in try group.attributeNames() { layerAttrs[name] = try group.attribute(name) }
                    func list(_ s: String?) -> [String] {
                        guard let s, !s.isEmpty else { return [] }
                        return s.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                    }
                    let all = try TraceReader.datasets(in: group, prefix: "").sorted()
                    let isHistogram = { (n: String) in n.hasSuffix("/" + TraceStatisticNames.histogram) }
                    var info = TraceLayerInfo(
                        name: layerAttrs["name"]?.stringValue ?? TraceNames.unescape(link),
                        groupName: link,
                        type: layerAttrs["type"]?.stringValue ?? "",
                        index: Int(layerAttrs["index"]?.intValue ?? Int64(infos.count)),
                        bottoms: list(layerAttrs["bottoms"]?.stringValue),
                        tops: list(layerAttrs["tops"]?.stringValue),
                        attributes: layerAttrs,
                        seriesNames: all.filter { !isHistogram($0) })
                    info.histogramNames = all.filter(isHistogram)
                    infos.append(info)
                }
            }
            layers = infos.sorted { ($0.index, $0.groupName) < ($1.index, $1.groupName) }
            if try file.hasChild("diagnosis") {
                let d = try file.openGroup("diagnosis")
                verdict = try d.attribute("verdict")?.stringValue
                findings = try d.attribute("findings")?.stringValue
            } else {
                verdict = nil
                findings = nil
            }
        } catch let error as HDF5Error {
            throw InputError("\(path): damaged trace (\(error.description))")
        }
    }

    private static func datasets(in group: HDF5Group, prefix: String) throws -> [String] {
        var out: [String] = []
        for child in try group.childNames() {
            switch try group.childKind(child) {
            case .dataset: out.append(prefix + child)
            case .group: out += try datasets(in: group.openGroup(child), prefix: prefix + child + "/")
            case .other: break
            }
        }
        return out
    }

    /// The root attribute `status` ("running", "finished", "diverged", "interrupted").
    public var status: String? { attributes["status"]?.stringValue }

    public func layer(named name: String) -> TraceLayerInfo? { layers.first { $0.name == name } }

    private func readDoubles(_ relative: String) throws -> [Double] {
        do {
            return Array(try file.openDataset(relative).readDoubles().values.prefix(stepCount))
        } catch let error as HDF5Error {
            throw InputError("\(path): cannot read \(relative) (\(error.reason.isEmpty ? "missing or damaged" : error.reason))")
        }
    }

    public func steps() throws -> TraceSteps {
        do {
            let iteration = Array(try file.openDataset("steps/iteration").readInt64s().values.prefix(stepCount))
            return TraceSteps(iteration: iteration, loss: try readDoubles("steps/loss"), lr: try readDoubles("steps/lr"))
        } catch let error as HDF5Error {
            throw InputError("\(path): cannot read /steps (\(error.reason))")
        }
    }

    /// `/steps/<name>` (e.g. `wall_time`, `grad_norm`), trimmed to the recorded steps; nil for a
    /// trace written before it existed.
    public func stepSeries(_ name: String) throws -> [Double]? {
        guard (try? file.openGroup("steps").hasChild(name)) == true else { return nil }
        return try readDoubles("steps/" + name)
    }

    public func testSeries() throws -> TraceTestSeries {
        guard (try? file.hasChild("test")) ?? false else {
            return TraceTestSeries(iteration: [], loss: [], accuracy: [])
        }
        do {
            let iteration = try file.openDataset("test/iteration").readInt64s().values
            let n = iteration.count
            let loss = Array(try file.openDataset("test/loss").readDoubles().values.prefix(n))
            let accuracy = Array(try file.openDataset("test/accuracy").readDoubles().values.prefix(n))
            return TraceTestSeries(iteration: iteration, loss: loss, accuracy: accuracy)
        } catch let error as HDF5Error {
            throw InputError("\(path): cannot read /test (\(error.reason))")
        }
    }

    /// Whether layer `layer` (its prototxt name) records `relative` ("forward/mean", …).
    public func hasSeries(layer: String, _ relative: String) -> Bool {
        self.layer(named: layer)?.seriesNames.contains(relative) ?? false
    }

    /// The histogram `relative` ("forward/histogram") of layer `layer`, trimmed to the recorded
    /// steps; nil when the layer has none.
    public func histogram(layer: String, _ relative: String) throws -> TraceHistogramSeries? {
        guard let info = self.layer(named: layer), info.histogramNames.contains(relative) else { return nil }
        let path = "layers/\(info.groupName)/\(relative)"
        do {
            let d = try file.openDataset(path)
            let read = try d.readInt64s()
            guard read.shape.count == 2, read.shape[1] == TraceHistogramBins.slotCount else {
                throw InputError("\(self.path): \(path) is not a steps × \(TraceHistogramBins.slotCount) histogram (shape \(read.shape))")
            }
            let rows = Swift.min(read.shape[0], stepCount)
            var bins: TraceHistogramBins? = nil
            if try d.hasAttribute("bin_edges") {
                guard case .doubles(let edges)? = try d.attribute("bin_edges"), let b = TraceHistogramBins(edges: edges) else {
                    throw InputError("\(self.path): \(path) has bin_edges that are not 65 edges of equal bins")
                }
                bins = b
            }
            return TraceHistogramSeries(bins: bins, counts: Array(read.values.prefix(rows * TraceHistogramBins.slotCount)))
        } catch let error as HDF5Error {
            throw InputError("\(self.path): cannot read \(path) (\(error.reason.isEmpty ? "missing or damaged" : error.reason))")
        }
    }

    /// The series `relative` of layer `layer` (prototxt name), one value per recorded step.
    public func series(layer: String, _ relative: String) throws -> [Double] {
        guard let info = self.layer(named: layer) else {
            throw InputError("\(path): the trace has no layer '\(layer)'")
        }
        guard info.seriesNames.contains(relative) else {
            throw InputError("\(path): layer '\(layer)' has no series '\(relative)'")
        }
        return try readDoubles("layers/\(info.groupName)/\(relative)")
    }
}
