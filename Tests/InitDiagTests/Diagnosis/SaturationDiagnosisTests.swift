import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagDiagnosis

/// Saturation findings, the plateau verdict and the early stop on hand-built records of a small
/// sigmoid MLP: data → ip1 → sig1 → ip2 → sig2 → ip3 (the logits) → loss.
@Suite struct SaturationDiagnosisTests {
    /// `steps` recorded iterations 0, 1, 2, …; every layer's input_dependence is 0.2 except where
    /// `collapsedAt` says (1e-5 for ip2 from that step on); sig1's saturated share ramps from 0 to
    /// `sig1Peak` over the first 100 steps, sig2's is `sig2Share` throughout.
    static func record(steps: Int, sig2Share: Double = 0.9, sig1Peak: Double = 0.5, collapsedAt: Int? = nil,
                       loss: (Int) -> Double = { i in log(10) + 0.004 * sin(Double(i)) }) -> RunRecord {
        func constant(_ v: Double) -> [Double] { Array(repeating: v, count: steps) }
        func forward(_ std: Double, dependence: [Double], extra: [String: [Double]] = [:]) -> [String: [Double]] {
            var s = extra
            s["forward/mean"] = constant(0.1)
            s["forward/std"] = constant(std)
            s["forward/input_dependence"] = dependence
            s["forward/between_sample_std"] = dependence.map { std * $0.squareRoot() }
            s["forward/nonfinite_count"] = constant(0)
            return s
        }
        let healthy = constant(0.2)
        let ip2Dependence = (0..<steps).map { i in collapsedAt.map { i >= $0 ? 1e-5 : 0.2 } ?? 0.2 }
        let sig1 = (0..<steps).map { i in sig1Peak * min(1, Double(i) / 100) }
        var layers: [LayerRecord] = []
        func add(_ name: String, _ type: String, _ role: LayerRole, _ rule: MeanFieldRule, bottom: String?, top: String?,
                 series: [String: [Double]]) {
            var a: [String: String] = ["role": role.rawValue, "mean_field": rule.attribute]
            if let bottom { a["bottoms"] = bottom }
            if let top { a["tops"] = top }
            layers.append(LayerRecord(name: name, type: type, index: layers.count, attributes: a, series: series))
        }
        add("data", "Input", .data, .source, bottom: nil, top: "data", series: forward(1, dependence: healthy))
        add("ip1", "InnerProduct", .weighted, .linear, bottom: "data", top: "ip1", series: forward(3, dependence: healthy))
        add("sig1", "Sigmoid", .neuron, .pointwise(.sigmoid), bottom: "ip1", top: "ip1",
            series: forward(0.3, dependence: healthy, extra: ["forward/saturated_fraction": sig1]))
        add("ip2", "InnerProduct", .weighted, .linear, bottom: "ip1", top: "ip2", series: forward(3, dependence: ip2Dependence))
        add("sig2", "Sigmoid", .neuron, .pointwise(.sigmoid), bottom: "ip2", top: "ip2",
            series: forward(0.2, dependence: ip2Dependence, extra: ["forward/saturated_fraction": constant(sig2Share)]))
        // The logits: a tiny spread (1e-3 nats) that still depends on the input unless collapsed.
        var logits = forward(5e-3, dependence: ip2Dependence.map { $0 == 0.2 ? 0.04 : 1e-5 })
        logits["forward/between_sample_std"] = constant(1e-3)
        add("ip3", "InnerProduct", .weighted, .linear, bottom: "ip2", top: "ip3", series: logits)
        add("loss", "SoftmaxWithLoss", .loss, .stop, bottom: "ip3", top: "loss", series: [:])
        return RunRecord(attributes: ["status": "finished", "batch_size": "64", "net_name": "sigmoid-mlp"],
                         iterations: Array(0..<steps), loss: (0..<steps).map(loss), lr: constant(0.01), layers: layers)
    }

    @Test func saturatedNetAtChanceIsAPlateauNotStuck() {
        let run = Self.record(steps: 400)
        #expect(saturatedPlateau(run, step: 399))
        let d = diagnose(run)
        #expect(d.verdict == .plateau)
        #expect(d.findings.contains { $0.kind == .saturatedUnits && $0.layer == "sig2" })
        #expect(!d.findings.contains { $0.kind == .saturatedUnits && $0.layer == "sig1" })   // 0% at init
        #expect(d.findings.contains { $0.kind == .saturatingUnits && $0.layer == "sig1" })
        #expect(d.explanation.contains("Plateau (saturated, not collapsed)"))
        #expect(d.explanation.contains("A plateau is not a collapse"))
        // Sequential saturation: sig2 at initialisation, sig1 when its ramp reaches 30% (step 60).
        let ramp = run.layers[2].series["forward/saturated_fraction"]!
        let k = ramp.firstIndex { $0 >= 0.3 }!
        #expect(k >= 59 && k <= 61)
        #expect(d.explanation.contains("sig2 at iteration 0 (90%), sig1 at iteration \(k) (\(diagPercent(ramp[k])))"), "\(d.explanation)")
        // The early stop never settles it as stuck, at any length.
        for n in stride(from: 50, through: 400, by: 10) {
            var prefix = run
            prefix.iterations = Array(run.iterations.prefix(n)); prefix.loss = Array(run.loss.prefix(n))
            #expect(settledVerdict(prefix) == nil, "\(n) steps")
        }
    }

