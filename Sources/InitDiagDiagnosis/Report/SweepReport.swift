import InitDiagCore
import InitDiagTrace
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One variant of a sweep as the report needs it.
public struct SweepVariantResult: Sendable {
    /// The scheme as the user wrote it (docs/schemes.md), e.g. "w=caffe-msra,b=zero".
    public var scheme: String
    /// Its file name, e.g. "w-caffe-msra_b-zero".
    public var slug: String
    /// The trace, relative to the report directory (e.g. "traces/w-caffe-msra_b-zero.h5").
    public var trace: String
    public var run: RunRecord
    public var diagnosis: Diagnosis
    /// The last test accuracy, nil when the run had no test phase.
    public var testAccuracy: Double?

    public init(scheme: String, slug: String, trace: String, run: RunRecord, diagnosis: Diagnosis,
                testAccuracy: Double?) {
        self.scheme = scheme; self.slug = slug; self.trace = trace; self.run = run
        self.diagnosis = diagnosis; self.testAccuracy = testAccuracy
    }

    public var outcome: VariantOutcome { VariantOutcome(scheme: scheme, diagnosis: diagnosis) }
}

/// The summary.json content for these variants.
public func sweepSummary(netName: String, data: String, iterations: Int,
                         variants: [SweepVariantResult]) -> SweepSummary {
    let outcomes = variants.map(\.outcome)
    var cause: SweepCause?
    if let base = variants.first(where: { DiagScheme($0.scheme).isDeclared }), base.diagnosis.verdict != .learning,
       let text = base.diagnosis.causeParagraphs.first {
        var kinds: [String] = []
        for f in base.diagnosis.findings where !kinds.contains(f.kind.rawValue) { kinds.append(f.kind.rawValue) }
        cause = SweepCause(text: text, firstCollapsedLayer: base.diagnosis.firstCollapsedLayer, kinds: kinds)
    }
    var recommendation: SweepRecommendation?
    if let best = rankedLearners(outcomes).first, let v = variants.first(where: { $0.scheme == best.scheme }) {
        let n = v.diagnosis.numbers
        let barely = n.windowMeanLoss.map { $0 >= DiagnosisThresholds.default.barelyLearningLossFraction * n.chanceLoss } ?? false
        let text = explainSweep(outcomes).components(separatedBy: "\n\n").first { $0.hasPrefix("**Recommendation:") } ?? ""
        recommendation = SweepRecommendation(scheme: v.scheme, slug: v.slug, verdict: v.diagnosis.verdict, testAccuracy: v.testAccuracy,
                                             lossLast: v.run.loss.last, barelyBelowChance: barely, text: text)
    }
    return SweepSummary(net: netName, data: data, iterations: iterations, variants: variants.map { v in
        SweepSummaryVariant(scheme: v.scheme, slug: v.slug, trace: v.trace, verdict: v.diagnosis.verdict,
                            lossFirst: v.run.loss.first, lossLast: v.run.loss.last,
                            testAccuracy: v.testAccuracy, firstCollapsedLayer: v.diagnosis.firstCollapsedLayer,
                            findings: v.diagnosis.findings, iterationsRun: v.run.iterations.last.map { $0 + 1 })
    }, cause: cause, recommendation: recommendation)
}

