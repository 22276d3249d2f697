import InitDiagCore
import InitDiagTrace
import Foundation

/// A line chart rendered as a standalone SVG document (no dependency: the report's figures).
///
/// - x axis: numeric (iterations) or categorical (layer names, labels rotated 45°);
/// - y axis: linear or log10; on a log axis points ≤ 0 are skipped (the line breaks there) and the
///   chart says how many, as it does for non-finite points on any axis;
/// - output is a pure function of the input: same chart → same bytes (coordinates rounded to 0.1,
///   numbers printed without locale, series drawn in the given order).
public struct SVGChart: Sendable {
    public enum XAxis: Sendable, Equatable {
        case numeric(label: String)
        case categorical(label: String, categories: [String])
    }

    public enum YScale: Sendable, Equatable { case linear, log10 }

    public struct Series: Sendable, Equatable {
        public var name: String
        /// (x, y) points in order; for a categorical axis x is the category's index. A nil y
        /// breaks the line (a missing value).
        public var points: [(x: Double, y: Double?)]
        public var dashed: Bool
        /// Index into the palette; nil: the series' position.
        public var colorIndex: Int?

        public init(name: String, points: [(x: Double, y: Double?)], dashed: Bool = false, colorIndex: Int? = nil) {
            self.name = name; self.points = points; self.dashed = dashed; self.colorIndex = colorIndex
        }

        /// One value per category (nil where the layer has none).
        public init(name: String, values: [Double?], dashed: Bool = false, colorIndex: Int? = nil) {
            self.init(name: name, points: values.enumerated().map { (Double($0.offset), $0.element) },
                      dashed: dashed, colorIndex: colorIndex)
        }

        public static func == (a: Series, b: Series) -> Bool {
            a.name == b.name && a.dashed == b.dashed && a.colorIndex == b.colorIndex
                && a.points.count == b.points.count
                && zip(a.points, b.points).allSatisfy { $0.x == $1.x && $0.y == $1.y }
        }
    }

    /// A horizontal line across the plot (e.g. ln 10), drawn dashed grey with its label.
    public struct ReferenceLine: Sendable, Equatable {
        public var y: Double
        public var label: String
        public init(y: Double, label: String) { self.y = y; self.label = label }
    }

    public var title: String
    public var xAxis: XAxis
    public var yLabel: String
    public var yScale: YScale
    public var series: [Series]
    public var referenceLines: [ReferenceLine]
    /// A line of small print under the title (e.g. how the data were reduced).
    public var caption: String?
    public var width: Double
    public var plotHeight: Double
    /// A fixed y range for a linear axis (e.g. 0…1 for shares), widened if a value falls outside.
    public var yRange: ClosedRange<Double>?
    /// Linear scale only: the y-axis shows exactly this range (rounded out to ticks); points
    /// outside it are not drawn and counted in a note (e.g. a diverged variant's loss, marked
    /// where it diverges by `markers` instead).
    public var clipRange: ClosedRange<Double>?
    /// Labelled × marks (drawn at the edge of the plot when outside the y range).
    public var markers: [Marker] = []

    public struct Marker: Sendable, Equatable {
        public var x: Double
        public var y: Double
        public var label: String
        public var colorIndex: Int
        public init(x: Double, y: Double, label: String, colorIndex: Int) {
            self.x = x; self.y = y; self.label = label; self.colorIndex = colorIndex
        }
    }

    public init(title: String, xAxis: XAxis, yLabel: String, yScale: YScale = .linear,
                series: [Series], referenceLines: [ReferenceLine] = [], caption: String? = nil,
                width: Double = 820, plotHeight: Double = 300, yRange: ClosedRange<Double>? = nil) {
        self.title = title; self.xAxis = xAxis; self.yLabel = yLabel; self.yScale = yScale
        self.series = series; self.referenceLines = referenceLines; self.caption = caption
        self.width = width; self.plotHeight = plotHeight; self.yRange = yRange
    }

