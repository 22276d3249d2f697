import InitDiagCore
import InitDiagTrace
import Foundation

/// The plain-English explanation of one diagnosis: markdown paragraphs separated by blank lines,
/// every claim with the number it rests on.
func explainDiagnosis(_ d: Diagnosis, run: RunRecord, collapse: CollapseResult?,
                      thresholds th: DiagnosisThresholds) -> (all: [String], cause: [String]) {
    let n = d.numbers
    let lnCText = "ln \(n.classes) = \(String(format: "%.4f", n.chanceLoss))"
    var paragraphs: [String] = []

    switch d.verdict {
    case .stuckAtChance:
        var p = "**Stuck at chance.** " + stuckEvidenceSentence(n, thresholds: th)
        if let layer = n.logitsLayer, let s = n.logitsBetweenSampleStd {
            if s < th.logitSpreadMax {
                p += " The logits (\(layer)) barely change from one input to another: their between-sample std stays below \(diagFormat(s, digits: 2)) nats, so the net predicts the same distribution for every image."
            } else if let c = collapse {
                // The spread the logits show comes after the collapse: Dropout masks, not input.
                p += " The input no longer reaches the logits: from \(c.finding.layer ?? "an earlier layer") on the output is the same for every image (\(c.finding.detail)). The between-sample spread the logits (\(layer)) still show, up to \(diagFormat(s, digits: 2)) nats, comes after that point and carries nothing of the input (Dropout gives every sample its own mask in TRAIN)."
            }
        }
        paragraphs.append(p)
    case .learning:
        var p = "**Learning.**"
        if case .testAccuracy(let t)? = n.evidence {
            p += " Test accuracy \(diagPercent(t.accuracy)) at iteration \(t.iteration) on \(t.samples) images, above the one-sided chance band 1/\(n.classes) + max(\(diagFormat(th.testAccuracyMargin)), \(diagFormat(th.testAccuracyZ))·√(p(1−p)/n)) = \(diagPercent(t.threshold))."
        } else if case let .settled(a, b, k, mean, _)? = n.evidence {
            p += " The mean loss of the last \(k) recorded steps (iterations \(a)–\(b)) was \(diagFormat(mean, digits: 4)), \(diagPercent(mean / n.chanceLoss)) of \(lnCText) (below \(diagPercent(th.settleLearningFraction)))."
        } else if case let .settledShort(a, b, k, mean, _, _)? = n.evidence {
            p += " The mean loss of the last \(k) recorded steps (iterations \(a)–\(b); the short rule needs \(th.settleShortSteps)) was \(diagFormat(mean, digits: 4)), \(diagPercent(mean / n.chanceLoss)) of \(lnCText) (below \(diagPercent(th.settleLearningFraction)))."
        }
        if let first = n.lossFirst, let mean = n.windowMeanLoss, let a = n.windowFirstIteration, let b = n.windowLastIteration {
            p += " The loss fell from \(diagFormat(first, digits: 4)) to a mean of \(diagFormat(mean, digits: 4)) over iterations \(a)–\(b) (\(n.windowSteps) recorded steps), \(diagPercent(mean / n.chanceLoss)) of \(lnCText)."
            if mean >= th.barelyLearningLossFraction * n.chanceLoss {
                p += " That is still barely below chance (≥ \(diagPercent(th.barelyLearningLossFraction)) of ln \(n.classes)): the net has only started to learn."
            }
        }
        if case .testAccuracy? = n.evidence {} else if let acc = n.lastTestAccuracy {
            p += " Last test accuracy \(diagPercent(acc)) (chance \(diagPercent(1 / Double(max(n.classes, 1)))))."
            if run.layers.contains(where: { $0.role == .normalization }),
               acc <= 1 / Double(max(n.classes, 1)) + th.testAccuracyMargin {
                p += " The test phase normalises with BatchNorm's stored averages, which Caffe accumulates over every iteration so far (moving_average_fraction, 0.999 by default: after a few hundred iterations nearly an even average that still holds the first batches; PyTorch's momentum 0.1 keeps about the last ten), so this early they lag the weights and the test accuracy understates what the training loss shows."
            }
        }
        paragraphs.append(p)
    case .diverged:
        var p = "**Diverged.**"
        if let site = n.nonFinite {
            p += " The first non-finite value appeared at iteration \(site.iteration)"
            if let layer = site.layer {
                p += site.blob == "loss" ? " in the loss (\(layer))" : " in \(layer) (\(site.blob))"
            }
            p += "."
        } else {
            p += " The trace's status is \"diverged\"."
        }
        if let last = lastFiniteLoss(run) { p += " The last finite loss was \(diagFormat(last.loss, digits: 4)) at iteration \(last.iteration)." }
        paragraphs.append(p)
    case .plateau:
        paragraphs.append(plateauParagraph(d, run: run, thresholds: th))
    case .inconclusive:
        if n.windowSteps < th.minWindowSteps {
            paragraphs.append("**Inconclusive.** Only \(n.recordedSteps) recorded step\(n.recordedSteps == 1 ? "" : "s"): the verdict needs at least \(th.minWindowSteps) in its window (the last \(diagPercent(th.windowFraction)) of the run). The findings below describe the initialisation.")
        } else {
            var p = "**Inconclusive.** Over iterations \(n.windowFirstIteration ?? 0)–\(n.windowLastIteration ?? 0) the mean loss was \(diagFormat(n.windowMeanLoss ?? .nan, digits: 4)) (\(lnCText)): not clearly below chance"
            if let s = n.logitsBetweenSampleStd, s >= th.logitSpreadMax {
                p += ", yet the logits still depend on the input (between-sample std \(diagFormat(s, digits: 2)))"
            }
            paragraphs.append(p + ".")
        }
        if let t = n.testEvidence, !t.enoughSamples || t.accuracy <= t.threshold {
            paragraphs.append(t.enoughSamples
                ? "The test accuracy at iteration \(t.iteration), \(diagPercent(t.accuracy)) on \(t.samples) images, is inside the one-sided chance band (up to \(diagPercent(t.threshold)))."
                : "The test accuracy at iteration \(t.iteration), \(diagPercent(t.accuracy)), rests on \(t.samples) images: too few to tell learning from chance (the rule needs at least \(th.minTestSamplesPerClass * n.classes), \(th.minTestSamplesPerClass) per class).")
        } else if n.testEvidence == nil, !run.testIterations.isEmpty {
            paragraphs.append("The only test was at iteration 0: it shows the initialisation, not learning.")
        }
    }
    // A falling training loss with a test at chance, in a net with Caffe BatchNorm: the test
    // runs on the accumulated global statistics (use_global_stats in TEST), a running average
    // with moving_average_fraction 0.999 by default that still weighs the first iterations'
    // batches, taken with very different weights (batch_norm_layer.cpp).
    // (Counted by what the layers declare, not by type name: BatchNorm standardises with batch
    // statistics in TRAIN; LRN and MVN, also normalisations, keep no running averages.)
    let batchNorms = run.layers.filter { l in
        if l.role == .normalization, case .standardize = l.meanFieldRule { return true }
        return false
    }.count
    // (A learning verdict says the same in its own paragraph, above.)
    if d.verdict == .inconclusive, batchNorms > 0, let t = n.testEvidence, t.enoughSamples, t.accuracy <= t.threshold,
       let w = n.windowMeanLoss, w < n.chanceLoss {
        paragraphs.append("This net has \(batchNorms) BatchNorm layers, and Caffe tests them on their global statistics: a running average (moving_average_fraction, 0.999 by default) that after \(t.iteration) iterations still weighs the batches of the first iterations, made with very different weights. A training loss below ln \(n.classes) with a test accuracy at chance is what that looks like early in a run; the training loss is the better read until the statistics have caught up (or test in a longer run).")
    }

    var cause: [String] = []
    if let p = biasCauseParagraph(d, run: run, thresholds: th) { cause.append(p) }
    if let c = collapse {
        let when = c.step == 0 ? "At initialisation" : "At iteration \(run.iterations[c.step])"
        cause.append("\(when) the signal stops depending on the input from **\(c.finding.layer ?? "?")** on (input_dependence \(diagFormat(c.inputDependence, digits: 2)) < \(diagFormat(th.collapseInputDependence))); by \(c.deepestLayer) the between-sample std is \(diagPercent(c.deepestRatio)) of the std: every input gives nearly the same output.")
        // The input can come back from a weak start (RULES.md, "Saturation and plateaus"): say so
        // where the record shows it, so that a learning run does not read as collapsed.
        let last = min(run.loss.count, run.iterations.count) - 1
        if c.step == 0, last > 0, let back = returningInput(run, step: last, thresholds: th) {
            let growth = back.first > 0 ? " (×\(diagFormat(back.now / back.first, digits: 2)))" : ""
            cause[cause.count - 1] += " It was weak, not lost: \(run.layers[back.position].name)'s input_dependence grew from \(diagFormat(back.first, digits: 2)) to \(diagFormat(back.now, digits: 2)) by iteration \(run.iterations[last])\(growth)."
        }
    }
    paragraphs += cause
    let normalised = normalisedLinearLayers(run)
    if !normalised.isEmpty, d.findings.contains(where: { $0.kind == .biasDominated && normalised.contains($0.layer ?? "") }) {
        paragraphs.append(batchNormParagraph(normalised: normalised, run: run))
    } else if normalised.isEmpty,
              d.findings.contains(where: { $0.kind == .biasDominated || $0.kind == .inputCollapse }),
              let mf = meanFieldParagraph(d) {
        // The plain-ReLU recursion explains a bias-dominated or collapsing net; behind BatchNorm
        // it does not apply (the per-layer note says so), and for a net with neither it has
        // nothing to "predict".
        paragraphs.append(mf)
    }
    if let sat = saturationParagraph(run, thresholds: th) { paragraphs.append(sat) }
    if let other = otherFindingsParagraph(d.findings) { paragraphs.append(other) }
    return (paragraphs, cause)
}