/// Writes `DIR/README.md`, `DIR/report.html` (the same, self-contained), `DIR/figures/*.svg`,
/// `DIR/summary.json` and, when a variant trained, `DIR/fixed/` (the fixed prototxt and solver). Every file is written to a
/// temporary name in its final directory and renamed into place, so a reader never sees half a
/// file. Throws `InputError` naming the file when the directory cannot be written.
public func writeSweepReport(directory: String, netName: String, data: String, iterations: Int,
                             variants: [SweepVariantResult], command: String, machine: String,
                             fix: FixedCopyOutcome? = nil) throws {
    let figures = sweepFigures(variants: variants)
    let readme = sweepReadme(netName: netName, data: data, iterations: iterations, variants: variants,
                             figures: figures, command: command, machine: machine, fix: fix)
    let summary = sweepSummary(netName: netName, data: data, iterations: iterations, variants: variants)
    let json: Data
    do { json = try reportJSONEncoder().encode(summary) } catch {
        throw InputError("\(directory)/summary.json: cannot encode the summary (\(error))")
    }
    let figureDir = (directory as NSString).appendingPathComponent("figures")
    do {
        try FileManager.default.createDirectory(atPath: figureDir, withIntermediateDirectories: true)
    } catch {
        throw InputError("\(figureDir): cannot create the report directory (\(error.localizedDescription))")
    }
    for f in figures {
        try reportWriteAtomically(Data(f.svg.utf8), to: (figureDir as NSString).appendingPathComponent(f.file))
    }
    try reportWriteAtomically(json + Data("\n".utf8), to: (directory as NSString).appendingPathComponent("summary.json"))
    if case .written(let f)? = fix {
        try writeFixedCopy(f, directory: directory)
    } else if fix != nil {
        // A fix from an earlier report of this folder would no longer be this report's.
        try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent("fixed"))
    }
    // The same content as one self-contained page (figures inline), for a browser.
    try reportWriteAtomically(Data(sweepReportHTML(readme: readme, figures: figures, title: "initdiag sweep: \(netName)").utf8),
                              to: (directory as NSString).appendingPathComponent("report.html"))
    // The README last: once it exists, everything it links to does.
    try reportWriteAtomically(Data(readme.utf8), to: (directory as NSString).appendingPathComponent("README.md"))
}

/// Writes `data` to `path.tmp-<pid>` and renames it over `path` (rename(2) is atomic within a file
/// system, so readers see the old file or the new one, never a mix).
func reportWriteAtomically(_ data: Data, to path: String) throws {
    let temporary = "\(path).tmp-\(getpid())"
    do {
        try data.write(to: URL(fileURLWithPath: temporary))
    } catch {
        throw InputError("\(path): cannot write (\(error.localizedDescription))")
    }
    if rename(temporary, path) != 0 {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw InputError("\(path): cannot move the finished file into place (\(reason))")
    }
}

// MARK: - Figures

/// One figure: its file name under `figures/`, what it shows, and the SVG.
public struct ReportFigure: Sendable {
    public var file: String
    public var caption: String
    public var svg: String
}

/// Merges ordered name lists into one order that respects each list (a layer a variant adds, such
/// as a BatchNorm, lands after the layer it follows there).
func reportMergeOrdered(_ lists: [[String]]) -> [String] {
    var result: [String] = []
    for list in lists {
        var insertAt = 0
        for name in list {
            if let i = result.firstIndex(of: name) { insertAt = i + 1 } else {
                result.insert(name, at: insertAt); insertAt += 1
            }
        }
    }
    return result
}

/// At most `limit` points per series: longer series are reduced to the mean of equal buckets, so the
/// SVG stays small for 100k-iteration runs. Non-finite values are kept (they are counted and shown
/// as "not shown" by the chart).
func reportDownsample(x: [Int], y: [Double], limit: Int) -> (points: [(x: Double, y: Double?)], reduced: Bool) {
    let n = min(x.count, y.count)
    guard n > limit, limit > 0 else { return ((0..<n).map { (Double(x[$0]), y[$0]) }, false) }
    var points: [(x: Double, y: Double?)] = []
    points.reserveCapacity(limit)
    for b in 0..<limit {
        let lo = b * n / limit, hi = max(lo + 1, (b + 1) * n / limit)
        var sx = 0.0, sy = 0.0
        for i in lo..<hi { sx += Double(x[i]); sy += y[i] }
        points.append((sx / Double(hi - lo), sy / Double(hi - lo)))
    }
    return (points, true)
}

