import InitDiagCore
import InitDiagTrace
import Foundation

/// `DIR/summary.json` (docs/summary-json.md). Keys are the contract's; absent values are explicit nulls, and
/// non-finite losses (a diverged run's last loss) are written as null — JSON has no NaN.
///
/// Beyond the first keys of docs/summary-json.md:
/// - `cause`: why the declared initialisation does not train, or null when it learns (or no
///   variant is the declared one): `{"text": the explanation's cause paragraph (markdown),
///   "first_collapsed_layer": layer or null, "kinds": the declared variant's finding kinds}`.
/// - `recommendation`: the variant the report recommends, or null when none learned:
///   `{"scheme", "slug", "verdict", "test_accuracy", "loss_last", "barely_below_chance": its
///   window mean loss still ≥ barelyLearningLossFraction·ln C, "text": the README's sentence}`.
public struct SweepSummary: Codable, Sendable, Equatable {
    public var net: String
    public var data: String
    public var iterations: Int
    public var variants: [SweepSummaryVariant]
    public var cause: SweepCause?
    public var recommendation: SweepRecommendation?

    public init(net: String, data: String, iterations: Int, variants: [SweepSummaryVariant],
                cause: SweepCause? = nil, recommendation: SweepRecommendation? = nil) {
        self.net = net; self.data = data; self.iterations = iterations; self.variants = variants
        self.cause = cause; self.recommendation = recommendation
    }

    enum CodingKeys: String, CodingKey { case net, data, iterations, variants, cause, recommendation }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(net, forKey: .net)
        try c.encode(data, forKey: .data)
        try c.encode(iterations, forKey: .iterations)
        try c.encode(variants, forKey: .variants)
        if let cause { try c.encode(cause, forKey: .cause) } else { try c.encodeNil(forKey: .cause) }
        if let recommendation { try c.encode(recommendation, forKey: .recommendation) } else { try c.encodeNil(forKey: .recommendation) }
    }
}

public struct SweepCause: Codable, Sendable, Equatable {
    public var text: String
    public var firstCollapsedLayer: String?
    public var kinds: [String]
    enum CodingKeys: String, CodingKey { case text, kinds, firstCollapsedLayer = "first_collapsed_layer" }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(text, forKey: .text)
        try c.encode(kinds, forKey: .kinds)
        if let firstCollapsedLayer { try c.encode(firstCollapsedLayer, forKey: .firstCollapsedLayer) } else { try c.encodeNil(forKey: .firstCollapsedLayer) }
    }
}

public struct SweepRecommendation: Codable, Sendable, Equatable {
    public var scheme: String
    public var slug: String
    public var verdict: Verdict
    public var testAccuracy: Double?
    public var lossLast: Double?
    public var barelyBelowChance: Bool
    public var text: String
    enum CodingKeys: String, CodingKey {
        case scheme, slug, verdict, text
        case testAccuracy = "test_accuracy", lossLast = "loss_last", barelyBelowChance = "barely_below_chance"
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(scheme, forKey: .scheme)
        try c.encode(slug, forKey: .slug)
        try c.encode(verdict, forKey: .verdict)
        try reportEncodeNumber(testAccuracy, &c, .testAccuracy)
        try reportEncodeNumber(lossLast, &c, .lossLast)
        try c.encode(barelyBelowChance, forKey: .barelyBelowChance)
        try c.encode(text, forKey: .text)
    }
}

public struct SweepSummaryVariant: Codable, Sendable, Equatable {
    public var scheme: String
    public var slug: String
    public var trace: String
    public var verdict: Verdict
    public var lossFirst: Double?
    public var lossLast: Double?
    public var testAccuracy: Double?
    public var firstCollapsedLayer: String?
    public var findings: [Finding]
    /// Iterations the variant ran (it stops once its verdict settles, at most the sweep's
    /// `iterations`); an extension of docs/summary-json.md, null when unknown.
    public var iterationsRun: Int?