func lastFiniteLoss(_ run: RunRecord) -> (iteration: Int, loss: Double)? {
    let n = min(run.loss.count, run.iterations.count)
    guard let i = (0..<n).last(where: { run.loss[$0].isFinite }) else { return nil }
    return (run.iterations[i], run.loss[i])
}

/// "conv1_1's bias filler is Caffe xavier on a 1-D blob …" and where the bias dominates.
func biasCauseParagraph(_ d: Diagnosis, run: RunRecord, thresholds th: DiagnosisThresholds) -> String? {
    let dominated = d.findings.filter { $0.kind == .biasDominated }.compactMap(\.layer)
    guard !dominated.isEmpty else { return nil }
    let linear = d.initial.filter { $0.role == .weighted && $0.biasShare != nil }
    guard let first = linear.first, let sb = first.biasSecondMoment else { return nil }
    let record = run.layers.first { $0.name == first.name }
    let filler = record?.attributes["bias_filler"] ?? ""
    let biasVariance = (record?.value("param1/data/std", at: 0)).map { $0 * $0 } ?? sb
    var p: String
    // Only claim the fan_in-1 arithmetic when it is what happened: a plain `xavier` (FAN_IN, the
    // default variance_norm) whose measured variance is that of U(±√3) — 1, within the sampling
    // spread of a few dozen values (the variance of N draws of U(±√3) has std ≈ √(0.8/N): 0.11 at N = 64).
    let plainXavier = filler.lowercased().contains("xavier") && !filler.contains("variance_norm")
        && abs(biasVariance - 1) < 0.3
    if plainXavier {
        p = "\(first.name)'s bias filler is Caffe `xavier` on a 1-D blob: Caffe takes fan_in = count/shape(0) = 1, so the bias is U(±√3) = U(±1.732) with variance 1 at every width (measured \(String(format: "%.3f", biasVariance)))"
    } else {
        p = "\(first.name)'s bias (filler `\(filler.isEmpty ? "unknown" : filler)`) has variance \(diagFormat(biasVariance))"
    }
    if let w = first.weightSecondMoment {
        p += "; the weights get \(diagFormat(w, digits: 2))"
        if let sw = first.sigmaW2, let f = first.fanIn { p += " (fan_in \(diagFormat(f)): σ_w² = Var(w)·fan_in = \(diagFormat(sw, digits: 2)))" }
    }
    p += "."
    let shares = linear.compactMap(\.biasShare).filter { $0 > th.biasShareMin }.sorted()
    if let lo = shares.first, let hi = shares.last {
        let over = shares.filter { $0 > 1 }.count
        p += " The bias alone supplies \(diagPercent(min(lo, 1)))–\(diagPercent(min(hi, 1))) of E[z²] in \(shares.count) of the \(linear.count) pre-activations (E[b²]/E[z²]; a bias-free net has 0)."
        if over > 0 {
            p += " In \(over) of them E[b²] even exceeds the measured E[z²] (up to \(diagFormat(hi, digits: 2))×): the weighted input partly cancels the bias there, so the bias is all of it and more."
        }
    }
    // The input-independent part of E[z²]: the per-element mean over the batch, squared, holds
    // 1 − between_sample_std²/E[z²] of it (this layer's bias plus what earlier biases left in its
    // input). From which layer on does it exceed 1 − collapseInputDependence for good?
    let constant = d.initial.filter { $0.role == .weighted && $0.betweenShare != nil }
    var from: Int? = nil
    for i in constant.indices.reversed() {
        guard let b = constant[i].betweenShare, 1 - b > 1 - th.collapseInputDependence else { break }
        from = i
    }
    if let from {
        let varying = constant[from...].compactMap(\.betweenShare)
        let deepest = constant[constant.count - 1]
        p += " Together with what earlier biases leave in each layer's input, the part of E[z²] that is the same for every input (the per-element mean over the batch, squared) holds more than \(diagPercentFine(1 - th.collapseInputDependence)) of it from \(constant[from].name) on: the part that varies with the input is at most \(diagPercent(varying.max() ?? 0)) there and \(diagPercent(deepest.betweenShare ?? 0)) at \(deepest.name). After a few ReLU layers the constant bias pattern outweighs everything the input contributes."
    }
    return p
}