/// Every figure of the sweep report, in the order the README shows them.
public func sweepFigures(variants: [SweepVariantResult]) -> [ReportFigure] {
    var figures: [ReportFigure] = []
    let names = variants.map(\.scheme)
    let classes = variants.first?.diagnosis.numbers.classes ?? 10
    let lnC = log(Double(max(classes, 1)))
    let limit = 1500

    // Loss curves.
    var reduced = false
    let lossSeries: [SVGChart.Series] = variants.enumerated().map { i, v in
        let d = reportDownsample(x: v.run.iterations, y: v.run.loss, limit: limit)
        reduced = reduced || d.reduced
        return SVGChart.Series(name: v.scheme, points: d.points, colorIndex: i)
    }
    // The y-range comes from the variants that did not diverge (a diverged loss would squash
    // the differences that matter, 2.30 against 2.1, into one line); a diverged variant is
    // marked × where it diverged.
    let diverged = variants.enumerated().filter { $0.element.diagnosis.verdict == .diverged }
    var lossChart = SVGChart(title: "Training loss", xAxis: .numeric(label: "iteration"), yLabel: "loss",
                             series: lossSeries, referenceLines: [.init(y: lnC, label: "ln \(classes) = \(String(format: "%.4f", lnC))")],
                             caption: reduced ? "long runs drawn as the means of \(limit) equal buckets" : nil)
    let calm = variants.filter { $0.diagnosis.verdict != .diverged }.flatMap { $0.run.loss.filter(\.isFinite) }
    if !diverged.isEmpty, let lo = calm.min(), let hi = calm.max() {
        lossChart.clipRange = min(lo, lnC)...max(hi, lnC)
        lossChart.markers = diverged.map { i, v in
            let site = v.diagnosis.numbers.nonFinite?.iteration
            let lastFinite = Array(zip(v.run.iterations, v.run.loss)).last { $0.1.isFinite }
            let x = Double(site ?? lastFinite?.0 ?? 0)
            return SVGChart.Marker(x: x, y: lastFinite?.1 ?? .infinity, label: "diverged at \(Int(x))", colorIndex: i)
        }
    }
    figures.append(ReportFigure(
        file: "loss.svg", caption: "Training loss of every variant; the dotted line is ln \(classes), the loss of a net that ignores its input."
            + (diverged.isEmpty ? "" : " The range is that of the variants that did not diverge; × marks where \(diverged.map { "`\($0.element.scheme)`" }.joined(separator: ", ")) diverged."),
        svg: lossChart.render()))

    if variants.contains(where: { !$0.run.testAccuracy.isEmpty }) {
        let series = variants.enumerated().map { i, v in
            SVGChart.Series(name: v.scheme, points: zip(v.run.testIterations, v.run.testAccuracy).map { (Double($0), $1) }, colorIndex: i)
        }
        figures.append(ReportFigure(
            file: "test_accuracy.svg", caption: "Test accuracy at each test phase; the dotted line is chance (1/\(classes)).",
            svg: SVGChart(title: "Test accuracy", xAxis: .numeric(label: "iteration"), yLabel: "accuracy",
                          series: series, referenceLines: [.init(y: 1 / Double(max(classes, 1)), label: "chance")],
                          yRange: 0...1).render()))
    }

    // Depth profiles at initialisation: pre-activations (Convolution / InnerProduct outputs).
    let linearOrder = reportMergeOrdered(variants.map { v in
        v.diagnosis.initial.filter { $0.role == .weighted }.map(\.name)
    })
    func depthSeries(_ value: (LayerSnapshot) -> Double?, layers: [String],
                     filter: (LayerSnapshot) -> Bool) -> [SVGChart.Series] {
        variants.enumerated().map { i, v in
            let byName = Dictionary(v.diagnosis.initial.filter(filter).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            return SVGChart.Series(name: v.scheme, values: layers.map { byName[$0].flatMap(value) }, colorIndex: i)
        }
    }
    let isLinear: (LayerSnapshot) -> Bool = { $0.role == .weighted }
    // Pre-activations after a Dropout layer: in TRAIN each sample has its own mask, so their
    // between-sample spread is mask noise, not the input (the figures say so where they show it).
    let afterDropout: [String] = reportMergeOrdered(variants.map { v in
        guard let d = v.run.layers.firstIndex(where: { $0.attributes["mean_field"]?.hasPrefix("noise") == true || $0.type == "Dropout" }) else { return [] }
        return v.run.layers[(d + 1)...].filter { $0.attributes["role"] == LayerRole.weighted.rawValue }.map(\.name)
    })
    let dropoutNote: [String] = afterDropout.isEmpty ? [] : [
        "\(afterDropout.joined(separator: ", ")) follow Dropout: in TRAIN each sample gets its own mask, so the spread there is mask noise, not input (an input lost earlier does not come back)."]
    let layerAxis = SVGChart.XAxis.categorical(label: "layer (pre-activation: Convolution / InnerProduct output, before its in-place ReLU)", categories: linearOrder)
    if !linearOrder.isEmpty {
        figures.append(ReportFigure(
            file: "activation_std.svg", caption: "Standard deviation of each pre-activation at initialisation.",
            svg: SVGChart(title: "Activation std vs depth at initialisation", xAxis: layerAxis, yLabel: "forward std",
                          yScale: .log10, series: depthSeries({ $0.std }, layers: linearOrder, filter: isLinear)).render()))
        figures.append(ReportFigure(
            file: "between_sample_std.svg", caption: "Between-sample std (how much the blob changes from one input to another) at initialisation." + dropoutNote.map { " " + $0 } .joined(),
            svg: SVGChart(title: "Between-sample std vs depth at initialisation", xAxis: layerAxis, yLabel: "between_sample_std",
                          yScale: .log10, series: depthSeries({ $0.betweenSampleStd }, layers: linearOrder, filter: isLinear),
                          caption: dropoutNote.first).render()))
        figures.append(ReportFigure(
            file: "input_dependence.svg", caption: "input_dependence (the share of the variance that changes with the input; 0: every input gives the same output) at initialisation." + dropoutNote.map { " " + $0 }.joined(),
            svg: SVGChart(title: "Input dependence vs depth at initialisation", xAxis: layerAxis, yLabel: "input_dependence",
                          yScale: .log10, series: depthSeries({ $0.inputDependence }, layers: linearOrder, filter: isLinear),
                          caption: dropoutNote.first).render()))
        figures.append(ReportFigure(
            file: "gradient_l2.svg", caption: "l2 norm of the gradient each layer writes into its bottom, at initialisation (the first convolution has none: its bottom is the data).",
            svg: SVGChart(title: "Gradient l2 vs depth at initialisation",
                          xAxis: .categorical(label: "layer (Convolution / InnerProduct; the gradient it writes into its bottom)", categories: linearOrder),
                          yLabel: "backward l2",
                          yScale: .log10, series: depthSeries({ $0.backwardL2 }, layers: linearOrder, filter: isLinear)).render()))
    }
    let reluOrder = reportMergeOrdered(variants.map { v in
        v.diagnosis.initial.filter { $0.isRectifier && $0.deadFraction != nil }.map(\.name)
    })
    if !reluOrder.isEmpty {
        figures.append(ReportFigure(
            file: "dead_fraction.svg", caption: "Share of each ReLU's channels (units) that are ≤ 0 for every sample and position of the batch, at initialisation.",
            svg: SVGChart(title: "Dead fraction vs depth at initialisation", xAxis: .categorical(label: "ReLU layer", categories: reluOrder),
                          yLabel: "dead_fraction",
                          series: depthSeries({ $0.deadFraction }, layers: reluOrder, filter: { $0.isRectifier }),
                          yRange: 0...1).render()))
    }

    // Per variant: mean-field predictions vs measurements.
    for (i, v) in variants.enumerated() {
        let layers = v.diagnosis.initial.filter(isLinear)
        guard !layers.isEmpty else { continue }
        let axis = SVGChart.XAxis.categorical(label: "layer (pre-activation)", categories: layers.map(\.name))
        var moment: [SVGChart.Series] = [
            .init(name: "measured E[z²]", values: layers.map(\.secondMoment), colorIndex: 0),
            .init(name: "one step: σ_w²·E[x²] + σ_b²", values: layers.map(\.predictedSecondMoment), dashed: true, colorIndex: 1),
            .init(name: "chained from the data", values: layers.map(reportChained(\.chainSecondMoment)), dashed: true, colorIndex: 2),
        ]
        if layers.contains(where: { $0.attributePredictedQ != nil }) {
            moment.append(.init(name: "predicted_q (trace)", values: layers.map(\.attributePredictedQ), dashed: true, colorIndex: 3))
        }
        moment.append(.init(name: "bias E[b²]", values: layers.map(\.biasSecondMoment), colorIndex: 6))
        figures.append(ReportFigure(
            file: "meanfield_\(v.slug).svg",
            caption: "\(names[i]): second moment of each pre-activation at initialisation, measured and predicted by mean-field theory, with the bias's share E[b²].",
            svg: SVGChart(title: "Second moments, \(v.scheme)", xAxis: axis, yLabel: "E[z²]", yScale: .log10, series: moment).render()))
        let share: [SVGChart.Series] = [
            .init(name: "measured", values: layers.map(\.betweenShare), colorIndex: 0),
            .init(name: "one step from the measured input", values: layers.map(\.predictedBetweenShare), dashed: true, colorIndex: 1),
            .init(name: "chained from the data", values: layers.map(reportChained(\.chainBetweenShare)), dashed: true, colorIndex: 2),
        ]
        figures.append(ReportFigure(
            file: "correlation_\(v.slug).svg",
            caption: "\(names[i]): share of E[z²] that varies with the input (between_sample_std²/E[z²] = (1 − 1/B)(1 − c) for correlation c between inputs), measured and predicted by mean-field theory (each layer's declared map: closed form for ReLU, quadrature over the Gaussian for other nonlinearities)." + dropoutNote.map { " " + $0 }.joined(),
            svg: SVGChart(title: "Input-dependent share of E[z²], \(v.scheme)", xAxis: axis, yLabel: "between-sample share",
                          yScale: .log10, series: share, caption: dropoutNote.first).render()))
    }
    // Per variant: histograms at initialisation and over training, saturation (HistogramFigures.swift).
    for (i, v) in variants.enumerated() { figures += histogramFigures(variant: v, label: names[i]) }
    return figures
}

/// The figure files shown in variant `slug`'s own section (not in the common list), in order.
func reportVariantFigureFiles(_ slug: String) -> [String] {
    ["meanfield_\(slug).svg", "correlation_\(slug).svg", "activation_hist_\(slug).svg", "gradient_hist_\(slug).svg",
     "activation_heatmap_\(slug).svg", "saturation_\(slug).svg"]
}

// MARK: - README

/// Image alt text: brackets would end the markdown link text early.
func reportAlt(_ text: String) -> String {
    text.replacingOccurrences(of: "[", with: "(").replacingOccurrences(of: "]", with: ")")
}

func reportCell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }

