import InitDiagCore
import InitDiagTrace
import Foundation

/// Where the first non-finite value of a run appeared.
public struct NonFiniteSite: Sendable, Equatable {
    /// The solver iteration of the recorded step.
    public var iteration: Int
    /// The layer, nil when only the loss was non-finite and no loss layer is known.
    public var layer: String?
    /// Which blob: "forward" (the layer's top), "backward" (the gradient into its bottom),
    /// "param0/data", "param1/grad", … (docs/trace-format.md group names) or "loss".
    public var blob: String
}

/// The numbers the verdict was decided on (all in the units of the trace).
public struct DiagnosisNumbers: Sendable, Equatable {
    public var classes: Int
    /// ln C: the cross-entropy of a prediction that ignores the input, on balanced classes.
    public var chanceLoss: Double
    public var recordedSteps: Int
    public var lossFirst: Double?
    public var lossLast: Double?
    /// The mean loss over the last tenth of the recorded steps (at least one): where a run ended,
    /// without one batch's noise (a batch of 10 moves the loss by ±0.5 from step to step).
    public var lossTailMean: Double?
    public var lossTailSteps: Int = 0
    /// The verdict window (the last `windowFraction` of the recorded steps).
    public var windowFirstIteration: Int?
    public var windowLastIteration: Int?
    public var windowSteps: Int
    public var windowMeanLoss: Double?
    /// max over the window of |loss − ln C|.
    public var windowMaxDeviation: Double?
    /// The layer whose top feeds the loss (the logits) and its largest between_sample_std in the window.
    public var logitsLayer: String?
    public var logitsBetweenSampleStd: Double?
    /// The first recorded iteration from which every later loss is within `chanceBand`·ln C of
    /// ln C (nil when the last loss is outside the band), how many recorded steps that stretch has
    /// and its largest |loss − ln C|.
    public var bandEntryIteration: Int?
    public var bandSteps: Int
    public var bandMaxDeviation: Double?
    public var lastTestAccuracy: Double?
    /// The test the accuracy rule looked at: the last one at an iteration > 0, its images (the
    /// trace's `test_samples` attribute, else one batch: `batch_size`) and the accuracy it had to
    /// exceed; nil when there is none.
    public var testEvidence: TestEvidence?
    public var nonFinite: NonFiniteSite?
    /// What the verdict rests on (nil for inconclusive and diverged).
    public var evidence: VerdictEvidence?
}

/// A test phase as evidence (see `DiagnosisThresholds.testAccuracyZ`).
public struct TestEvidence: Sendable, Equatable {
    public var iteration: Int
    public var accuracy: Double
    public var samples: Int
    /// 1/C + max(margin, z·√(p(1−p)/n)); +∞ when `samples` is below the minimum.
    public var threshold: Double
    public var enoughSamples: Bool
}

/// The rule a verdict was decided by, with the steps it looked at.
public enum VerdictEvidence: Sendable, Equatable {
    /// Rule 2, test accuracy.
    case testAccuracy(TestEvidence)
    /// Rule 2, the window's mean loss below learningLossFraction·ln C.
    case windowMeanLoss(first: Int, last: Int, steps: Int, mean: Double)
    /// Rule 2b, the early stop's stretch (learning or stuck).
    case settled(first: Int, last: Int, steps: Int, mean: Double, maxDeviation: Double)
    /// Rule 2b by a short-stretch rule (`settleShortSteps`): learning, or stuck with the input
    /// collapsed since the first recorded step from `collapsedLayer` on.
    case settledShort(first: Int, last: Int, steps: Int, mean: Double, maxDeviation: Double, collapsedLayer: String?)
    /// Rule 3, the window within the band (symmetric, or one-sided above ln C).
    case windowInBand(first: Int, last: Int, steps: Int, mean: Double, maxDeviation: Double, oneSided: Bool)
}

