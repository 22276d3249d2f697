import InitDiagCore
import InitDiagTrace
import Foundation

// Saturation of bounded nonlinearities (sigmoid, tanh) and the plateau it causes (RULES.md
// "Saturation and plateaus"). Glorot & Bengio (AISTATS 2010, "Understanding the difficulty of
// training deep feedforward neural networks", Figs. 2–3): a deep sigmoid net starts with its top
// hidden layer saturated and sits near ln C for many epochs before it desaturates; tanh layers
// saturate one after another from the bottom. Such a net is on a plateau, not collapsed: its input
// still reaches the logits, only weakly, and the gradient through the saturated units is ≤ 1% of
// what it would be in their linear range. A net whose input has collapsed cannot leave ln C.

/// The layers that record `forward/saturated_fraction` (the tops of sigmoid and tanh layers, by
/// their declared mean-field rule), in net order, with their series.
func saturationLayers(_ run: RunRecord) -> [(position: Int, values: [Double])] {
    run.layers.indices.compactMap { p in
        run.layers[p].series["forward/" + TraceStatisticNames.saturatedFraction].map { (p, $0) }
    }
}

/// The largest saturated share of any bounded layer at recorded step `step` (nil: none recorded).
func maxSaturation(_ run: RunRecord, step: Int) -> (position: Int, fraction: Double)? {
    var best: (Int, Double)? = nil
    for (p, v) in saturationLayers(run) where step < v.count && v[step].isFinite {
        if best == nil || v[step] > best!.1 { best = (p, v[step]) }
    }
    return best
}

/// Whether at recorded step `step` the net sits on a saturated plateau rather than a collapse:
/// - some bounded layer has `saturated_fraction` ≥ `saturatedFractionMin`, and
/// - the input still reaches the logits: no layer before them (other than the data) has
///   `input_dependence` below `collapseInputDependence`, and the logits' own input_dependence,
///   where recorded, is at least that.
/// `settledVerdict` never settles such a run as stuck, and the verdict is `plateau`.
public func saturatedPlateau(_ run: RunRecord, step: Int, thresholds th: DiagnosisThresholds = .default) -> Bool {
    guard let logits = logitsLayerPosition(run),
          let sat = maxSaturation(run, step: step), sat.fraction >= th.saturatedFractionMin else { return false }
    for p in 0...logits where !run.layers[p].isData {
        if let d = run.layers[p].series["forward/input_dependence"], step < d.count,
           d[step].isFinite, d[step] < th.collapseInputDependence {
            return false
        }
    }
    return true
}

/// A layer whose input is coming back at recorded step `step`: among the layers up to and
/// including the logits (data, loss and metric layers excluded) that were cut off at the first
/// recorded step (`input_dependence` below `collapseInputDependence`), the one whose
/// input_dependence has grown the most since, if that growth is at least `returningGrowthMin`
/// and the value now at least `returningFloor`. A net at ln C with such a layer is on a plateau
/// it is leaving (RULES.md, "Saturation and plateaus"): never settled as stuck, verdict `plateau`.
public func returningInput(_ run: RunRecord, step: Int, thresholds th: DiagnosisThresholds = .default)
    -> (position: Int, first: Double, now: Double)? {
    guard step > 0, let logits = logitsLayerPosition(run) else { return nil }
    var best: (position: Int, first: Double, now: Double)? = nil
    var bestGrowth = -Double.infinity
    for p in 0...logits where !run.layers[p].isData && !run.layers[p].isLossOrMetric {
        guard let d = run.layers[p].series["forward/input_dependence"], step < d.count else { continue }
        let first = d[0], now = d[step]
        guard first.isFinite, now.isFinite, first < th.collapseInputDependence, now >= th.returningFloor,
              now >= th.returningGrowthMin * first else { continue }
        let growth = first > 0 ? now / first : .infinity
        if growth > bestGrowth { best = (p, first, now); bestGrowth = growth }
    }
    return best
}