    public init(scheme: String, slug: String, trace: String, verdict: Verdict, lossFirst: Double?,
                lossLast: Double?, testAccuracy: Double?, firstCollapsedLayer: String?, findings: [Finding],
                iterationsRun: Int? = nil) {
        self.scheme = scheme; self.slug = slug; self.trace = trace; self.verdict = verdict
        self.lossFirst = lossFirst; self.lossLast = lossLast; self.testAccuracy = testAccuracy
        self.firstCollapsedLayer = firstCollapsedLayer; self.findings = findings; self.iterationsRun = iterationsRun
    }

    enum CodingKeys: String, CodingKey {
        case scheme, slug, trace, verdict, findings
        case lossFirst = "loss_first", lossLast = "loss_last", testAccuracy = "test_accuracy"
        case firstCollapsedLayer = "first_collapsed_layer", iterationsRun = "iterations_run"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        scheme = try c.decode(String.self, forKey: .scheme)
        slug = try c.decode(String.self, forKey: .slug)
        trace = try c.decode(String.self, forKey: .trace)
        verdict = try c.decode(Verdict.self, forKey: .verdict)
        lossFirst = try c.decodeIfPresent(Double.self, forKey: .lossFirst)
        lossLast = try c.decodeIfPresent(Double.self, forKey: .lossLast)
        testAccuracy = try c.decodeIfPresent(Double.self, forKey: .testAccuracy)
        firstCollapsedLayer = try c.decodeIfPresent(String.self, forKey: .firstCollapsedLayer)
        findings = try c.decode([Finding].self, forKey: .findings)
        iterationsRun = try c.decodeIfPresent(Int.self, forKey: .iterationsRun)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(scheme, forKey: .scheme)
        try c.encode(slug, forKey: .slug)
        try c.encode(trace, forKey: .trace)
        try c.encode(verdict, forKey: .verdict)
        try reportEncodeNumber(lossFirst, &c, .lossFirst)
        try reportEncodeNumber(lossLast, &c, .lossLast)
        try reportEncodeNumber(testAccuracy, &c, .testAccuracy)
        if let firstCollapsedLayer { try c.encode(firstCollapsedLayer, forKey: .firstCollapsedLayer) }
        else { try c.encodeNil(forKey: .firstCollapsedLayer) }
        try c.encode(findings, forKey: .findings)
        if let iterationsRun { try c.encode(iterationsRun, forKey: .iterationsRun) } else { try c.encodeNil(forKey: .iterationsRun) }
    }
}

func reportEncodeNumber<K: CodingKey>(_ v: Double?, _ c: inout KeyedEncodingContainer<K>, _ key: K) throws {
    if let v, v.isFinite { try c.encode(v, forKey: key) } else { try c.encodeNil(forKey: key) }
}

/// Sorted keys, two-space indentation, "/" unescaped: stable bytes for the same content.
func reportJSONEncoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return e
}

/// The findings as the JSON text the trace's `/diagnosis` attribute `findings` holds (docs/trace-format.md, docs/verdicts.md):
/// a compact array of `{"detail", "kind", "layer"}` objects.
public func findingsJSON(_ findings: [Finding]) -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Encoding strings and enums cannot fail; an empty array is the honest fallback if it ever did.
    guard let data = try? e.encode(findings), let text = String(data: data, encoding: .utf8) else { return "[]" }
    return text
}

/// `initdiag diagnose --json`: the verdict, findings and the numbers behind them.
public struct DiagnosisJSON: Encodable {
    public var diagnosis: Diagnosis
    public init(_ diagnosis: Diagnosis) { self.diagnosis = diagnosis }

    enum Keys: String, CodingKey {
        case verdict, findings, explanation, classes
        case lossFirst = "loss_first", lossLast = "loss_last", testAccuracy = "test_accuracy"
        case firstCollapsedLayer = "first_collapsed_layer", chanceLoss = "chance_loss"
        case recordedSteps = "recorded_steps", windowFirstIteration = "window_first_iteration"
        case windowLastIteration = "window_last_iteration", windowMeanLoss = "window_mean_loss"
        case windowMaxDeviation = "window_max_deviation", logitsLayer = "logits_layer"
        case logitsBetweenSampleStd = "logits_between_sample_std", nonFinite = "non_finite"
    }
    enum SiteKeys: String, CodingKey { case iteration, layer, blob }