/// The diagnosis of one run: verdict, findings, the first collapsed layer, a plain-English
/// explanation (markdown paragraphs) and the numbers they rest on.
public struct Diagnosis: Sendable {
    public var verdict: Verdict
    public var findings: [Finding]
    /// See `FindingKind.inputCollapse`: at the first recorded step if the signal collapses there,
    /// else at the last finite recorded step (a collapse that training caused), else nil.
    public var firstCollapsedLayer: String?
    public var explanation: String
    public var numbers: DiagnosisNumbers
    /// Per-layer numbers at the first recorded step (initialisation).
    public var initial: [LayerSnapshot]
    /// The explanation's paragraphs that name the cause (filler, bias share, collapse): the sweep's
    /// answer quotes them.
    var causeParagraphs: [String] = []
}

/// Diagnoses one run (the rules are in RULES.md and on `DiagnosisThresholds`).
public func diagnose(_ run: RunRecord, classes: Int = 10,
                     thresholds: DiagnosisThresholds = .default) -> Diagnosis {
    let th = thresholds
    var numbers = verdictNumbers(run, classes: classes, thresholds: th)
    let verdict = decideVerdict(run, numbers: &numbers, thresholds: th)
    let initial = run.iterations.isEmpty ? [] : layerSnapshots(run, step: 0)
    var findings: [Finding] = []
    if let site = numbers.nonFinite { findings.append(nonFiniteFinding(site, run: run)) }
    let collapse = collapseFinding(run, thresholds: th)
    if let collapse { findings.append(collapse.finding) }
    findings += initFindings(run, initial: initial, thresholds: th)
    findings += trainingFindings(run, thresholds: th)
    findings += saturationFindings(run, thresholds: th)
    var d = Diagnosis(verdict: verdict, findings: findings, firstCollapsedLayer: collapse?.finding.layer,
                      explanation: "", numbers: numbers, initial: initial)
    let text = explainDiagnosis(d, run: run, collapse: collapse, thresholds: th)
    d.explanation = text.all.joined(separator: "\n\n")
    d.causeParagraphs = text.cause
    return d
}

// The early-stop rules (`settledVerdict`, `settledOutcome`, `logitsIndependentOfInput`) are in
// Settle.swift.

// MARK: - Verdict

func verdictNumbers(_ run: RunRecord, classes: Int, thresholds th: DiagnosisThresholds) -> DiagnosisNumbers {
    let n = min(run.loss.count, run.iterations.count)
    let lnC = log(Double(max(classes, 1)))
    let windowSteps = n == 0 ? 0 : max(1, Int((Double(n) * th.windowFraction).rounded(.down)))
    let window = (n - windowSteps)..<n
    var nums = DiagnosisNumbers(classes: classes, chanceLoss: lnC, recordedSteps: n,
                                windowSteps: windowSteps, bandSteps: 0)
    var entry = n
    while entry > 0, abs(run.loss[entry - 1] - lnC) < th.chanceBand * lnC { entry -= 1 }
    if entry < n {
        nums.bandEntryIteration = run.iterations[entry]
        nums.bandSteps = n - entry
        nums.bandMaxDeviation = (entry..<n).map { abs(run.loss[$0] - lnC) }.max()
    }
    nums.lossFirst = n > 0 ? run.loss[0] : nil
    nums.lossLast = n > 0 ? run.loss[n - 1] : nil
    if n > 0 {
        let k = max(1, n / 10)
        nums.lossTailSteps = k
        nums.lossTailMean = run.loss[(n - k)..<n].reduce(0, +) / Double(k)
    }
    if windowSteps > 0 {
        nums.windowFirstIteration = run.iterations[window.lowerBound]
        nums.windowLastIteration = run.iterations[n - 1]
        nums.windowMeanLoss = window.reduce(0.0) { $0 + run.loss[$1] } / Double(windowSteps)
        nums.windowMaxDeviation = window.map { abs(run.loss[$0] - lnC) }.max()
    }
    if let pos = logitsLayerPosition(run) {
        nums.logitsLayer = run.layers[pos].name
        if let s = run.layers[pos].series["forward/between_sample_std"], windowSteps > 0 {
            let values = window.compactMap { $0 < s.count ? s[$0] : nil }
            // The largest spread in the window: stuck means it stays tiny, not that it dips once.
            // NaN compares false, so `max(by:)` with `<` would hide it: check finiteness first.
            nums.logitsBetweenSampleStd = values.contains { !$0.isFinite } ? .nan : values.max()
        }
    }
    nums.lastTestAccuracy = run.testAccuracy.last
    nums.testEvidence = testEvidence(run, classes: classes, thresholds: th)
    nums.nonFinite = firstNonFinite(run)
    return nums
}