    @Test func collapsedNetAtChanceIsStuck() {
        // Same saturation, but ip2's output stops depending on the input at step 150.
        let run = Self.record(steps: 400, collapsedAt: 150)
        #expect(!saturatedPlateau(run, step: 399))
        #expect(saturatedPlateau(run, step: 100))
        let d = diagnose(run)
        #expect(d.verdict == .stuckAtChance)
        #expect(d.findings.contains { $0.kind == .inputCollapse })
        #expect(settledVerdict(run) == .stuckAtChance)
        #expect(!d.explanation.contains("Plateau"))
    }

    @Test func littleSaturationStaysStuckAtChance() {
        // Below the 30% share no layer is saturated: tiny logits with no cause in sight stay
        // stuck-at-chance, as before (the input_dependence of the logits alone does not make a plateau).
        let run = Self.record(steps: 400, sig2Share: 0.1, sig1Peak: 0.2)
        #expect(!saturatedPlateau(run, step: 399))
        let d = diagnose(run)
        #expect(d.verdict == .stuckAtChance)
        #expect(settledVerdict(run) == .stuckAtChance)
        #expect(!d.findings.contains { $0.kind == .saturatedUnits || $0.kind == .saturatingUnits })
    }

    @Test func learningPlateauIsLearning() {
        // A net that leaves the plateau is learning, saturation or not.
        let run = Self.record(steps: 400, loss: { i in i < 200 ? log(10) : 1.0 })
        #expect(diagnose(run).verdict == .learning)
        #expect(settledVerdict(run) == .learning)
    }

    /// The record without saturation (sig2 10%, sig1 up to 20%) whose ip2, sig2 and logits have
    /// the input_dependence `dependence(step)` (the layers before stay at 0.2).
    static func weakSignalRecord(steps: Int, dependence: (Int) -> Double) -> RunRecord {
        var run = record(steps: steps, sig2Share: 0.1, sig1Peak: 0.2)
        let series = (0..<steps).map(dependence)
        for name in ["ip2", "sig2", "ip3"] {
            let i = run.layers.firstIndex { $0.name == name }!
            run.layers[i].series["forward/input_dependence"] = series
        }
        return run
    }

    @Test func weakInputGrowingBackIsAPlateauNeverSettled() {
        // As BVLC's cifar10_full_sigmoid on CIFAR-10: the logits' input_dependence starts at 4.9e-9
        // and grows (×30 after 10 steps, ×186 after 20); the loss is still at ln 10.
        let run = Self.weakSignalRecord(steps: 400) { i in 4.9e-9 * pow(1.3, Double(min(i, 40))) }
        #expect(!saturatedPlateau(run, step: 399))
        let back = returningInput(run, step: 399)
        #expect(back.map { run.layers[$0.position].name } != nil)
        #expect(back?.first == 4.9e-9)
        let d = diagnose(run)
        #expect(d.verdict == .plateau)
        #expect(d.explanation.contains("Plateau (the input is coming back, not collapsed)"), "\(d.explanation)")
        #expect(d.explanation.contains("4.9e-9"))
        // The collapse paragraph says the input came back.
        #expect(d.findings.contains { $0.kind == .inputCollapse })
        #expect(d.explanation.contains("It was weak, not lost: "), "\(d.explanation)")
        for n in stride(from: 20, through: 400, by: 10) {
            var prefix = run
            prefix.iterations = Array(run.iterations.prefix(n)); prefix.loss = Array(run.loss.prefix(n))
            #expect(settledVerdict(prefix) == nil, "\(n) steps")
        }
    }

    @Test func weakInputThatStaysWeakIsStuck() {
        // As the seed net: cut off at initialisation and falling (2.3e-8 → ~2e-9 with batch scatter
        // of ×3): stuck-at-chance, settled by the long rule.
        let run = Self.weakSignalRecord(steps: 400) { i in i == 0 ? 2.3e-8 : 2e-9 * (1 + 2 * abs(sin(Double(i)))) }
        #expect(returningInput(run, step: 399) == nil)
        #expect(diagnose(run).verdict == .stuckAtChance)
        #expect(settledVerdict(run) == .stuckAtChance)
        // Growth below the floor is rounding, not signal: 1e-13 → 1e-11 (×100) stays stuck.
        let rounding = Self.weakSignalRecord(steps: 400) { i in i == 0 ? 1e-13 : 1e-11 }
        #expect(returningInput(rounding, step: 399) == nil)
        #expect(diagnose(rounding).verdict == .stuckAtChance)
        // Exactly ten times is growth enough.
        let tenfold = Self.weakSignalRecord(steps: 400) { i in i == 0 ? 1e-8 : 1e-7 }
        #expect(returningInput(tenfold, step: 399) != nil)
        #expect(diagnose(tenfold).verdict == .plateau)
    }