    public func encode(to encoder: any Encoder) throws {
        let d = diagnosis, n = d.numbers
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(d.verdict, forKey: .verdict)
        try c.encode(d.findings, forKey: .findings)
        try c.encode(d.explanation, forKey: .explanation)
        try c.encode(n.classes, forKey: .classes)
        try c.encode(n.chanceLoss, forKey: .chanceLoss)
        try c.encode(n.recordedSteps, forKey: .recordedSteps)
        try reportEncodeNumber(n.lossFirst, &c, .lossFirst)
        try reportEncodeNumber(n.lossLast, &c, .lossLast)
        try reportEncodeNumber(n.lastTestAccuracy, &c, .testAccuracy)
        try reportEncodeNumber(n.windowMeanLoss, &c, .windowMeanLoss)
        try reportEncodeNumber(n.windowMaxDeviation, &c, .windowMaxDeviation)
        try reportEncodeNumber(n.logitsBetweenSampleStd, &c, .logitsBetweenSampleStd)
        if let v = d.firstCollapsedLayer { try c.encode(v, forKey: .firstCollapsedLayer) } else { try c.encodeNil(forKey: .firstCollapsedLayer) }
        if let v = n.windowFirstIteration { try c.encode(v, forKey: .windowFirstIteration) } else { try c.encodeNil(forKey: .windowFirstIteration) }
        if let v = n.windowLastIteration { try c.encode(v, forKey: .windowLastIteration) } else { try c.encodeNil(forKey: .windowLastIteration) }
        if let v = n.logitsLayer { try c.encode(v, forKey: .logitsLayer) } else { try c.encodeNil(forKey: .logitsLayer) }
        if let site = n.nonFinite {
            var s = c.nestedContainer(keyedBy: SiteKeys.self, forKey: .nonFinite)
            try s.encode(site.iteration, forKey: .iteration)
            if let layer = site.layer { try s.encode(layer, forKey: .layer) } else { try s.encodeNil(forKey: .layer) }
            try s.encode(site.blob, forKey: .blob)
        } else {
            try c.encodeNil(forKey: .nonFinite)
        }
    }
}

/// `initdiag diagnose --json` output (sorted keys, pretty-printed, ends with a newline).
public func formatDiagnosisJSON(_ diagnosis: Diagnosis) throws -> String {
    let data = try reportJSONEncoder().encode(DiagnosisJSON(diagnosis))
    return (String(data: data, encoding: .utf8) ?? "{}") + "\n"
}

/// `initdiag diagnose` plain-text output: verdict, loss, findings, then the explanation with its
/// markdown emphasis removed.
public func formatDiagnosisText(_ d: Diagnosis, trace: String? = nil) -> String {
    let n = d.numbers
    var lines: [String] = []
    if let trace { lines.append("trace:                 \(trace)") }
    lines.append("verdict:               \(d.verdict.rawValue)")
    let tail = n.lossTailSteps > 1 ? n.lossTailMean.map { ", mean of the last \(n.lossTailSteps): \(diagFormat($0, digits: 5))" } ?? "" : ""
    lines.append("loss:                  \(n.lossFirst.map { diagFormat($0, digits: 5) } ?? "—") → \(n.lossLast.map { diagFormat($0, digits: 5) } ?? "—")\(tail)   (ln \(n.classes) = \(String(format: "%.4f", n.chanceLoss)), \(n.recordedSteps) recorded steps)")
    lines.append("test accuracy:         \(n.lastTestAccuracy.map(diagPercent) ?? "—")")
    lines.append("first collapsed layer: \(d.firstCollapsedLayer ?? "—")")
    if d.findings.isEmpty {
        lines.append("findings:              none")
    } else {
        lines.append("findings:")
        let kindWidth = d.findings.map(\.kind.rawValue.count).max() ?? 0
        let layerWidth = d.findings.map { ($0.layer ?? "-").count }.max() ?? 0
        for f in d.findings {
            let kind = f.kind.rawValue.padding(toLength: kindWidth, withPad: " ", startingAt: 0)
            let layer = (f.layer ?? "-").padding(toLength: layerWidth, withPad: " ", startingAt: 0)
            lines.append("  \(kind)  \(layer)  \(f.detail)")
        }
    }
    let plain = d.explanation.replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "`", with: "")
    return lines.joined(separator: "\n") + "\n\n" + plain + "\n"
}