func decideVerdict(_ run: RunRecord, numbers: inout DiagnosisNumbers,
                   thresholds th: DiagnosisThresholds) -> Verdict {
    if numbers.nonFinite != nil || run.status == "diverged" { return .diverged }
    let lnC = numbers.chanceLoss
    if let t = numbers.testEvidence, t.enoughSamples, t.accuracy > t.threshold {
        numbers.evidence = .testAccuracy(t)
        return .learning
    }
    let n = min(run.loss.count, run.iterations.count)
    // A verdict the early stop reached is final: a sweep that stopped a run as settled must
    // not report it as anything else (its window can reach back before the settling stretch,
    // e.g. to steps before a collapse that training caused).
    if let settled = settledOutcome(run, classes: numbers.classes, thresholds: th),
       settled.verdict == .stuckAtChance || settled.verdict == .learning {
        let stretch = settled.stretch
        let first = run.iterations[stretch.lowerBound], last = run.iterations[stretch.upperBound - 1]
        let mean = stretch.reduce(0.0) { $0 + run.loss[$1] } / Double(stretch.count)
        let deviation = stretch.map { abs(run.loss[$0] - lnC) }.max() ?? .nan
        switch settled.rule {
        case .learningShort, .stuckCollapsedAtStart:
            numbers.evidence = .settledShort(first: first, last: last, steps: stretch.count, mean: mean,
                                             maxDeviation: deviation, collapsedLayer: settled.collapsedLayer)
        default:
            numbers.evidence = .settled(first: first, last: last, steps: stretch.count, mean: mean, maxDeviation: deviation)
        }
        return settled.verdict
    }
    guard numbers.windowSteps >= th.minWindowSteps, let mean = numbers.windowMeanLoss,
          let deviation = numbers.windowMaxDeviation,
          let first = numbers.windowFirstIteration, let last = numbers.windowLastIteration else { return .inconclusive }
    if mean < th.learningLossFraction * lnC {
        numbers.evidence = .windowMeanLoss(first: first, last: last, steps: numbers.windowSteps, mean: mean)
        return .learning
    }
    let window = (n - numbers.windowSteps)..<n
    // Symmetric band, or: nothing below the band and the mean not far above ln C (an
    // input-independent net can only do worse than chance, never better).
    let symmetric = deviation < th.chanceBand * lnC
    let inBand = symmetric
        || (window.allSatisfy { run.loss[$0] > lnC - th.chanceBand * lnC } && mean <= lnC * (1 + th.chanceBandAbove))
    if inBand, numbers.windowSteps > 0 {
        if window.allSatisfy({ logitsIndependentOfInput(run, step: $0, thresholds: th) }) {
            numbers.evidence = .windowInBand(first: first, last: last, steps: numbers.windowSteps, mean: mean,
                                             maxDeviation: deviation, oneSided: !symmetric)
            return onPlateau(run, step: n - 1, thresholds: th) ? .plateau : .stuckAtChance
        }
    }
    return .inconclusive
}