/// The weighted layers (Convolution, InnerProduct, …) whose output goes straight into a
/// normalisation layer (BatchNorm, …).
func normalisedLinearLayers(_ run: RunRecord) -> [String] {
    var out: [String] = []
    for (i, layer) in run.layers.enumerated() where layer.role == .weighted {
        guard i + 1 < run.layers.count, run.layers[i + 1].role == .normalization,
              let top = diagList(layer.attributes["tops"]).first,
              diagList(run.layers[i + 1].attributes["bottoms"]).first == top else { continue }
        out.append(layer.name)
    }
    return out
}

/// Why a bias-dominated pre-activation does no harm in front of BatchNorm.
func batchNormParagraph(normalised: [String], run: RunRecord) -> String {
    let linear = run.layers.filter { $0.role == .weighted }.count
    return "BatchNorm follows \(normalised.count) of the \(linear) convolution and inner-product layers here (from \(normalised.first ?? "?") on). It subtracts each channel's mean over the batch and divides by its spread, so the constant pattern a bias adds — the same for every input, the part that makes a plain net lose its input — is removed before the ReLU, however large the bias is: the mean-field recursion for a plain ReLU net does not apply to these layers, and what reaches each ReLU varies with the input."
}

/// Mean-field theory's account of the numbers (Poole et al. 2016; Schoenholz et al. 2017).
func meanFieldParagraph(_ d: Diagnosis) -> String? {
    let linear = d.initial.filter { $0.role == .weighted && $0.sigmaW2 != nil }
    guard linear.count >= 2 else { return nil }
    // The recursion below is ReLU's: not for nets with other nonlinearities (sigmoid, tanh, …).
    guard !d.initial.contains(where: { s in
        if case .pointwise = s.meanField { return !s.isRectifier }
        return false
    }) else { return nil }
    let sw = linear.compactMap(\.sigmaW2).sorted()
    let sb = linear.map { $0.biasSecondMoment ?? 0 }.sorted()
    let swMedian = sw[sw.count / 2], sbMedian = sb[sb.count / 2]
    guard sbMedian > 0 else { return nil }
    // "Predicts this" only when the chained prediction is within `meanFieldAgreementFactor` of
    // the measurement at the deepest layer; otherwise the theory explains the mechanism, not
    // the numbers, and the paragraph says so.
    // The deepest layer in front of the first Dropout: behind it every sample has its own mask
    // in TRAIN, so the measured share is mask noise as much as input (the seed's fc6–fc8 measure
    // ≈ 0.3 although pool5 no longer depends on the input), and comparing there would read as
    // "the input is still there".
    let firstNoise = d.initial.first(where: { if case .independentNoise = $0.meanField { return true }; return false })?.index
    let deepest = linear.last(where: { s in
        s.chainBetweenShare != nil && s.betweenShare != nil && (firstNoise.map { s.index < $0 } ?? true)
    })
    let predicted = deepest?.chainBetweenShare, measured = deepest?.betweenShare
    let factor = DiagnosisThresholds.default.meanFieldAgreementFactor
    var agrees = true
    if let predicted, let measured {
        agrees = predicted > 0 && measured > 0 && max(predicted / measured, measured / predicted) <= factor
    }
    var p = (agrees ? "Mean-field theory predicts this." : "Mean-field theory accounts for the mechanism, not for the numbers here.") + " With σ_w² = Var(w)·fan_in ≈ \(diagFormat(swMedian, digits: 2)) and σ_b² = Var(b) ≈ \(diagFormat(sbMedian, digits: 2)), the recursion q_{l+1} = σ_w²·q_l/2 + σ_b² (E[relu(z)²] = q/2)"
    if swMedian < 2 {
        let qStar = sbMedian / (1 - swMedian / 2)
        p += " settles at q* = σ_b²/(1 − σ_w²/2) = \(diagFormat(qStar, digits: 3)), of which the bias is \(diagPercent(sbMedian / qStar))"
    } else {
        p += " grows without bound"
    }
    p += ", and the ReLU correlation map c' = (σ_w²·q/2·f(c) + σ_b²)/q', f(c) = (√(1−c²) + (π − arccos c)·c)/π, drives the correlation between any two inputs to 1 when σ_b² dominates."
    if let deepest, let predicted, let measured {
        p += " Chained from the data layer it predicts that \(diagFormat(predicted, digits: 2)) of \(deepest.name)'s second moment still varies with the input; measured: \(diagFormat(measured, digits: 2))"
        p += firstNoise == nil ? "." : " (the deepest layer in front of the first Dropout, whose per-sample masks make every later layer's spread partly noise)."
        if !agrees {
            p += " That misses by more than a factor of \(diagFormat(factor)): the chain passes pooling through as if the signal were input-independent, so read the direction, not the number."
        }
    }
    return p
}