/// What the initialisation predicts, for `initdiag probe` to lead with: where the input is gone
/// (the net cannot learn until that changes), the cause the findings name, and what to try; or
/// that nothing at initialisation stops the net from learning, with the other findings.
public func formatProbePrediction(_ d: Diagnosis, run: RunRecord) -> String {
    var lines: [String] = []
    let dominated = d.findings.filter { $0.kind == .biasDominated }.compactMap(\.layer)
    let fillers: [String] = dominated.compactMap { name in run.layers.first { $0.name == name }?.attributes["bias_filler"] }
    // The trace's label ("as-declared xavier U(±1.732)") or a prototxt fragment ("type: \"xavier\"").
    let fillerText = fillers.first.map { f -> String in
        if f.contains("\"") { return "\(f.components(separatedBy: "\"").dropFirst().first ?? f) bias filler" }
        let label = f.hasPrefix("as-declared ") ? String(f.dropFirst("as-declared ".count)) : f
        let type = label.split(separator: " ").first.map(String.init) ?? label
        return type == label ? "\(type) bias filler" : "\(type) bias filler (\(label.dropFirst(type.count + 1)))"
    }
    if let layer = d.firstCollapsedLayer {
        lines.append("prediction: the input is gone from \(layer) on at initialisation: this net cannot learn until that changes.")
        if let fillerText, !dominated.isEmpty {
            let shown = dominated.prefix(3).joined(separator: ", ") + (dominated.count > 3 ? ", …" : "")
            lines.append("cause:      the \(fillerText): the bias dominates the pre-activation in \(dominated.count) layer\(dominated.count == 1 ? "" : "s") (\(shown)), the same constant for every input, and depth leaves nothing else.")
            lines.append("try:        bias_filler { type: \"constant\" } in every Convolution/InnerProduct (or BatchNorm + Scale after each convolution); `initdiag sweep` shows which scheme trains.")
        } else if d.findings.contains(where: { $0.kind == .vanishingActivation || $0.kind == .deadUnits }) {
            lines.append("cause:      the signal shrinks or dies before \(layer) (see the findings below).")
            lines.append("try:        weight_filler { type: \"msra\" } (He) for ReLU nets, or BatchNorm; `initdiag sweep` shows which scheme trains.")
        } else {
            lines.append("try:        `initdiag sweep` (the schemes that could explain it, each trained briefly).")
        }
    } else if !dominated.isEmpty, let fillerText {
        lines.append("prediction: the input still reaches the logits at initialisation, but the \(fillerText) dominates \(dominated.count) pre-activation\(dominated.count == 1 ? "" : "s"): training may lose it.")
        lines.append("try:        bias_filler { type: \"constant\" }; `initdiag sweep` shows which scheme trains.")
    } else {
        lines.append("prediction: the input reaches the logits at initialisation: nothing in the initialisation stops this net from learning; `initdiag train` or `initdiag sweep` shows whether it does.")
        let other = d.findings.filter { $0.kind != .inputCollapse }
        if let f = other.first { lines.append("but:        \(f.kind.rawValue)\(f.layer.map { " at \($0)" } ?? ""): \(f.detail)") }
    }
    return lines.joined(separator: "\n") + "\n"
}
