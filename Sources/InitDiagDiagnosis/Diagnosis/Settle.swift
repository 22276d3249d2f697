import InitDiagCore
import InitDiagTrace
import Foundation

/// Which settling rule settled a record, with the stretch of recorded steps it looked at
/// (RULES.md, "Early stop"). `settledVerdict` returns its verdict; `diagnose` quotes its stretch
/// as the evidence of rule 2b.
public struct SettledOutcome: Sendable, Equatable {
    public enum Rule: String, Sendable, Equatable {
        /// Non-finite values (rule 1).
        case diverged
        /// The mean loss of the last `settleSteps` below `settleLearningFraction`·ln C.
        case learning
        /// The same mean over the last `settleShortSteps` only.
        case learningShort = "learning-short"
        /// The last `settleSteps`, all at iterations ≥ `settleMinIteration`, in the settle band
        /// with the logits cut off from the input.
        case stuck
        /// The input collapsed at the first recorded step and stayed collapsed at every step
        /// since; the last `settleShortSteps` in the settle band.
        case stuckCollapsedAtStart = "stuck-collapsed-at-start"
    }
    public var verdict: Verdict
    public var rule: Rule
    /// Recorded steps `stretch` (indices into `RunRecord.iterations`); empty for `diverged`.
    public var stretch: Range<Int>
    /// For `stuckCollapsedAtStart`: the first layer of the collapse at the first recorded step.
    public var collapsedLayer: String?
}

/// The early-stop rule of the sweep: a verdict as soon as more steps cannot change it, else nil.
/// See `settledOutcome` for the rules.
public func settledVerdict(_ run: RunRecord, classes: Int = 10,
                           thresholds: DiagnosisThresholds = .default) -> Verdict? {
    settledOutcome(run, classes: classes, thresholds: thresholds)?.verdict
}

/// The settling rules, first that applies (RULES.md, "Early stop"; numbers on `DiagnosisThresholds`):
///
/// - `diverged`: a non-finite loss or a non-finite count in any recorded series, or status
///   "diverged" (nothing recovers from NaN weights).
/// - `learning`: the mean loss of the last `settleSteps` recorded steps, or of the last
///   `settleShortSteps`, below `settleLearningFraction`·ln C.
/// - `stuck-at-chance` (long): the last `settleSteps` recorded steps all at iterations ≥
///   `settleMinIteration`, their losses in the settle band (`inSettleBand`) and the logits cut off
///   from the input at each of them (`logitsIndependentOfInput`).
/// - `stuck-at-chance` (short): the input gone from some layer on at the first recorded step and
///   at every recorded step since (`collapsedFromStart`), and the last `settleShortSteps` losses
///   in the settle band.
///
/// Linear in the size of the record; the trainer calls it every `settleCheckEvery` recorded steps.
public func settledOutcome(_ run: RunRecord, classes: Int = 10,
                           thresholds th: DiagnosisThresholds = .default) -> SettledOutcome? {
    if run.status == "diverged" || firstNonFinite(run) != nil {
        return SettledOutcome(verdict: .diverged, rule: .diverged, stretch: 0..<0)
    }
    let n = min(run.loss.count, run.iterations.count)
    let lnC = log(Double(max(classes, 1)))
    func mean(_ r: Range<Int>) -> Double { r.reduce(0.0) { $0 + run.loss[$1] } / Double(r.count) }
    let long = th.settleSteps > 0 && n >= th.settleSteps ? (n - th.settleSteps)..<n : nil
    let short = th.settleShortSteps > 0 && n >= th.settleShortSteps ? (n - th.settleShortSteps)..<n : nil
    if let long, mean(long) < th.settleLearningFraction * lnC {
        return SettledOutcome(verdict: .learning, rule: .learning, stretch: long)
    }
    if let short, mean(short) < th.settleLearningFraction * lnC {
        return SettledOutcome(verdict: .learning, rule: .learningShort, stretch: short)
    }
    // A plateau is never settled as stuck: saturated, or with the input coming back, it may
    // still leave ln C (Saturation.swift).
    if n > 0, onPlateau(run, step: n - 1, thresholds: th) { return nil }
    if let long, run.iterations[long.lowerBound] >= th.settleMinIteration,
       inSettleBand(run, long, lnC: lnC, thresholds: th),
       long.allSatisfy({ logitsIndependentOfInput(run, step: $0, thresholds: th) }) {
        return SettledOutcome(verdict: .stuckAtChance, rule: .stuck, stretch: long)
    }
    if let short, inSettleBand(run, short, lnC: lnC, thresholds: th),
       let p = collapsedFromStart(run, steps: n, thresholds: th),
       short.allSatisfy({ logitsIndependentOfInput(run, step: $0, thresholds: th) }) {
        return SettledOutcome(verdict: .stuckAtChance, rule: .stuckCollapsedAtStart, stretch: short,
                              collapsedLayer: run.layers[p].name)
    }
    return nil
}