/// The last test at an iteration > 0 as evidence for rule 2 (a test at iteration 0 shows the
/// initialisation, not learning); nil when there is none.
func testEvidence(_ run: RunRecord, classes: Int, thresholds th: DiagnosisThresholds) -> TestEvidence? {
    let count = min(run.testIterations.count, run.testAccuracy.count)
    guard let k = (0..<count).last(where: { run.testIterations[$0] > 0 && run.testAccuracy[$0].isFinite }) else { return nil }
    let samples = run.attributes["test_samples"].flatMap { Int($0) } ?? run.attributes["batch_size"].flatMap { Int($0) } ?? 0
    let c = max(classes, 1)
    let p = 1 / Double(c)
    let enough = samples >= th.minTestSamplesPerClass * c
    let spread = samples > 0 ? th.testAccuracyZ * (p * (1 - p) / Double(samples)).squareRoot() : .infinity
    return TestEvidence(iteration: run.testIterations[k], accuracy: run.testAccuracy[k], samples: samples,
                        threshold: enough ? p + max(th.testAccuracyMargin, spread) : .infinity, enoughSamples: enough)
}

/// The position in `run.layers` of the layer whose top feeds the loss: the loss layer's (role
/// `loss`) first bottom, written last by the layer before it that records forward stats
/// (an in-place layer after the logits wins, as it is what the loss sees). Without a loss layer:
/// the last layer that is neither a loss/metric nor a data layer and records forward stats.
public func logitsLayerPosition(_ run: RunRecord) -> Int? {
    let hasForward: (LayerRecord) -> Bool = { $0.series["forward/between_sample_std"] != nil || $0.series["forward/std"] != nil }
    if let lossPos = run.layers.lastIndex(where: { $0.role == .loss }),
       let blob = diagList(run.layers[lossPos].attributes["bottoms"]).first {
        for p in stride(from: lossPos - 1, through: 0, by: -1)
        where diagList(run.layers[p].attributes["tops"]).contains(blob) && hasForward(run.layers[p]) {
            return p
        }
    }
    return run.layers.lastIndex { !$0.isLossOrMetric && !$0.isData && hasForward($0) }
}

/// The first non-finite value in execution order: the first recorded step with a non-finite loss
/// or a non-zero `nonfinite_count`; within it the forward pass (per layer in net order: its
/// weights, then its top), the loss, then the backward pass (reverse net order: the bottom
/// gradient, then the parameter gradients), then the update ratios.
///
/// One pass over each series, stopping at the best step found so far: linear in the trace's size.
func firstNonFinite(_ run: RunRecord) -> NonFiniteSite? {
    let n = run.iterations.count
    guard n > 0 else { return nil }
    struct Site { var layer: String?; var blob: String; var values: [Double]; var isCount: Bool }
    func sortedKeys(_ l: LayerRecord, _ suffix: String) -> [String] {
        l.series.keys.filter { $0.hasPrefix("param") && $0.hasSuffix(suffix) }.sorted()
    }
    var probes: [Site] = []
    for l in run.layers {
        for key in sortedKeys(l, "/data/nonfinite_count") {
            probes.append(Site(layer: l.name, blob: String(key.dropLast("/nonfinite_count".count)), values: l.series[key] ?? [], isCount: true))
        }
        if let v = l.series["forward/nonfinite_count"] { probes.append(Site(layer: l.name, blob: "forward", values: v, isCount: true)) }
    }
    let lossLayer = run.layers.last { $0.role == .loss }?.name
    probes.append(Site(layer: lossLayer, blob: "loss", values: run.loss, isCount: false))
    for l in run.layers.reversed() {
        if let v = l.series["backward/nonfinite_count"] { probes.append(Site(layer: l.name, blob: "backward", values: v, isCount: true)) }
        for key in sortedKeys(l, "/grad/nonfinite_count") {
            probes.append(Site(layer: l.name, blob: String(key.dropLast("/nonfinite_count".count)), values: l.series[key] ?? [], isCount: true))
        }
    }
    // update_ratio is not a divergence signal: it is +∞ by definition when a zero-initialised
    // blob (a bias under b=zero) first moves, and NaN where no update was made (probe). A real
    // blow-up shows in the next step's data/grad counts and in the loss.
    var best: (step: Int, probe: Int)? = nil
    for (i, probe) in probes.enumerated() {
        let limit = min(best?.step ?? n, n, probe.values.count)
        // A count is bad when positive (NaN means "not measured at this step"); a value when non-finite.
        if let step = probe.values[..<limit].firstIndex(where: { probe.isCount ? $0 > 0 : !$0.isFinite }) {
            best = (step, i)
        }
    }
    guard let best else { return nil }
    let probe = probes[best.probe]
    return NonFiniteSite(iteration: run.iterations[best.step], layer: probe.layer, blob: probe.blob)
}