func otherFindingsParagraph(_ findings: [Finding]) -> String? {
    var parts: [String] = []
    let unset = findings.filter { $0.kind == .batchNormStatisticsUnset }
    if !unset.isEmpty {
        let names = unset.compactMap(\.layer)
        let shown = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? " and \(names.count - 3) more" : "")
        parts.append("BatchNorm \(names.count == 1 ? "layer" : "layers") \(shown) \(names.count == 1 ? "is" : "are") told to use stored statistics (use_global_stats: true) that were never accumulated, so \(names.count == 1 ? "it divides" : "each divides") by √eps instead of the batch's standard deviation and multiplies the signal by \(unset.first!.detail.split(separator: " ").last.map(String.init) ?? "1/√eps") — an untrained deploy net does this by construction; load the trained weights (--weights), or set use_global_stats: false to normalise by the batch")
    }
    let dead = findings.filter { $0.kind == .deadUnits }
    if !dead.isEmpty {
        parts.append("\(dead.count) layer\(dead.count == 1 ? " has" : "s have") dead units at initialisation (\(dead.compactMap(\.layer).joined(separator: ", ")))")
    }
    for kind in [FindingKind.vanishingGradient, .explodingGradient, .explodingActivation, .vanishingActivation] {
        if let f = findings.first(where: { $0.kind == kind }) { parts.append("\(kind.rawValue): \(f.detail)") }
    }
    let dying = findings.filter { $0.kind == .dyingUnits }
    if !dying.isEmpty { parts.append("units die during training in \(dying.compactMap(\.layer).joined(separator: ", "))") }
    let large = findings.filter { $0.kind == .largeUpdates }
    if let worst = large.first {
        parts.append("updates are large in \(large.count) blob\(large.count == 1 ? "" : "s") (e.g. \(worst.layer ?? "?"): \(worst.detail))")
    }
    let mismatch = findings.filter { $0.kind == .meanFieldMismatch }
    if !mismatch.isEmpty {
        parts.append("measured second moments depart from mean-field by more than the tolerance in \(mismatch.compactMap(\.layer).joined(separator: ", "))")
    }
    guard !parts.isEmpty else { return nil }
    return "Also: " + parts.joined(separator: "; ") + "."
}