/// The README of a sweep: the answer first, then the table, the figures, one section per variant
/// and how to reproduce it.
public func sweepReadme(netName: String, data: String, iterations: Int, variants: [SweepVariantResult],
                        figures: [ReportFigure], command: String, machine: String,
                        fix: FixedCopyOutcome? = nil) -> String {
    var md = "# initdiag sweep: \(netName)\n\n"
    if let p = fixedParagraph(fix) { md += p + "\n\n" }
    // `sweep --no-early-stop` puts "early_stop": "off" into every trace's run_identity (a JSON
    // object of strings, docs/trace-format.md): those variants ran to the ceiling.
    let ranToCeiling = !variants.isEmpty && variants.allSatisfy { v in
        guard let json = v.run.attributes["run_identity"]?.data(using: .utf8),
              let identity = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return false }
        return identity["early_stop"] as? String == "off"
    }
    let stopping = ranToCeiling ? "every variant run to the ceiling, the early stop off" : "a variant stops once its verdict has settled"
    md += "\(variants.count) initialisation scheme\(variants.count == 1 ? "" : "s"), up to \(iterations) iterations each (\(stopping)), data `\(data)`.\n\n"
    md += "## Answer\n\n" + explainSweep(variants.map(\.outcome)) + "\n\n"

    md += "## Summary\n\n"
    md += "| scheme | verdict | iterations | loss first | loss at the end¹ | test accuracy | first collapsed layer |\n"
    md += "|---|---|---:|---:|---:|---:|---|\n"
    for v in variants {
        let first = v.run.loss.first.map { diagFormat($0, digits: 5) } ?? "—"
        let last = (v.diagnosis.numbers.lossTailMean ?? v.run.loss.last).map { diagFormat($0, digits: 5) } ?? "—"
        let ran = v.run.iterations.last.map { String($0 + 1) } ?? "—"
        md += "| `\(reportCell(v.scheme))` | \(v.diagnosis.verdict.rawValue) | \(ran) | \(first) | \(last) | \(v.testAccuracy.map(diagPercent) ?? "—") | \(reportCell(v.diagnosis.firstCollapsedLayer ?? "—")) |\n"
    }
    md += "\n1. The mean training loss over the last tenth of each variant's recorded steps (one batch's loss is noisy; summary.json's `loss_last` is the last step's).\n\n"

    md += "## Figures\n\n"
    let perVariant = Set(variants.flatMap { reportVariantFigureFiles($0.slug) })
    for f in figures where !perVariant.contains(f.file) {
        md += "![\(reportAlt(f.caption))](figures/\(f.file))\n\n\(f.caption)\n\n"
    }
    md += "Mean-field predictions vs measurements, and the histograms of activations and gradients (at initialisation and over training), are in each variant's section.\n\n"

    md += "## Variants\n\n"
    for v in variants {
        md += "### `\(v.scheme)`\n\n"
        md += "Verdict **\(v.diagnosis.verdict.rawValue)** · trace [\(v.trace)](\(v.trace))\n\n"
        md += v.diagnosis.explanation + "\n\n"
        if v.diagnosis.findings.isEmpty {
            md += "No findings.\n\n"
        } else {
            md += "Findings:\n\n"
            // One line per kind: per-layer findings of the same kind are listed together.
            var kinds: [FindingKind] = []
            for f in v.diagnosis.findings where !kinds.contains(f.kind) { kinds.append(f.kind) }
            for kind in kinds {
                let group = v.diagnosis.findings.filter { $0.kind == kind }
                if group.count == 1, let f = group.first {
                    md += "- **\(kind.rawValue)**\(f.layer.map { " (\($0))" } ?? ""): \(f.detail)\n"
                } else {
                    md += "- **\(kind.rawValue)** in \(group.count) layers:\n"
                    for f in group { md += "  - \(f.layer ?? "net"): \(f.detail)\n" }
                }
            }
            md += "\n"
        }
        let mine = reportVariantFigureFiles(v.slug)
        for f in figures where mine.prefix(2).contains(f.file) {
            md += "![\(reportAlt(f.caption))](figures/\(f.file))\n\n"
        }
        if let note = meanFieldNote(v.diagnosis.initial) { md += note + "\n\n" }
        for f in figures where mine.dropFirst(2).contains(f.file) {
            md += "![\(reportAlt(f.caption))](figures/\(f.file))\n\n\(f.caption)\n\n"
        }
    }

    md += "## Reproduce\n\n```\n\(command)\n```\n\n"
    md += "initdiag \(initdiagVersion) · machine: \(machine)\n"
    return md
}