// MARK: - Findings

func nonFiniteFinding(_ site: NonFiniteSite, run: RunRecord) -> Finding {
    let what: String
    switch site.blob {
    case "forward": what = "in its forward output (top blob)"
    case "backward": what = "in the gradient it wrote into its bottom"
    case "loss": what = "in the loss"
    default: what = "in \(site.blob)"
    }
    let name = site.layer.map { "\($0) " } ?? ""
    return Finding(kind: .nonFinite, layer: site.layer,
                   detail: "first non-finite value at iteration \(site.iteration): \(name)\(what)")
}

struct CollapseResult {
    var finding: Finding
    /// The recorded step it was found at (0 = initialisation).
    var step: Int
    var position: Int
    var inputDependence: Double
    /// The deepest layer checked (the logits, or the last layer recording forward stats) and its numbers.
    var deepestLayer: String
    var deepestRatio: Double
}

/// The first layer from which the blob stops depending on the input (see `FindingKind.inputCollapse`),
/// looked for at the first recorded step, else at the last finite one.
func collapseFinding(_ run: RunRecord, thresholds th: DiagnosisThresholds) -> CollapseResult? {
    guard !run.iterations.isEmpty else { return nil }
    var steps = [0]
    let finiteSteps = (0..<run.iterations.count).filter { $0 < run.loss.count && run.loss[$0].isFinite }
    if let last = finiteSteps.last, last != 0 { steps.append(last) }
    for step in steps {
        let snaps = layerSnapshots(run, step: step)
        let candidates = snaps.indices.filter {
            !snaps[$0].isData && !snaps[$0].isLossOrMetric && snaps[$0].inputDependence != nil
        }
        // Dropout in TRAIN gives every sample its own mask, so what follows it varies from sample
        // to sample whatever the input: the layers are split into segments at each layer with
        // independent per-sample noise (mean-field rule `noise`), and a collapse must hold ("and
        // stays") to the end of its segment. The first segment whose tail sits below the
        // threshold names the layer.
        var segments: [[Int]] = [[]]
        for p in candidates {
            if case .independentNoise = snaps[p].meanField { segments.append([]) } else { segments[segments.count - 1].append(p) }
        }
        var first: Int? = nil, lastCandidate: Int? = nil
        for segment in segments where first == nil {
            for p in segment.reversed() {
                guard let d = snaps[p].inputDependence, d.isFinite, d < th.collapseInputDependence else { break }
                first = p
            }
            if first != nil { lastCandidate = segment.last }
        }
        guard let first, let lastCandidate, let d = snaps[first].inputDependence else { continue }
        let deepest = snaps[lastCandidate]
        let deepestRatio = deepest.betweenSampleStd.flatMap { b in deepest.std.map { $0 > 0 ? b / $0 : 0 } }
            ?? (deepest.inputDependence ?? 0).squareRoot()
        let when = step == 0 ? "at initialisation" : "at iteration \(run.iterations[step])"
        let detail = "\(when) the output stops depending on the input from \(snaps[first].name) on: "
            + "input_dependence \(diagFormat(d)) (between-sample std \(diagPercent(d.squareRoot())) of std); "
            + "at \(deepest.name) between-sample std is \(diagPercent(deepestRatio)) of std"
        return CollapseResult(finding: Finding(kind: .inputCollapse, layer: snaps[first].name, detail: detail),
                              step: step, position: first, inputDependence: d,
                              deepestLayer: deepest.name, deepestRatio: deepestRatio)
    }
    return nil
}

