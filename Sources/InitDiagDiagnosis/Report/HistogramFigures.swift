import InitDiagCore
import InitDiagTrace
import Foundation

// The report's histogram figures (docs/trace-format.md "Histograms"; the figures of Glorot &
// Bengio 2010): activation and back-propagated gradient histograms of every layer at
// initialisation as one curve per layer (their Figs. 6 and 7), each layer's histograms over
// training as a heat map (the "colorful dimension"), and the saturated share of each bounded
// layer over the iterations (their Fig. 2 follows sigmoid activations over training).

/// A stack of heat maps sharing one x axis (recorded steps → iteration): one panel per row
/// label, its y axis the value of the histogram's bins, the colour the share of the step's
/// values in that bin on a log scale (white: none). Pure function of the input, like SVGChart.
public struct SVGHeatMap: Sendable {
    public struct Panel: Sendable {
        public var label: String
        /// Column x values (iterations), ascending.
        public var x: [Double]
        /// The bins' lower edge and width (the y axis).
        public var lo: Double
        public var width: Double
        /// columns × 64 shares (each column sums to ≤ 1; the rest is under- or overflow).
        public var shares: [[Double]]
        /// Shares outside the bins per column (underflow + overflow), for the note.
        public var outside: Double
        public init(label: String, x: [Double], lo: Double, width: Double, shares: [[Double]], outside: Double) {
            self.label = label; self.x = x; self.lo = lo; self.width = width; self.shares = shares; self.outside = outside
        }
    }

    public var title: String
    public var caption: String?
    public var panels: [Panel]
    public var width: Double = 820
    public var panelHeight: Double = 64
    /// Shares below this are drawn in the lightest colour; the scale spans floor…1.
    public var floor: Double = 1e-4

    public init(title: String, caption: String? = nil, panels: [Panel]) {
        self.title = title; self.caption = caption; self.panels = panels
    }

    /// Viridis at nine stops (matplotlib's colormap), low to high.
    static let stops: [(Double, Double, Double)] = [
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ]