/// The settle band of the stuck rules over `stretch`: no loss below ln C − `settleChanceBand`·ln C,
/// the mean at most (1 + `chanceBandAbove`)·ln C, and either every loss within
/// `settleChanceBand`·ln C of ln C or (one-sided) the mean above ln C.
func inSettleBand(_ run: RunRecord, _ stretch: Range<Int>, lnC: Double, thresholds th: DiagnosisThresholds) -> Bool {
    let band = th.settleChanceBand * lnC
    let mean = stretch.reduce(0.0) { $0 + run.loss[$1] } / Double(max(stretch.count, 1))
    return !stretch.isEmpty
        && stretch.allSatisfy({ run.loss[$0] > lnC - band })
        && mean <= lnC * (1 + th.chanceBandAbove)
        && (stretch.allSatisfy({ abs(run.loss[$0] - lnC) < band }) || mean > lnC)
}

/// The position in `run.layers` of the first layer from which the output has not depended on the
/// input at any of the first `steps` recorded steps: the `input-collapse` finding's rule applied to
/// each layer's *largest* input dependence over those steps — that largest value below
/// `collapseInputDependence` at the layer and at every later layer of its segment (segments end at
/// a layer with independent per-sample noise, Dropout in TRAIN). So the input was gone from that
/// layer on at the first recorded step and has stayed gone at every step since. Only layers up to
/// the logits (`logitsLayerPosition`) count: a collapse after them says nothing about the
/// prediction. A layer's input dependence is `input_dependence`, else (between_sample_std/std)²,
/// 0 for a constant blob (as `layerSnapshots`); a step where it is not measured counts as not
/// collapsed. Nil when there is no such layer.
func collapsedFromStart(_ run: RunRecord, steps n: Int, thresholds th: DiagnosisThresholds) -> Int? {
    guard n > 0, let logits = logitsLayerPosition(run) else { return nil }
    func dependence(_ l: LayerRecord, _ step: Int) -> Double? {
        if let d = l.value("forward/input_dependence", at: step), d.isFinite { return d }
        if let b = l.value("forward/between_sample_std", at: step), let s = l.value("forward/std", at: step), b.isFinite {
            if s > 0 { return (b / s) * (b / s) }
            if s == 0 { return 0 }
        }
        return nil
    }
    // The largest input dependence of each layer over the steps (+∞ when a step is unmeasured).
    func largest(_ l: LayerRecord) -> Double {
        var m = -Double.infinity
        for step in 0..<n { m = max(m, dependence(l, step) ?? .infinity) }
        return m
    }
    let candidates = (0...logits).filter {
        !run.layers[$0].isData && !run.layers[$0].isLossOrMetric && dependence(run.layers[$0], 0) != nil
    }
    var segments: [[Int]] = [[]]
    for p in candidates {
        if case .independentNoise = run.layers[p].meanFieldRule { segments.append([]) } else { segments[segments.count - 1].append(p) }
    }
    for segment in segments {
        var first: Int? = nil
        for p in segment.reversed() {
            guard largest(run.layers[p]) < th.collapseInputDependence else { break }
            first = p
        }
        if let first { return first }
    }
    return nil
}

/// Whether, at a recorded step, the logits no longer carry anything of the input: their
/// between_sample_std is below `logitSpreadMax` (docs/verdicts.md), or a layer upstream of them has
/// collapsed (`input_dependence` below `collapseInputDependence`), so nothing downstream can
/// bring the input back. The second form matters in TRAIN phase with Dropout after the collapse
/// (the seed net's drop6/drop7): the masks differ per sample and give the logits a between-sample
/// spread that is pure noise, not input.
public func logitsIndependentOfInput(_ run: RunRecord, step: Int, thresholds th: DiagnosisThresholds = .default) -> Bool {
    guard let logits = logitsLayerPosition(run) else { return false }
    if let spread = run.layers[logits].series["forward/between_sample_std"], step < spread.count,
       spread[step] < th.logitSpreadMax {
        return true
    }
    for p in 0..<logits where !run.layers[p].isData {
        if let d = run.layers[p].series["forward/input_dependence"], step < d.count,
           d[step].isFinite, d[step] < th.collapseInputDependence {
            return true
        }
    }
    return false
}