/// Findings about the state at initialisation (the first recorded step).
func initFindings(_ run: RunRecord, initial snaps: [LayerSnapshot],
                  thresholds th: DiagnosisThresholds) -> [Finding] {
    var out: [Finding] = []
    // BatchNorm on global statistics that were never accumulated (the `bn_statistics_unset`
    // layer attribute holds the factor 1/√eps the layer multiplies by).
    for l in run.layers {
        guard let factor = diagNumber(l.attributes["bn_statistics_unset"]) else { continue }
        out.append(Finding(kind: .batchNormStatisticsUnset, layer: l.name,
                           detail: "use_global_stats is true but the mean/variance statistics were never accumulated (scale factor 0): the layer divides by √eps and multiplies its input by \(diagFormat(factor))"))
    }
    // Bias-dominated pre-activations.
    for s in snaps {
        guard let share = s.biasShare, share > th.biasShareMin, let sb = s.biasSecondMoment else { continue }
        // E[b²] can exceed the measured E[z²] (the weighted input partly cancels the bias in this
        // batch): no share above 100%.
        var detail = share <= 1
            ? "the bias holds \(diagPercent(share)) of the pre-activation's second moment "
                + "(E[b²] = \(diagFormat(sb)) of E[z²] = \(diagFormat(s.secondMoment ?? .nan)))"
            : "the bias alone is as large as the whole pre-activation: E[b²] = \(diagFormat(sb)) is \(diagFormat(share, digits: 2))× the measured E[z²] = \(diagFormat(s.secondMoment ?? .nan)) (the weighted input partly cancels the bias in this batch)"
        if let sw = s.sigmaW2 { detail += "; σ_w² = Var(w)·fan_in = \(diagFormat(sw))" }
        if let b = s.betweenShare { detail += "; only \(diagPercent(b)) of E[z²] varies with the input" }
        out.append(Finding(kind: .biasDominated, layer: s.name, detail: detail))
    }
    // Dead ReLU units. Only a trace without the `mean_field` attributes (written before they
    // existed, so no layer is known to be a rectifier) falls back to any layer's dead share: in a
    // net of sigmoids a logit ≤ 0 for every sample is not a dead unit.
    let reluDead = snaps.filter { $0.isRectifier && $0.deadFraction != nil }
    let knowsNonlinearities = snaps.contains { if case .pointwise = $0.meanField { return true } else { return false } }
    let deadPool = reluDead.isEmpty && !knowsNonlinearities
        ? snaps.filter { $0.deadFraction != nil && !$0.isLossOrMetric } : reluDead
    for s in deadPool {
        guard let f = s.deadFraction, f > th.deadFractionMin else { continue }
        out.append(Finding(kind: .deadUnits, layer: s.name,
                           detail: "\(diagPercent(f)) of the channels (units) are ≤ 0 for every sample and position at initialisation"))
    }
    // Activation scale through depth, relative to the input's RMS.
    if let data = snaps.first(where: { $0.isData }), let q0 = data.secondMoment, q0 > 0 {
        let rms0 = q0.squareRoot()
        if let big = snaps.first(where: { s in
            !s.isLossOrMetric && (s.secondMoment.map { $0.squareRoot() > th.activationGrowthMax * rms0 } ?? false)
        }), let q = big.secondMoment {
            out.append(Finding(kind: .explodingActivation, layer: big.name,
                               detail: "output RMS \(diagFormat(q.squareRoot())) is \(diagFormat(q.squareRoot() / rms0))× the input's \(diagFormat(rms0)) at initialisation"))
        }
        if let small = snaps.first(where: { s in
            !s.isLossOrMetric && !s.isData
                && (s.secondMoment.map { $0.squareRoot() < rms0 / th.activationGrowthMax } ?? false)
        }), let q = small.secondMoment {
            out.append(Finding(kind: .vanishingActivation, layer: small.name,
                               detail: "output RMS \(diagFormat(q.squareRoot())) is \(diagFormat(q.squareRoot() / rms0))× the input's \(diagFormat(rms0)) at initialisation"))
        }
    }
    // Gradient reaching the first layers vs the gradient at the loss.
    let withGrad = snaps.filter { $0.backwardL2 != nil }
    if let firstG = withGrad.first, let lastG = withGrad.last, firstG.name != lastG.name,
       let g0 = firstG.backwardL2, let g1 = lastG.backwardL2, g1 > 0, g0.isFinite {
        let ratio = g0 / g1
        let detail = "at initialisation the gradient l2 into \(firstG.name)'s bottom is \(diagFormat(g0)), "
            + "\(diagFormat(ratio))× the \(diagFormat(g1)) at \(lastG.name)"
        if ratio < th.gradientRatioMin {
            out.append(Finding(kind: .vanishingGradient, layer: firstG.name, detail: detail))
        } else if ratio > 1 / th.gradientRatioMin {
            out.append(Finding(kind: .explodingGradient, layer: firstG.name, detail: detail))
        }
    }
    // Mean-field vs measured: the probes' prediction when written, else the one-step prediction.
    for s in snaps where s.isWeighted {
        guard let q = s.secondMoment, q > 0 else { continue }
        let (predicted, source): (Double?, String) = s.attributePredictedQ != nil
            ? (s.attributePredictedQ, "predicted_q") : (s.predictedSecondMoment, "σ_w²·E[x²] + σ_b² from the measured input")
        guard let p = predicted, p > 0 else { continue }
        let factor = max(p / q, q / p)
        if factor > th.meanFieldMismatchFactor {
            out.append(Finding(kind: .meanFieldMismatch, layer: s.name,
                               detail: "measured E[z²] = \(diagFormat(q)), mean-field (\(source)) \(diagFormat(p)): a factor \(diagFormat(factor))"))
        }
    }
    return out
}