    static func color(_ t: Double) -> String {
        let u = min(1, max(0, t)) * Double(stops.count - 1)
        let i = min(stops.count - 2, Int(u)), f = u - Double(i)
        let a = stops[i], b = stops[i + 1]
        func c(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * f).rounded()) }
        return String(format: "#%02X%02X%02X", c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
    }

    public func render() -> String {
        let left = 150.0, right = 70.0, gap = 22.0
        let plotWidth = width - left - right
        let notes = caption.map { [$0] } ?? []
        let top = 40.0 + 15 * Double(notes.count)
        let height = top + Double(panels.count) * (panelHeight + gap) + 40
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(SVGChart.num(width))\" height=\"\(SVGChart.num(height))\" viewBox=\"0 0 \(SVGChart.num(width)) \(SVGChart.num(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        out += "<title>\(SVGChart.escape(title))</title>\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(SVGChart.num(width))\" height=\"\(SVGChart.num(height))\" fill=\"#ffffff\"/>\n"
        out += "<text x=\"\(SVGChart.num(left))\" y=\"22\" font-size=\"15\" font-weight=\"bold\">\(SVGChart.escape(title))</text>\n"
        for (i, note) in notes.enumerated() {
            out += "<text x=\"\(SVGChart.num(left))\" y=\"\(SVGChart.num(38 + 15 * Double(i)))\" font-size=\"11\" fill=\"#555555\">\(SVGChart.escape(note))</text>\n"
        }
        let logFloor = log10(floor)
        for (p, panel) in panels.enumerated() {
            let y0 = top + Double(p) * (panelHeight + gap)
            let n = panel.shares.count
            guard n > 0, let xFirst = panel.x.first, let xLast = panel.x.last else { continue }
            let cellW = plotWidth / Double(n), cellH = panelHeight / 64
            out += "<g shape-rendering=\"crispEdges\">\n"
            // The colour scale in 12 steps (as the legend draws it), and the cells of a column that
            // share a step drawn as one rect: a figure of 12 layers × 160 steps × 64 bins was
            // 3.4 MB cell by cell.
            func level(_ share: Double) -> Int {
                Int(((log10(max(share, floor)) - logFloor) / -logFloor * 11).rounded())
            }
            for (c, column) in panel.shares.enumerated() {
                var k = 0
                while k < column.count {
                    guard column[k] > 0 else { k += 1; continue }
                    let l = level(column[k])
                    var end = k + 1
                    while end < column.count, column[end] > 0, level(column[end]) == l { end += 1 }
                    let x = left + Double(c) * cellW, y = y0 + panelHeight - Double(end) * cellH
                    out += "<rect x=\"\(SVGChart.num(x))\" y=\"\(SVGChart.num(y))\" width=\"\(SVGChart.num(cellW + 0.4))\" height=\"\(SVGChart.num(Double(end - k) * cellH + 0.4))\" fill=\"\(Self.color(Double(l) / 11))\"/>\n"
                    k = end
                }
            }
            out += "</g>\n"
            out += "<rect x=\"\(SVGChart.num(left))\" y=\"\(SVGChart.num(y0))\" width=\"\(SVGChart.num(plotWidth))\" height=\"\(SVGChart.num(panelHeight))\" fill=\"none\" stroke=\"#333333\"/>\n"
            let hi = panel.lo + 64 * panel.width
            out += "<g font-size=\"10\" fill=\"#333333\">\n"
            out += "<text x=\"\(SVGChart.num(left - 6))\" y=\"\(SVGChart.num(y0 + 9))\" text-anchor=\"end\">\(SVGChart.escape(SVGChart.tickLabel(hi)))</text>\n"
            out += "<text x=\"\(SVGChart.num(left - 6))\" y=\"\(SVGChart.num(y0 + panelHeight))\" text-anchor=\"end\">\(SVGChart.escape(SVGChart.tickLabel(panel.lo)))</text>\n"
            if panel.lo < 0 && hi > 0 {
                let yz = y0 + panelHeight * hi / (hi - panel.lo)
                out += "<text x=\"\(SVGChart.num(left - 6))\" y=\"\(SVGChart.num(yz + 3))\" text-anchor=\"end\">0</text>\n"
            }
            out += "</g>\n"
            out += "<text x=\"\(SVGChart.num(left - 34))\" y=\"\(SVGChart.num(y0 + panelHeight / 2 + 4))\" text-anchor=\"end\" font-size=\"11\">\(SVGChart.escape(panel.label))</text>\n"
            let outsideNote = panel.outside > 0 ? String(format: " · %.2g%% of values outside the bins", panel.outside * 100) : ""
            out += "<text x=\"\(SVGChart.num(left))\" y=\"\(SVGChart.num(y0 + panelHeight + 13))\" font-size=\"10\" fill=\"#555555\">iteration \(SVGChart.escape(SVGChart.tickLabel(xFirst))) … \(SVGChart.escape(SVGChart.tickLabel(xLast)))\(SVGChart.escape(outsideNote))</text>\n"
        }
        // Colour scale.
        let sx = width - right + 18, sy = top, sh = 120.0
        for i in 0..<12 {
            let t = 1 - Double(i) / 11
            out += "<rect x=\"\(SVGChart.num(sx))\" y=\"\(SVGChart.num(sy + Double(i) * sh / 12))\" width=\"12\" height=\"\(SVGChart.num(sh / 12 + 0.4))\" fill=\"\(Self.color(t))\"/>\n"
        }
        out += "<g font-size=\"10\" fill=\"#333333\"><text x=\"\(SVGChart.num(sx + 16))\" y=\"\(SVGChart.num(sy + 8))\">1</text><text x=\"\(SVGChart.num(sx + 16))\" y=\"\(SVGChart.num(sy + sh))\">\(SVGChart.escape(diagFormat(floor, digits: 1)))</text><text x=\"\(SVGChart.num(sx - 2))\" y=\"\(SVGChart.num(sy + sh + 16))\">share</text></g>\n"
        out += "</svg>\n"
        return out
    }
}

/// The histogram of one layer's blob as (bins, counts) at step `k`, nil without one.
private func histogramRow(_ layer: LayerRecord, _ name: String, step k: Int) -> (TraceHistogramBins, ArraySlice<Int64>)? {
    guard let h = layer.histograms[name], let bins = h.bins, h.isCounted(k) else { return nil }
    let row = h.row(k)
    return row.reduce(0, +) > 0 ? (bins, row) : nil
}

/// Density over the bin centres (count / (n·width), n = every counted value), nil for empty bins
/// (a log axis cannot show 0): curves of layers with different ranges compare on one plot.
func reportDensityPoints(_ bins: TraceHistogramBins, _ row: ArraySlice<Int64>) -> [(x: Double, y: Double?)] {
    let n = Double(row.reduce(0, +))
    let centres = bins.centers
    return (0..<TraceHistogramBins.binCount).map { k in
        let c = row[row.startIndex + k + 1]
        return (centres[k], c > 0 ? Double(c) / (n * bins.width) : nil)
    }
}

/// At most `limit` of `items`, evenly spread, first and last kept.
private func spread<T>(_ items: [T], limit: Int) -> [T] {
    guard items.count > limit, limit >= 2 else { return items }
    return (0..<limit).map { items[Int((Double($0) * Double(items.count - 1) / Double(limit - 1)).rounded())] }
}

/// The layers whose forward histograms show the activations: the nonlinearities' tops (role
/// neuron); without any, the weighted layers' outputs.
func reportActivationLayers(_ run: RunRecord) -> [LayerRecord] {
    let neurons = run.layers.filter { $0.attributes["role"] == LayerRole.neuron.rawValue && $0.histograms["forward/histogram"] != nil }
    return neurons.isEmpty ? run.layers.filter { $0.attributes["role"] == LayerRole.weighted.rawValue && $0.histograms["forward/histogram"] != nil } : neurons
}