    @Test func logitsBelowZeroAreNotDeadUnitsInASigmoidNet() {
        // BVLC's cifar10_full_sigmoid at initialisation: 80% of ip1's logits ≤ 0 for every sample.
        // The net has no ReLU, but its layers say what they are: no dead-units finding (a trace
        // without mean_field attributes would still fall back to any layer's dead share).
        var run = Self.record(steps: 5)
        let ip3 = run.layers.firstIndex { $0.name == "ip3" }!
        run.layers[ip3].series["forward/dead_fraction"] = Array(repeating: 0.8, count: 5)
        #expect(!diagnose(run).findings.contains { $0.kind == .deadUnits })
        for i in run.layers.indices { run.layers[i].attributes["mean_field"] = nil }
        #expect(diagnose(run).findings.contains { $0.kind == .deadUnits && $0.layer == "ip3" })
    }

    @Test func verdictAndFindingSpellings() {
        #expect(Verdict.plateau.rawValue == "plateau")
        #expect(FindingKind.saturatedUnits.rawValue == "saturated-units")
        #expect(FindingKind.saturatingUnits.rawValue == "saturating-units")
    }

    /// After a standardisation the chain restarts from the measurement: the snapshots say so and
    /// the report draws no chained prediction there but a note.
    @Test func chainRestartAfterStandardizeIsNoted() {
        let steps = 1
        func s(_ mean: Double, _ std: Double, _ bss: Double) -> [String: [Double]] {
            ["forward/mean": [mean], "forward/std": [std], "forward/between_sample_std": [bss], "forward/nonfinite_count": [0]]
        }
        func params(_ w: Double, _ b: Double) -> [String: [Double]] {
            ["param0/data/mean": [0], "param0/data/std": [w], "param1/data/mean": [0], "param1/data/std": [b]]
        }
        var layers: [LayerRecord] = []
        func add(_ name: String, _ type: String, _ role: LayerRole, _ rule: MeanFieldRule, _ b: String?, _ t: String,
                 _ series: [String: [Double]], fanIn: Int? = nil) {
            var a: [String: String] = ["role": role.rawValue, "mean_field": rule.attribute, "tops": t]
            if let b { a["bottoms"] = b }
            if let fanIn { a["fan_in"] = "\(fanIn)" }
            layers.append(LayerRecord(name: name, type: type, index: layers.count, attributes: a, series: series))
        }
        add("data", "Input", .data, .source, nil, "data", s(0, 1, 0.7))
        add("ip1", "InnerProduct", .weighted, .linear, "data", "ip1", s(0, 1.0, 0.7).merging(params(0.1, 0.1)) { a, _ in a }, fanIn: 100)
        add("tanh1", "TanH", .neuron, .pointwise(.tanh), "ip1", "ip1", s(0, 0.6, 0.4))
        add("bn", "BatchNorm", .normalization, .standardize, "ip1", "ip1", s(0, 1, 0.7))
        add("ip2", "InnerProduct", .weighted, .linear, "ip1", "ip2", s(0, 1.0, 0.7).merging(params(0.1, 0.1)) { a, _ in a }, fanIn: 100)
        let run = RunRecord(attributes: ["batch_size": "32"], iterations: Array(0..<steps), loss: [2.3], lr: [0.1], layers: layers)
        let snaps = layerSnapshots(run, step: 0)
        func snap(_ n: String) -> LayerSnapshot { snaps.first { $0.name == n }! }
        #expect(snap("ip1").chainRestartedAt == nil && snap("tanh1").chainRestartedAt == nil)
        // tanh by quadrature: a prediction, not a restart.
        #expect(snap("tanh1").chainSecondMoment != nil)
        #expect(abs(snap("tanh1").chainSecondMoment! - MeanFieldChain.pointwise(.tanh, input: MeanFieldState(
            secondMoment: snap("ip1").chainSecondMoment!, cross: snap("ip1").chainSecondMoment! * (1 - snap("ip1").chainBetweenShare! / (1 - 1.0 / 32))))!.secondMoment) < 1e-12)
        #expect(snap("bn").chainRestartedAt == "bn" && snap("ip2").chainRestartedAt == "bn")
        #expect(reportChained(\.chainSecondMoment)(snap("ip2")) == nil)
        #expect(reportChained(\.chainSecondMoment)(snap("ip1")) == snap("ip1").chainSecondMoment)
        let note = meanFieldNote(snaps)
        #expect(note?.contains("`bn` (BatchNorm) standardises with batch statistics") == true, "\(note ?? "nil")")
        #expect(note?.contains("`ip2`") == true && note?.contains("`ip1`") == false)
        #expect(meanFieldNote(snaps.filter { $0.name != "bn" && $0.name != "ip2" }) == nil)
    }
}