// MARK: - Sweep

/// One variant's outcome as the sweep explanation needs it.
public struct VariantOutcome: Sendable {
    public var scheme: String
    public var diagnosis: Diagnosis
    public init(scheme: String, diagnosis: Diagnosis) { self.scheme = scheme; self.diagnosis = diagnosis }
}

/// A scheme string's parts with docs/schemes.md's defaults filled in.
struct DiagScheme: Equatable {
    var weights = "as-declared", biases = "as-declared", bn = "off", lr = 1.0
    init(_ text: String) {
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2 else { continue }
            switch kv[0] {
            case "w": weights = kv[1]
            case "b": biases = kv[1]
            case "bn": bn = kv[1]
            case "lr": lr = Double(kv[1]) ?? 1
            default: break
            }
        }
    }
    var isDeclared: Bool { weights == "as-declared" && biases == "as-declared" && bn == "off" && lr == 1 }
}

/// The answer of a sweep in plain English: what the declared initialisation does, which change
/// fixes it (the smallest change first: a variant that differs from the declared one only in the
/// bias filler isolates the bias as the cause) and the best scheme with its proof that it trains.
public func explainSweep(_ variants: [VariantOutcome]) -> String {
    guard !variants.isEmpty else { return "No variants were run." }
    let baseline = variants.first { DiagScheme($0.scheme).isDeclared } ?? variants[0]
    let base = DiagScheme(baseline.scheme)
    var paragraphs: [String] = []

    func result(_ v: VariantOutcome) -> String {
        let n = v.diagnosis.numbers
        guard let first = n.lossFirst, let last = n.lossTailMean else { return "no recorded steps" }
        var s = "loss \(diagFormat(first, digits: 5)) → \(n.lossTailSteps > 1 ? "mean " : "")\(diagFormat(last, digits: 5))"
        if n.lossTailSteps > 1 { s += " over the last \(n.lossTailSteps) recorded steps" }
        if let acc = n.lastTestAccuracy { s += ", test accuracy \(diagPercent(acc))" }
        return s
    }

    let b = baseline.diagnosis
    var first = "With `\(baseline.scheme)` the net is **\(b.verdict.rawValue)** (\(result(baseline)))"
    if b.verdict == .stuckAtChance, b.numbers.evidence != nil {
        var sentence = stuckEvidenceSentence(b.numbers, thresholds: .default)
        sentence = sentence.prefix(1).lowercased() + sentence.dropFirst()
        if sentence.hasSuffix(".") { sentence.removeLast() }
        first += ": " + sentence
    } else if b.verdict == .plateau {
        first += ": the loss sits at ln \(b.numbers.classes) while the input still reaches the logits (its units saturated, or its signal weak but growing) — a plateau it may leave given more iterations, not a collapse"
    } else if b.verdict == .diverged, let site = b.numbers.nonFinite {
        first += ": the first non-finite value appeared at iteration \(site.iteration)\(site.layer.map { " in \($0)" } ?? "") (\(site.blob))"
    }
    paragraphs.append(([first + "."] + b.causeParagraphs).joined(separator: " "))

    let learners = variants.filter { $0.diagnosis.verdict == .learning }
    if b.verdict != .learning {
        if let biasOnly = learners.first(where: {
            let s = DiagScheme($0.scheme)
            return s.weights == base.weights && s.bn == base.bn && s.lr == base.lr && s.biases != base.biases
        }) {
            paragraphs.append("Changing only the bias filler fixes it: `\(biasOnly.scheme)` is **learning** (\(result(biasOnly))). The weights, the net and the learning rate are the declared ones, so the bias filler is the cause.")
        }
    }
    let ranked = rankedLearners(variants)
    if let best = ranked.first {
        let bn = best.diagnosis.numbers
        let barely = bn.windowMeanLoss.map { $0 >= DiagnosisThresholds.default.barelyLearningLossFraction * bn.chanceLoss } ?? false
        var p = "**Recommendation: `\(best.scheme)`** — \(result(best))"
        if let mean = bn.windowMeanLoss {
            p += "; mean loss \(diagFormat(mean, digits: 4)) over the last \(bn.windowSteps) recorded steps, \(diagPercent(mean / bn.chanceLoss)) of ln \(bn.classes)"
        }
        p += "."
        if barely {
            p += " Its training loss is still barely below chance (≥ \(diagPercent(DiagnosisThresholds.default.barelyLearningLossFraction)) of ln \(bn.classes))"
            if case .testAccuracy(let t)? = bn.evidence {
                p += "; it counts as learning by its test accuracy (\(diagPercent(t.accuracy)) on \(t.samples) images, above the chance band's \(diagPercent(t.threshold)))"
            }
            p += ": it has only started to learn, so run it longer before relying on it."
        }
        if ranked.count > 1 {
            p += " Also learning: " + ranked.dropFirst().map { "`\($0.scheme)` (\(result($0)))" }.joined(separator: ", ") + "."
        }
        paragraphs.append(p)
    } else if b.verdict != .learning {
        paragraphs.append("No variant was shown to learn in this sweep.")
    }
    // Stuck and diverged variants did not learn; inconclusive and plateau ones are undecided —
    // not evidence against the variant (docs/verdicts.md).
    let others = variants.filter { $0.diagnosis.verdict != .learning && $0.scheme != baseline.scheme }
    let undecided = others.filter { $0.diagnosis.verdict == .inconclusive || $0.diagnosis.verdict == .plateau }
    let failing = others.filter { $0.diagnosis.verdict != .inconclusive && $0.diagnosis.verdict != .plateau }
    func list(_ v: [VariantOutcome]) -> String {
        v.map { "`\($0.scheme)` (\($0.diagnosis.verdict.rawValue), \(result($0)))" }.joined(separator: ", ")
    }
    if !failing.isEmpty { paragraphs.append("Not learning: " + list(failing) + ".") }
    if !undecided.isEmpty { paragraphs.append("Undecided at the ceiling: " + list(undecided) + ".") }
    return paragraphs.joined(separator: "\n\n")
}