/// The histogram figures of one variant (file names carry `slug`); empty when its trace has
/// no histograms.
public func histogramFigures(variant v: SweepVariantResult, label: String) -> [ReportFigure] {
    var figures: [ReportFigure] = []
    let limit = 12
    let activations = spread(reportActivationLayers(v.run), limit: limit)
    let gradients = spread(v.run.layers.filter { $0.attributes["role"] == LayerRole.weighted.rawValue && $0.histograms["backward/histogram"] != nil }, limit: limit)
    func curves(_ layers: [LayerRecord], _ name: String) -> [SVGChart.Series] {
        layers.enumerated().compactMap { i, l in
            histogramRow(l, name, step: 0).map { SVGChart.Series(name: l.name, points: reportDensityPoints($0.0, $0.1), colorIndex: i) }
        }
    }
    let more = { (all: Int, shown: Int) in all > shown ? " \(shown) of \(all) layers shown, evenly spread over the depth." : "" }
    let allActivations = reportActivationLayers(v.run).count
    let act = curves(activations, "forward/histogram")
    if !act.isEmpty {
        figures.append(ReportFigure(
            file: "activation_hist_\(v.slug).svg",
            caption: "\(label): histogram of each layer's activations (its top after the forward) at initialisation, as a density over the bin centres (Glorot & Bengio 2010, Fig. 6); empty bins are left out." + more(allActivations, activations.count),
            svg: SVGChart(title: "Activation histograms at initialisation, \(v.scheme)", xAxis: .numeric(label: "activation value"),
                          yLabel: "density", yScale: .log10, series: act).render()))
    }
    let allGradients = v.run.layers.filter { $0.attributes["role"] == LayerRole.weighted.rawValue && $0.histograms["backward/histogram"] != nil }.count
    let grad = curves(gradients, "backward/histogram")
    if !grad.isEmpty {
        figures.append(ReportFigure(
            file: "gradient_hist_\(v.slug).svg",
            caption: "\(label): histogram of the back-propagated gradient each weighted layer writes into its bottom, at initialisation, as a density (Glorot & Bengio 2010, Fig. 7)." + more(allGradients, gradients.count),
            svg: SVGChart(title: "Back-propagated gradient histograms at initialisation, \(v.scheme)", xAxis: .numeric(label: "gradient value"),
                          yLabel: "density", yScale: .log10, series: grad).render()))
    }
    // Over training: one heat map panel per layer.
    let columns = 80
    let panels: [SVGHeatMap.Panel] = activations.compactMap { l in
        // The steps that counted their histograms (`--histogram-every`; the others hold −1).
        guard let h = l.histograms["forward/histogram"], let bins = h.bins else { return nil }
        let counted = h.countedSteps
        guard !counted.isEmpty else { return nil }
        let steps = spread(counted, limit: columns)
        var outside = 0.0
        let shares: [[Double]] = steps.map { k in
            let row = h.row(k)
            let n = Double(row.reduce(0, +))
            guard n > 0 else { return [Double](repeating: 0, count: 64) }
            outside = max(outside, Double(row[row.startIndex] + row[row.endIndex - 1]) / n)
            return (1...64).map { Double(row[row.startIndex + $0]) / n }
        }
        let x = steps.map { k in k < v.run.iterations.count ? Double(v.run.iterations[k]) : Double(k) }
        return SVGHeatMap.Panel(label: l.name, x: x, lo: bins.lo, width: bins.width, shares: shares, outside: outside)
    }
    if panels.contains(where: { $0.shares.count > 1 }) {
        figures.append(ReportFigure(
            file: "activation_heatmap_\(v.slug).svg",
            caption: "\(label): each layer's activation histogram over training (x: recorded steps, y: value over the layer's bins, fixed at the first step; colour: share of the values in the bin, log scale).",
            svg: SVGHeatMap(title: "Activation histograms over training, \(v.scheme)",
                            caption: "columns: recorded steps (at most \(columns), evenly spread); the largest share outside the bins is noted per layer",
                            panels: panels).render()))
    }
    // Saturation over the iterations.
    let saturating = v.run.layers.filter { $0.series["forward/saturated_fraction"] != nil }
    if !saturating.isEmpty, v.run.iterations.count > 1 {
        let series = spread(saturating, limit: limit).enumerated().map { i, l in
            let d = reportDownsample(x: v.run.iterations, y: l.series["forward/saturated_fraction"] ?? [], limit: 1500)
            return SVGChart.Series(name: l.name, points: d.points, colorIndex: i)
        }
        figures.append(ReportFigure(
            file: "saturation_\(v.slug).svg",
            caption: "\(label): share of each sigmoid or tanh layer's units that are saturated (local derivative below 1% of its maximum), per recorded step (cf. Glorot & Bengio 2010, Fig. 2).",
            svg: SVGChart(title: "Saturated units over training, \(v.scheme)", xAxis: .numeric(label: "iteration"),
                          yLabel: "saturated_fraction", series: series, yRange: 0...1).render()))
    }
    return figures
}