/// Findings that need the run's history: dying units and large updates.
func trainingFindings(_ run: RunRecord, thresholds th: DiagnosisThresholds) -> [Finding] {
    var out: [Finding] = []
    let n = run.iterations.count
    guard n > 1 else { return out }
    for l in run.layers {
        guard case .pointwise(.relu) = l.meanFieldRule else { continue }
        guard let s = l.series["forward/dead_fraction"], s.count >= n else { continue }
        let last = (0..<n).last { s[$0].isFinite && ($0 >= run.loss.count || run.loss[$0].isFinite) } ?? 0
        let growth = s[last] - s[0]
        if growth >= th.dyingGrowthMin, s[last] > th.deadFractionMin {
            out.append(Finding(kind: .dyingUnits, layer: l.name,
                               detail: "dead share grew from \(diagPercent(s[0])) at iteration \(run.iterations[0]) to \(diagPercent(s[last])) at iteration \(run.iterations[last])"))
        }
    }
    for l in run.layers {
        for key in l.series.keys.filter({ $0.hasSuffix("update_ratio") }).sorted() {
            let values = (l.series[key] ?? []).filter { $0.isFinite }.sorted()
            guard !values.isEmpty else { continue }
            let median = values.count % 2 == 1 ? values[values.count / 2]
                : (values[values.count / 2 - 1] + values[values.count / 2]) / 2
            if median > th.updateRatioMax {
                let blob = key.hasPrefix("param1") ? "bias" : key.hasPrefix("param0") ? "weights" : String(key.prefix { $0 != "/" })
                out.append(Finding(kind: .largeUpdates, layer: l.name,
                                   detail: "median update ratio ‖Δw‖/‖w‖ of the \(blob) is \(diagFormat(median)) per step (healthy SGD: ~1e-3)"))
            }
        }
    }
    return out
}