    /// Okabe–Ito's colour-blind-safe palette, then Tol's muted colours.
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                          "#882255", "#999933", "#44AA99", "#117733", "#AA4499"]

    // Text widths are estimated at 0.6 em per character (sans-serif, 12 px): enough to size margins.
    static let charWidth = 6.6

    /// The SVG document.
    public func render() -> String {
        // Which points can be drawn, and how many cannot.
        var nonFinite = 0, nonPositive = 0, outside = 0
        let clip = yScale == .linear ? clipRange : nil
        let drawable: [[(x: Double, y: Double)?]] = series.map { s in
            s.points.map { p in
                guard let y = p.y else { return nil }
                guard y.isFinite, p.x.isFinite else { nonFinite += 1; return nil }
                if yScale == .log10 && y <= 0 { nonPositive += 1; return nil }
                if let clip, !clip.contains(y) { outside += 1; return nil }
                return (p.x, y)
            }
        }
        let ys = drawable.flatMap { $0.compactMap { $0?.y } }
            + referenceLines.map(\.y).filter { $0.isFinite && (yScale == .linear || $0 > 0) }

        // Layout.
        let legendLabelChars = series.map(\.name.count).max() ?? 0
        let legendWidth = series.isEmpty ? 20 : min(280, 44 + Double(legendLabelChars) * Self.charWidth)
        let left = 78.0, right = legendWidth + 16
        var notes: [String] = []
        if let caption { notes.append(caption) }
        if nonPositive > 0 { notes.append("\(nonPositive) point\(nonPositive == 1 ? "" : "s") ≤ 0 not shown (log scale)") }
        if nonFinite > 0 { notes.append("\(nonFinite) non-finite point\(nonFinite == 1 ? "" : "s") not shown") }
        if outside > 0 { notes.append("\(outside) point\(outside == 1 ? "" : "s") outside the range shown not drawn\(markers.isEmpty ? "" : "; × marks where a variant diverges")") }
        let top = 40.0 + 15 * Double(notes.count)
        let bottom: Double
        switch xAxis {
        case .numeric: bottom = 52
        case .categorical(_, let cats):
            let longest = Double(cats.map(\.count).max() ?? 0)
            bottom = 44 + longest * Self.charWidth * 0.72
        }
        let plotWidth = max(120, width - left - right)
        let legendHeight = 24 + 18 * Double(series.count)
        let plotH = max(plotHeight, legendHeight)
        let height = top + plotH + bottom

        // Y mapping.
        let yTicks: [Double], yLow: Double, yHigh: Double
        switch yScale {
        case .linear:
            var lo = min(ys.min() ?? 0, yRange?.lowerBound ?? .infinity)
            var hi = max(ys.max() ?? 1, yRange?.upperBound ?? -.infinity)
            if let clip { lo = clip.lowerBound; hi = clip.upperBound }
            (yLow, yHigh, yTicks) = Self.linearTicks(min: lo, max: hi)
        case .log10:
            let positive = ys.filter { $0 > 0 }
            var lo = floor(log10(positive.min() ?? 1)), hi = ceil(log10(positive.max() ?? 10))
            if hi <= lo { hi = lo + 1 }
            let stride = max(1, ceil((hi - lo) / 8))
            lo = floor(lo / stride) * stride
            hi = ceil(hi / stride) * stride
            yLow = lo; yHigh = hi
            var ticks = Swift.stride(from: lo, through: hi + 1e-9, by: stride).map { $0 }
            // Within one or two decades, label 2·10^k and 5·10^k too, or the axis has two numbers.
            if hi - lo <= 2 {
                ticks += Swift.stride(from: lo, to: hi, by: 1).flatMap { [$0 + log10(2), $0 + log10(5)] }
                ticks.sort()
            }
            yTicks = ticks
        }
        func yPos(_ y: Double) -> Double {
            let v = yScale == .log10 ? log10(y) : y
            return top + plotH - (v - yLow) / (yHigh - yLow) * plotH
        }
        // X mapping.
        let xLow: Double, xHigh: Double, xTicks: [Double]
        var categories: [String] = []
        switch xAxis {
        case .numeric:
            let xs = drawable.flatMap { $0.compactMap { $0?.x } }
            (xLow, xHigh, xTicks) = Self.linearTicks(min: xs.min() ?? 0, max: xs.max() ?? 1)
        case .categorical(_, let cats):
            categories = cats
            xLow = -0.5; xHigh = Double(max(cats.count, 1)) - 0.5
            xTicks = cats.indices.map(Double.init)
        }
        func xPos(_ x: Double) -> Double { left + (x - xLow) / (xHigh - xLow) * plotWidth }

        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.num(width))\" height=\"\(Self.num(height))\" viewBox=\"0 0 \(Self.num(width)) \(Self.num(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        out += "<title>\(Self.escape(title))</title>\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Self.num(width))\" height=\"\(Self.num(height))\" fill=\"#ffffff\"/>\n"
        out += "<text x=\"\(Self.num(left))\" y=\"22\" font-size=\"15\" font-weight=\"bold\">\(Self.escape(title))</text>\n"
        for (i, note) in notes.enumerated() {
            out += "<text x=\"\(Self.num(left))\" y=\"\(Self.num(38 + 15 * Double(i)))\" font-size=\"11\" fill=\"#555555\">\(Self.escape(note))</text>\n"
        }

        // Grid, ticks and tick labels.
        out += "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n"
        for t in yTicks {
            let y = Self.num(yPos(yScale == .log10 ? pow(10, t) : t))
            out += "<line x1=\"\(Self.num(left))\" y1=\"\(y)\" x2=\"\(Self.num(left + plotWidth))\" y2=\"\(y)\"/>\n"
        }
        if case .numeric = xAxis {
            for t in xTicks {
                let x = Self.num(xPos(t))
                out += "<line x1=\"\(x)\" y1=\"\(Self.num(top))\" x2=\"\(x)\" y2=\"\(Self.num(top + plotH))\"/>\n"
            }
        }
        out += "</g>\n"
        out += "<rect x=\"\(Self.num(left))\" y=\"\(Self.num(top))\" width=\"\(Self.num(plotWidth))\" height=\"\(Self.num(plotH))\" fill=\"none\" stroke=\"#333333\"/>\n"
        out += "<g fill=\"#333333\" font-size=\"11\">\n"
        for t in yTicks {
            let label = yScale == .log10
                ? (t == t.rounded() ? Self.decadeLabel(Int(t)) : diagFormat(pow(10, t), digits: 1))
                : Self.tickLabel(t)
            out += "<text x=\"\(Self.num(left - 6))\" y=\"\(Self.num(yPos(yScale == .log10 ? pow(10, t) : t) + 4))\" text-anchor=\"end\">\(Self.escape(label))</text>\n"
        }
        switch xAxis {
        case .numeric:
            for t in xTicks {
                out += "<text x=\"\(Self.num(xPos(t)))\" y=\"\(Self.num(top + plotH + 16))\" text-anchor=\"middle\">\(Self.escape(Self.tickLabel(t)))</text>\n"
            }
        case .categorical:
            for (i, name) in categories.enumerated() {
                let x = xPos(Double(i)), y = top + plotH + 12
                out += "<text x=\"\(Self.num(x))\" y=\"\(Self.num(y))\" text-anchor=\"end\" transform=\"rotate(-45 \(Self.num(x)) \(Self.num(y)))\">\(Self.escape(name))</text>\n"
            }
        }
        out += "</g>\n"
        // Axis labels.
        let xLabel: String
        switch xAxis {
        case .numeric(let label): xLabel = label
        case .categorical(let label, _): xLabel = label
        }
        out += "<text x=\"\(Self.num(left + plotWidth / 2))\" y=\"\(Self.num(height - 8))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        let yMid = top + plotH / 2
        out += "<text x=\"16\" y=\"\(Self.num(yMid))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(Self.num(yMid)))\">\(Self.escape(yLabel + (yScale == .log10 ? " (log scale)" : "")))</text>\n"

        // Reference lines.
        for r in referenceLines where r.y.isFinite && (yScale == .linear || r.y > 0) {
            let y = Self.num(yPos(r.y))
            out += "<line x1=\"\(Self.num(left))\" y1=\"\(y)\" x2=\"\(Self.num(left + plotWidth))\" y2=\"\(y)\" stroke=\"#888888\" stroke-dasharray=\"2 3\"/>\n"
            out += "<text x=\"\(Self.num(left + plotWidth - 4))\" y=\"\(Self.num(yPos(r.y) - 4))\" text-anchor=\"end\" font-size=\"11\" fill=\"#666666\">\(Self.escape(r.label))</text>\n"
        }

        // Series: polylines broken at missing points, markers where points are few.
        for (i, s) in series.enumerated() {
            let color = Self.palette[(s.colorIndex ?? i) % Self.palette.count]
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            var runs: [[(x: Double, y: Double)]] = [[]]
            for p in drawable[i] {
                if let p { runs[runs.count - 1].append(p) } else if !runs[runs.count - 1].isEmpty { runs.append([]) }
            }
            out += "<g fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\"\(dash)>\n"
            for run in runs where run.count > 1 {
                let pts = run.map { "\(Self.num(xPos($0.x))),\(Self.num(yPos($0.y)))" }.joined(separator: " ")
                out += "<polyline points=\"\(pts)\"/>\n"
            }
            out += "</g>\n"
            let pointCount = drawable[i].count
            if pointCount <= 80 {
                out += "<g fill=\"\(color)\" stroke=\"none\">\n"
                for p in drawable[i].compactMap({ $0 }) {
                    out += "<circle cx=\"\(Self.num(xPos(p.x)))\" cy=\"\(Self.num(yPos(p.y)))\" r=\"2.6\"/>\n"
                }
                out += "</g>\n"
            }
        }
        for m in markers where m.x.isFinite {
            let color = Self.palette[m.colorIndex % Self.palette.count]
            let x = xPos(min(max(m.x, xLow), xHigh))
            let y = m.y.isFinite ? min(max(yPos(m.y), top + 6), top + plotH - 6) : top + 6
            out += "<g stroke=\"\(color)\" stroke-width=\"2.2\"><line x1=\"\(Self.num(x - 5))\" y1=\"\(Self.num(y - 5))\" x2=\"\(Self.num(x + 5))\" y2=\"\(Self.num(y + 5))\"/><line x1=\"\(Self.num(x - 5))\" y1=\"\(Self.num(y + 5))\" x2=\"\(Self.num(x + 5))\" y2=\"\(Self.num(y - 5))\"/></g>\n"
            out += "<text x=\"\(Self.num(x + 8))\" y=\"\(Self.num(y + 4))\" font-size=\"11\" fill=\"\(color)\">\(Self.escape(m.label))</text>\n"
        }
        if ys.isEmpty {
            out += "<text x=\"\(Self.num(left + plotWidth / 2))\" y=\"\(Self.num(top + plotH / 2))\" text-anchor=\"middle\" fill=\"#888888\">no data to show</text>\n"
        }

        // Legend.
        if !series.isEmpty {
            let lx = left + plotWidth + 16
            out += "<g font-size=\"11\">\n"
            for (i, s) in series.enumerated() {
                let color = Self.palette[(s.colorIndex ?? i) % Self.palette.count]
                let y = top + 12 + 18 * Double(i)
                let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
                out += "<line x1=\"\(Self.num(lx))\" y1=\"\(Self.num(y))\" x2=\"\(Self.num(lx + 24))\" y2=\"\(Self.num(y))\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>\n"
                out += "<text x=\"\(Self.num(lx + 30))\" y=\"\(Self.num(y + 4))\">\(Self.escape(s.name))</text>\n"
            }
            out += "</g>\n"
        }
        out += "</svg>\n"
        return out
    }

    // MARK: Helpers

    /// Nice linear ticks: a step of 1, 2 or 5 × 10^k giving about five intervals, the domain
    /// widened to whole steps. A flat range is widened so that the line sits mid-plot.
    static func linearTicks(min lo: Double, max hi: Double) -> (Double, Double, [Double]) {
        var lo = lo, hi = hi
        if !(hi > lo) {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad; hi += pad
        }
        let rough = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(rough)))
        let normalized = rough / magnitude
        let step = (normalized < 1.5 ? 1 : normalized < 3.5 ? 2 : normalized < 7.5 ? 5 : 10) * magnitude
        let first = floor(lo / step), last = ceil(hi / step)
        let ticks = Swift.stride(from: first, through: last + 1e-9, by: 1).map { $0 * step }
        return (first * step, last * step, ticks)
    }

    static func tickLabel(_ v: Double) -> String {
        // Multiples of the step carry binary noise (0.30000000000000004): 6 digits hide it.
        abs(v) < 1e-12 ? "0" : diagFormat(v, digits: 6)
    }

    static func decadeLabel(_ k: Int) -> String {
        (-3...4).contains(k) ? diagFormat(pow(10, Double(k)), digits: 1) : "1e\(k)"
    }

    /// A coordinate rounded to 0.1 px, printed without trailing ".0" and never as "-0".
    static func num(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        if r == 0 { return "0" }
        if r == r.rounded() { return String(Int(r)) }
        return String(format: "%.1f", r)
    }

    /// Escapes the five XML special characters and drops control characters XML 1.0 forbids.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(" ")
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