/// Whether a net at ln C is on a plateau at recorded step `step` — saturated
/// (`saturatedPlateau`) or with its input coming back (`returningInput`) — rather than stuck:
/// the verdict rule 3b and the early stop read this one test (RULES.md).
public func onPlateau(_ run: RunRecord, step: Int, thresholds th: DiagnosisThresholds = .default) -> Bool {
    saturatedPlateau(run, step: step, thresholds: th) || returningInput(run, step: step, thresholds: th) != nil
}

/// "The loss stayed within … of ln C from iteration a to b (k recorded steps)." of both plateau
/// paragraphs, empty when the record has no band stretch.
private func bandSentence(_ n: DiagnosisNumbers) -> String {
    guard let a = n.bandEntryIteration, let b = n.windowLastIteration, let dev = n.bandMaxDeviation else { return "" }
    let lnCText = "ln \(n.classes) = \(String(format: "%.4f", n.chanceLoss))"
    return " The loss stayed within \(diagFormat(dev, digits: 2)) of \(lnCText) from iteration \(a) to \(b) (\(n.bandSteps) recorded steps)."
}

/// `saturated-units` (at the first recorded step) and `saturating-units` (the share grew during
/// training), per bounded layer in net order.
func saturationFindings(_ run: RunRecord, thresholds th: DiagnosisThresholds) -> [Finding] {
    var out: [Finding] = []
    let n = run.iterations.count
    guard n > 0 else { return out }
    for (p, v) in saturationLayers(run) {
        let name = run.layers[p].name
        guard v.count >= n else { continue }
        let band = run.layers[p].meanFieldRule.saturationBand
        let bandText = band.map { b in
            b.center == 0 ? "|y| > \(diagFormat(b.halfWidth, digits: 4))" : "|y − \(diagFormat(b.center))| > \(diagFormat(b.halfWidth, digits: 4))"
        } ?? "its saturation band"
        if v[0].isFinite, v[0] >= th.saturatedFractionMin {
            out.append(Finding(kind: .saturatedUnits, layer: name,
                               detail: "\(diagPercent(v[0])) of the units are saturated at initialisation (local derivative below 1% of its maximum: \(bandText)); the gradient through them is at most 1% of what their linear range passes"))
        }
        guard n > 1 else { continue }
        let finite = (0..<n).filter { v[$0].isFinite && ($0 >= run.loss.count || run.loss[$0].isFinite) }
        guard let first = finite.first, let peak = finite.max(by: { v[$0] < v[$1] }) else { continue }
        if v[peak] - v[first] >= th.saturatingGrowthMin, v[peak] >= th.saturatedFractionMin, peak > first {
            let last = finite.last!
            var detail = "saturated share grew from \(diagPercent(v[first])) at iteration \(run.iterations[first]) to \(diagPercent(v[peak])) at iteration \(run.iterations[peak])"
            if last != peak { detail += " (\(diagPercent(v[last])) at the last recorded iteration \(run.iterations[last]))" }
            out.append(Finding(kind: .saturatingUnits, layer: name, detail: detail))
        }
    }
    return out
}

/// The order in which saturation appears: per bounded layer the first recorded iteration at which
/// its saturated share reaches `saturatedFractionMin`, sorted by that iteration (net order on
/// ties) — Glorot & Bengio's "sequential saturation".
func saturationOrder(_ run: RunRecord, thresholds th: DiagnosisThresholds) -> [(layer: String, iteration: Int, fraction: Double)] {
    var out: [(layer: String, iteration: Int, fraction: Double, position: Int)] = []
    for (p, v) in saturationLayers(run) {
        let n = min(v.count, run.iterations.count)
        if let k = (0..<n).first(where: { v[$0].isFinite && v[$0] >= th.saturatedFractionMin }) {
            out.append((run.layers[p].name, run.iterations[k], v[k], p))
        }
    }
    return out.sorted { ($0.iteration, $0.position) < ($1.iteration, $1.position) }.map { ($0.layer, $0.iteration, $0.fraction) }
}