// MARK: - Where mean field does not apply

/// The chained value of a snapshot for the figures: nil (not drawn) where the chain descends from
/// a restart (`LayerSnapshot.chainRestartedAt`): after a standardisation the "prediction" would be
/// a measurement carried forward, not mean field from the data.
func reportChained(_ value: KeyPath<LayerSnapshot, Double?>) -> (LayerSnapshot) -> Double? {
    { $0.chainRestartedAt == nil ? $0[keyPath: value] : nil }
}

/// A note for a variant's mean-field figures: which weighted layers get no chained prediction
/// and why (the layer where the chain restarted and its rule); nil when the chain runs unbroken.
public func meanFieldNote(_ snaps: [LayerSnapshot]) -> String? {
    let weighted = snaps.filter { $0.role == .weighted && $0.chainSecondMoment != nil }
    var origins: [String] = []
    for s in weighted { if let o = s.chainRestartedAt, !origins.contains(o) { origins.append(o) } }
    guard !origins.isEmpty else { return nil }
    let rules = Dictionary(snaps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    var parts: [String] = []
    for o in origins {
        let after = weighted.filter { $0.chainRestartedAt == o }.map { "`\($0.name)`" }.joined(separator: ", ")
        let why: String
        switch rules[o]?.meanField {
        case .standardize?:
            why = "standardises with batch statistics (BatchNorm in training mode): mean field over random weights does not describe what follows it"
        case .restart?:
            why = "has no mean-field map (its rule is `restart`)"
        default:
            why = "has a map that could not be applied here"
        }
        parts.append("`\(o)` (\(rules[o]?.type ?? "?")) \(why); no chained prediction is drawn for \(after) — the one-step prediction from the measured input still is")
    }
    return "Mean field does not apply everywhere: " + parts.joined(separator: "; ") + "."
}