/// The evidence of a stuck-at-chance verdict as one sentence: which steps, which band.
func stuckEvidenceSentence(_ n: DiagnosisNumbers, thresholds th: DiagnosisThresholds) -> String {
    let lnCText = "ln \(n.classes) = \(String(format: "%.4f", n.chanceLoss))"
    var s: String
    switch n.evidence {
    case let .settled(a, b, k, mean, dev)?:
        s = "Over the last \(k) recorded steps (iterations \(a)–\(b); the rule needs \(th.settleSteps), all at iterations ≥ \(th.settleMinIteration)) "
        if dev < th.settleChanceBand * n.chanceLoss {
            s += "every loss stayed within \(diagFormat(dev, digits: 2)) of \(lnCText)"
        } else {
            s += "no loss fell below \(lnCText) − \(diagPercent(th.settleChanceBand)) and the mean, \(diagFormat(mean, digits: 4)), stayed above it, within \(diagPercent(th.chanceBandAbove)) (an input-independent net can only do worse than chance)"
        }
    case let .settledShort(a, b, k, mean, dev, layer)?:
        // `layer` is where the input stayed gone at every step (Settle.swift `collapsedFromStart`);
        // the input-collapse finding names where it was gone at the first step, which can be
        // earlier: say which is which, so that two layer names do not read as a contradiction.
        s = "The input was gone from \(layer ?? "a layer before the logits") on at the first recorded step and stayed gone at every step since (the first layer from which it never came back; at single steps it may be gone earlier, as the input-collapse finding says); over the last \(k) recorded steps (iterations \(a)–\(b); this rule needs \(th.settleShortSteps)) "
        if dev < th.settleChanceBand * n.chanceLoss {
            s += "every loss stayed within \(diagFormat(dev, digits: 2)) of \(lnCText)"
        } else {
            s += "no loss fell below \(lnCText) − \(diagPercent(th.settleChanceBand)) and the mean, \(diagFormat(mean, digits: 4)), stayed above it, within \(diagPercent(th.chanceBandAbove)) (an input-independent net can only do worse than chance)"
        }
    case let .windowInBand(a, b, k, mean, dev, oneSided)?:
        if oneSided {
            s = "Over the last \(k) recorded steps (iterations \(a)–\(b); the rule needs at least \(th.minWindowSteps)) no loss fell below \(lnCText) − \(diagPercent(th.chanceBand)) and the mean, \(diagFormat(mean, digits: 4)), stayed within \(diagPercent(th.chanceBandAbove)) above it (an input-independent net can only do worse than chance)"
        } else {
            s = "Over the last \(k) recorded steps (iterations \(a)–\(b); the rule needs at least \(th.minWindowSteps)) every loss stayed within \(diagFormat(dev, digits: 2)) of \(lnCText)"
        }
    default:
        s = "The loss stayed near \(lnCText)"
    }
    if let first = n.lossFirst { s += " (\(diagFormat(first, digits: 5)) at the first step)" }
    return s + "."
}

/// The learning variants, best first: highest last test accuracy, then lowest window mean loss,
/// then scheme text (the recommendation is the first).
public func rankedLearners(_ variants: [VariantOutcome]) -> [VariantOutcome] {
    variants.filter { $0.diagnosis.verdict == .learning }.sorted { l, r in
        let la = l.diagnosis.numbers.lastTestAccuracy ?? -1, ra = r.diagnosis.numbers.lastTestAccuracy ?? -1
        if la != ra { return la > ra }
        let ll = l.diagnosis.numbers.windowMeanLoss ?? .infinity, rl = r.diagnosis.numbers.windowMeanLoss ?? .infinity
        if ll != rl { return ll < rl }
        return l.scheme < r.scheme
    }
}