/// The verdict paragraph of `plateau`.
func plateauParagraph(_ d: Diagnosis, run: RunRecord, thresholds th: DiagnosisThresholds) -> String {
    let n = d.numbers
    let last = max(0, min(run.loss.count, run.iterations.count) - 1)
    if !saturatedPlateau(run, step: last, thresholds: th), let back = returningInput(run, step: last, thresholds: th) {
        return returningParagraph(d, run: run, back: back, step: last)
    }
    var p = "**Plateau (saturated, not collapsed).**" + bandSentence(n)
    if let sat = maxSaturation(run, step: last) {
        p += " At iteration \(run.iterations[last]) \(diagPercent(sat.fraction)) of \(run.layers[sat.position].name)'s units are saturated (local derivative below 1% of its maximum), so the gradient that reaches the layers below through them is at most 1% of what their linear range would pass."
    }
    if let layer = n.logitsLayer {
        var reach = " Yet the input still reaches the logits (\(layer))"
        if let pos = logitsLayerPosition(run), let dep = run.layers[pos].value("forward/input_dependence", at: last), dep.isFinite {
            reach += ": their input_dependence is \(diagFormat(dep, digits: 2)), and no layer before them has collapsed (all ≥ \(diagFormat(th.collapseInputDependence)))"
        } else {
            reach += ": no layer before them has collapsed (input_dependence ≥ \(diagFormat(th.collapseInputDependence)) everywhere)"
        }
        if let s = n.logitsBetweenSampleStd { reach += "; their between-sample spread is small (up to \(diagFormat(s, digits: 2)) nats) because the saturated units pass little of it" }
        p += reach + "."
    }
    p += " A plateau is not a collapse: a net that sits at ln C because its units are saturated can leave it after many iterations (Glorot & Bengio 2010 saw deep sigmoid nets desaturate their top layer and start learning), while a net whose input has collapsed cannot. Train longer before judging it, or start the units in their linear range: a normalised init (`torch-xavier-uniform`), LSUV, or BatchNorm before the nonlinearity."
    return p
}

/// The verdict paragraph of a `plateau` whose input is coming back (`returningInput`).
func returningParagraph(_ d: Diagnosis, run: RunRecord, back: (position: Int, first: Double, now: Double), step: Int) -> String {
    var p = "**Plateau (the input is coming back, not collapsed).**" + bandSentence(d.numbers)
    let name = run.layers[back.position].name
    let growth = back.first > 0 ? "×\(diagFormat(back.now / back.first, digits: 2))" : "from nothing"
    p += " But the input is not gone: \(name)'s input_dependence was \(diagFormat(back.first, digits: 2)) at iteration \(run.iterations[0]) and is \(diagFormat(back.now, digits: 2)) at iteration \(run.iterations[step]) (\(growth)). The signal was weak, not lost, and SGD is growing it back — the slow escape from a small-signal start (small weights, or a nonlinearity's mean swamping the signal) that ends with the loss leaving ln C, as BVLC's own cifar10_full_sigmoid does after about 1,300 iterations on CIFAR-10. A net whose input has collapsed shows no such growth."
    p += " Train longer before judging it, or give the signal room from the start: a normalised init (`torch-xavier-uniform`), LSUV, or BatchNorm."
    return p
}

/// "Saturation appears layer by layer …" when any bounded layer saturates (nil otherwise).
func saturationParagraph(_ run: RunRecord, thresholds th: DiagnosisThresholds) -> String? {
    let order = saturationOrder(run, thresholds: th)
    guard !order.isEmpty else { return nil }
    let items = order.map { "\($0.layer) at iteration \($0.iteration) (\(diagPercent($0.fraction)))" }
    if order.count == 1 {
        return "Saturation: \(items[0]) is the first recorded step at which at least \(diagPercent(th.saturatedFractionMin)) of its units are saturated."
    }
    let first = run.iterations.first ?? 0
    let allAtStart = order.allSatisfy { $0.iteration == first }
    var p = "Saturation (at least \(diagPercent(th.saturatedFractionMin)) of a layer's units with a derivative below 1% of its maximum) "
    p += allAtStart ? "is there from the first recorded step in " : "appears layer by layer, in this order: "
    p += items.joined(separator: ", ") + "."
    if !allAtStart { p += " Glorot & Bengio (2010) call this sequential saturation: with tanh it moves up from the bottom layer; in a sigmoid net the top hidden layer saturates first." }
    return p
}
