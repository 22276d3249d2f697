import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct DiagnosisVerdictTests {
    let lnTen = DiagFixture.lnTen

    /// Loss 2.30 → 1.20 linearly over 100 steps, input-dependent logits.
    func learningRun() -> RunRecord {
        DiagFixture.healthy(steps: 100, loss: { 2.30 - 1.1 * Double($0) / 99 }, logitSpread: { _ in 0.5 })
    }

    /// Loss 2.302585 ± 0.001 for 300 steps, logits' between-sample std 1e-6.
    func stuckRun(spread: Double = 1e-6) -> RunRecord {
        DiagFixture.seed(steps: 300, loss: { log(10.0) + 0.001 * sin(Double($0)) }, logitSpread: { _ in spread })
    }

    @Test func learningVerdictAndWindow() {
        let d = diagnose(learningRun())
        #expect(d.verdict == .learning)
        // Window = the last 50 of 100 steps: mean of 2.30 − 1.1·i/99 over i = 50…99 = 2.30 − 1.1·74.5/99.
        #expect(abs((d.numbers.windowMeanLoss ?? 0) - (2.30 - 1.1 * 74.5 / 99)) < 1e-12)
        #expect(d.numbers.windowSteps == 50 && d.numbers.windowFirstIteration == 50)
        #expect(d.numbers.logitsLayer == "fc8")
        #expect(d.explanation.hasPrefix("**Learning.**"))
    }

    @Test func learningByTestAccuracyAlone() {
        var run = DiagFixture.healthy(steps: 4, loss: { _ in 2.3 }, logitSpread: { _ in 0.5 })
        run.attributes["test_samples"] = "1000"   // 3σ at chance = 0.028 < the 0.05 margin
        run.testIterations = [3]; run.testLoss = [2.0]; run.testAccuracy = [0.16]
        #expect(diagnose(run).verdict == .learning)      // 0.16 > 0.1 + 0.05
        run.testAccuracy = [0.14]
        #expect(diagnose(run).verdict == .inconclusive)  // too few steps, accuracy within the margin
    }

    @Test func stuckAtChanceVerdict() {
        let d = diagnose(stuckRun())
        #expect(d.verdict == .stuckAtChance)
        #expect((d.numbers.windowMaxDeviation ?? 1) <= 0.001 + 1e-12)
        #expect(d.numbers.logitsBetweenSampleStd == 1e-6)
        #expect(d.explanation.contains("ln 10 = 2.3026"))
        #expect(d.explanation.contains("Over the last 50 recorded steps (iterations 250–299; the rule needs 50, all at iterations ≥ 100) every loss stayed within 1e-3 of ln 10 = 2.3026"), "\(d.explanation)")
        #expect(d.numbers.bandEntryIteration == 0 && d.numbers.bandSteps == 300)
    }

    @Test func chanceLossWithInputDependentLogitsIsNotStuck() {
        // docs/verdicts.md: stuck needs the logits cut off from the input as well. Here no layer has
        // collapsed and the logits spread: not stuck, whatever the loss does.
        var run = stuckRun(spread: 0.5)
        for i in run.layers.indices where run.layers[i].series["forward/input_dependence"] != nil {
            run.layers[i].series["forward/input_dependence"] = Array(repeating: 0.5, count: run.iterations.count)
        }
        #expect(diagnose(run).verdict == .inconclusive)
        for n in stride(from: 50, through: 300, by: 25) {
            #expect(settledVerdict(DiagFixture.prefix(run, n)) == nil)
        }
    }

    @Test func dropoutNoiseAfterACollapseIsStillStuck() {
        // The seed net in TRAIN: the input is gone by conv5_x, then Dropout masks give the logits a
        // between-sample spread that is noise. An upstream collapse settles it.
        let run = stuckRun(spread: 0.5)
        #expect(diagnose(run).verdict == .stuckAtChance)
        #expect(settledVerdict(run) == .stuckAtChance)
        var th = DiagnosisThresholds.default
        th.collapseInputDependence = 0
        #expect(diagnose(run, thresholds: th).verdict == .inconclusive)
    }

    @Test func aSettledVerdictIsFinal() {
        // A collapse caused by training at step 80 of 150: the window (steps 75–149) holds
        // 5 steps before it, so the window rule alone says inconclusive; the early stop settled
        // stuck on steps 100–149, and that is the verdict.
        var run = stuckRun(spread: 0.5)
        run = DiagFixture.prefix(run, 150)
        for i in run.layers.indices where run.layers[i].series["forward/input_dependence"] != nil {
            run.layers[i].series["forward/input_dependence"] = (0..<150).map { $0 < 80 ? 0.5 : 1e-4 }
        }
        #expect(settledVerdict(run) == .stuckAtChance)
        #expect(diagnose(run).verdict == .stuckAtChance)
        var th = DiagnosisThresholds.default
        th.settleSteps = 0  // no early stop: the window rule alone
        #expect(diagnose(run, thresholds: th).verdict == .inconclusive)
    }

    @Test func batchNormAfterBiasDominatedLayersIsExplained() {
        // The seed's statistics with a BatchNorm after every convolution (bn=on): learning, bias-
        // dominated pre-activations, test accuracy at chance from stale running averages.
        var run = DiagFixture.seed(steps: 100, loss: { 2.30 - 1.1 * Double($0) / 99 }, logitSpread: { _ in 0.5 })
        var layers: [LayerRecord] = []
        for layer in run.layers {
            layers.append(layer)
            if layer.type == "Convolution" {
                layers.append(DiagFixture.record(layer.name + "_bn", "BatchNorm", index: 0,
                                                 attributes: ["bottoms": layer.name, "tops": layer.name]))
            }
        }
        run.layers = layers.enumerated().map { i, l in var l = l; l.index = i; return l }
        run.testIterations = [99]; run.testLoss = [2.4]; run.testAccuracy = [0.09]
        let d = diagnose(run)
        #expect(d.verdict == .learning)
        #expect(normalisedLinearLayers(run).count == 8)
        #expect(d.explanation.contains("BatchNorm follows 8 of the 11 convolution and inner-product layers here (from conv1_1 on)"))
        #expect(!d.explanation.contains("Mean-field theory predicts this"))
        #expect(d.explanation.contains("moving_average_fraction, 0.999 by default"))
        // Without BatchNorm the same numbers get the mean-field account and no such note.
        let plain = diagnose(DiagFixture.seed(steps: 100, loss: { 2.30 - 1.1 * Double($0) / 99 }, logitSpread: { _ in 0.5 }))
        // (Its chained prediction misses fc8's measured share by orders of magnitude, so the
        // paragraph says the theory accounts for the mechanism, not "predicts this".)
        #expect(plain.explanation.contains("Mean-field theory accounts for the mechanism"))
        #expect(!plain.explanation.contains("BatchNorm"))
    }

    @Test func thresholdsAreHonoured() {
        var th = DiagnosisThresholds.default
        th.chanceBand = 0.0001   // 0.00023 nats: the ±0.001 wobble leaves the band
        th.settleChanceBand = 0.0001  // (and the early stop's band, whose verdict is final)
        #expect(diagnose(stuckRun(), thresholds: th).verdict == .inconclusive)
        th = .default
        th.logitSpreadMax = 1e-7
        th.collapseInputDependence = 0   // only the logits' own spread decides
        #expect(diagnose(stuckRun(), thresholds: th).verdict == .inconclusive)
        // C = 100: ln 100 = 4.605, the same losses are then clearly below chance.
        #expect(diagnose(stuckRun(), classes: 100).verdict == .learning)
    }

    @Test func divergedNamesIterationLayerAndBlob() {
        var run = DiagFixture.seed(steps: 60, loss: { $0 >= 37 ? .nan : 2.31 }, logitSpread: { _ in 0.1 })
        var reached = false
        for i in run.layers.indices {
            if run.layers[i].name == "conv3_1" { reached = true }
            guard reached, run.layers[i].series["forward/nonfinite_count"] != nil else { continue }
            for step in 37..<60 { run.layers[i].series["forward/nonfinite_count"]![step] = 4 }
        }
        let d = diagnose(run)
        #expect(d.verdict == .diverged)
        #expect(d.numbers.nonFinite == NonFiniteSite(iteration: 37, layer: "conv3_1", blob: "forward"))
        let f = d.findings.first { $0.kind == .nonFinite }
        #expect(f?.layer == "conv3_1")
        #expect(f?.detail.contains("iteration 37") == true)
        #expect(d.explanation.contains("iteration 37 in conv3_1 (forward)"))
        #expect(d.explanation.contains("last finite loss was 2.31 at iteration 36"))
        // Early stop: settled the moment the NaN is recorded, not before (by the long rules: with
        // the short one this input-collapsed run at 2.31 is already settled stuck after 20 steps).
        var long = DiagnosisThresholds.default
        long.settleShortSteps = 0
        #expect(settledVerdict(DiagFixture.prefix(run, 37), thresholds: long) == nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 38), thresholds: long) == .diverged)
        #expect(settledVerdict(DiagFixture.prefix(run, 38)) == .diverged)
    }

    @Test func divergedInBackwardFollowsBackwardOrder() {
        var run = DiagFixture.seed(steps: 20, loss: { _ in 2.31 }, logitSpread: { _ in 0.1 })
        // Non-finite gradients written by relu1_1 and conv2_1 at step 12: backward runs from the
        // loss towards the data, so conv2_1's comes first.
        for name in ["relu1_1", "conv2_1"] {
            let i = run.layers.firstIndex { $0.name == name }!
            var counts = Array(repeating: 0.0, count: 20)
            counts[12] = 1
            run.layers[i].series["backward/nonfinite_count"] = counts
        }
        let d = diagnose(run)
        #expect(d.verdict == .diverged)
        #expect(d.numbers.nonFinite == NonFiniteSite(iteration: 12, layer: "conv2_1", blob: "backward"))
    }

    @Test func nonFiniteLossOnlyAndDivergedStatus() {
        let run = DiagFixture.seed(steps: 20, loss: { $0 == 5 ? .infinity : 2.31 }, logitSpread: { _ in 0.1 })
        #expect(diagnose(run).numbers.nonFinite == NonFiniteSite(iteration: 5, layer: "loss", blob: "loss"))
        var flagged = DiagFixture.seed(steps: 20, loss: { _ in 2.31 }, logitSpread: { _ in 0.1 })
        flagged.attributes["status"] = "diverged"
        let d = diagnose(flagged)
        #expect(d.verdict == .diverged && d.numbers.nonFinite == nil)
        #expect(settledVerdict(flagged) == .diverged)
    }

    @Test func inconclusiveWithThreeSteps() {
        let run = DiagFixture.seed(steps: 3, loss: { _ in 2.3026 }, logitSpread: { _ in 1e-6 })
        let d = diagnose(run)
        #expect(d.verdict == .inconclusive)
        #expect(d.explanation.contains("Only 3 recorded steps"))
        #expect(settledVerdict(run) == nil)
        // Findings at initialisation are still reported.
        #expect(d.findings.contains { $0.kind == .biasDominated })
        #expect(diagnose(RunRecord()).verdict == .inconclusive)
    }

    @Test func earlyStopLearning() {
        // Mean of the last 50 losses < 0.75·ln 10 first at n = 78 recorded steps:
        // 2.30 − 1.1·(n − 25.5)/99 < 1.72694 ⇔ n > 77.08.
        // (The long rule alone; the 20-step rule settles it at 63, SettleTests.)
        let run = learningRun()
        var th = DiagnosisThresholds.default
        th.settleShortSteps = 0
        #expect(settledVerdict(DiagFixture.prefix(run, 49), thresholds: th) == nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 77), thresholds: th) == nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 78), thresholds: th) == .learning)
    }

    @Test func earlyStopStuck() {
        // The long rule (the short one, collapse since the start, off: SettleTests covers it):
        // 50 consecutive steps, all at iterations ≥ 100: first at iterations 100…149.
        let run = stuckRun()
        var th = DiagnosisThresholds.default
        th.settleShortSteps = 0
        #expect(settledVerdict(DiagFixture.prefix(run, 60), thresholds: th) == nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 149), thresholds: th) == nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 150), thresholds: th) == .stuckAtChance)
        // A loss that leaves the settle band (0.069 nats) inside the stretch un-settles it.
        var bumped = run
        bumped.loss[140] = lnTen - 0.1
        #expect(settledVerdict(DiagFixture.prefix(bumped, 150), thresholds: th) == nil)
        #expect(settledVerdict(DiagFixture.prefix(bumped, 191), thresholds: th) == .stuckAtChance)
        // With the short rule this input-collapsed run settles after 20 steps.
        #expect(settledVerdict(DiagFixture.prefix(run, 19)) == nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 20)) == .stuckAtChance)
    }
}

@Suite struct DiagnosisFindingTests {
    func seedRun() -> RunRecord {
        DiagFixture.seed(steps: 300, loss: { log(10.0) + 0.001 * sin(Double($0)) }, logitSpread: { _ in 1e-6 })
    }

    @Test func biasDominatedLayersOfTheSeedNet() {
        let d = diagnose(seedRun())
        let biased = d.findings.filter { $0.kind == .biasDominated }
        // Mean-field of the fixture: E[b²]/E[z²] = 1/1.25 = 80% at conv1_1, 1/1.625 = 61.5% at
        // conv2_1, … → 50%: every one of the 11 linear layers is above a third.
        #expect(biased.count == 11)
        #expect(biased.first?.layer == "conv1_1")
        #expect(biased.first?.detail.contains("80%") == true)
        // conv1_1's varying share: (1 − 1/128)·(1 − 0.98) = 1.98%.
        #expect(biased.first?.detail.contains("only 2% of E[z²] varies with the input") == true)
        let conv1 = d.initial.first { $0.name == "conv1_1" }
        #expect(abs((conv1?.biasShare ?? 0) - 0.8) < 1e-12)
        #expect(abs((conv1?.sigmaW2 ?? 0) - 1) < 1e-12)
        #expect(d.explanation.contains("conv1_1's bias filler is Caffe `xavier` on a 1-D blob"))
        #expect(d.explanation.contains("U(±1.732)"))
        #expect(d.explanation.contains("measured 1.000"))
        #expect(d.explanation.contains("σ_w² = Var(w)·fan_in = 1"))
        // The fixed point q* = σ_b²/(1 − σ_w²/2) = 2.
        #expect(d.explanation.contains("q* = σ_b²/(1 − σ_w²/2) = 2"))
    }

    @Test func fillerArithmeticOnlyClaimedWhenItHolds() {
        // variance_norm AVERAGE on a bias of 64: n = (1 + 64)/2, variance 1/32.5 — not U(±√3).
        let run = DiagFixture.run(sigmaW2: 1, biasVariance: 1 / 32.5, steps: 3, loss: { _ in 2.3 }, logitSpread: { _ in 1 },
                                  biasFiller: "type: \"xavier\" variance_norm: AVERAGE")
        let d = diagnose(run)
        #expect(!d.explanation.contains("U(±1.732)"))
        // Deeper layers are still bias-dominated (q → σ_b²/(1 − σ_w²/2), half of it bias): the
        // paragraph is there, with the measured variance instead of the fan_in-1 story.
        #expect(d.explanation.contains("variance_norm: AVERAGE`) has variance 0.0308"))
        let plain = diagnose(DiagFixture.run(sigmaW2: 1, biasVariance: 1, steps: 3, loss: { _ in 2.3 }, logitSpread: { _ in 1 }))
        #expect(plain.explanation.contains("U(±1.732)"))
    }

    @Test func firstCollapsedLayer() {
        // input_dependence from the fixture's recursion (checked independently): conv4_1 7.2e-4,
        // relu4_1 1.05e-3 (above 1e-3: the collapse does not "stay"), conv4_2 3.5e-4 and below from there.
        let d = diagnose(seedRun())
        #expect(d.firstCollapsedLayer == "conv4_2")
        let f = d.findings.first { $0.kind == .inputCollapse }
        #expect(f?.layer == "conv4_2")
        #expect(f?.detail.hasPrefix("at initialisation") == true)
        #expect(d.explanation.contains("from **conv4_2** on"))
        // A looser threshold moves it earlier: below 1e-2 from pool2 on (9.5e-3; conv2_1 is 7.3e-3
        // but relu2_1 after it 1.04e-2).
        var th = DiagnosisThresholds.default
        th.collapseInputDependence = 1e-2
        #expect(diagnose(seedRun(), thresholds: th).firstCollapsedLayer == "pool2")
    }

    @Test func allZeroBlobCountsAsCollapsed() {
        // fc7's ReLU outputs nothing but zeros (every unit dead): input_dependence is 0/0 = NaN in
        // the trace. From relu7 on nothing depends on the input; fc8 = its bias.
        var run = DiagFixture.healthy(steps: 3, loss: { _ in 2.3 }, logitSpread: { _ in 0 })
        for name in ["relu7", "fc8"] {
            let i = run.layers.firstIndex { $0.name == name }!
            run.layers[i].series["forward/std"] = [0, 0, 0]
            run.layers[i].series["forward/between_sample_std"] = [0, 0, 0]
            run.layers[i].series["forward/input_dependence"] = [.nan, .nan, .nan]
        }
        #expect(diagnose(run).firstCollapsedLayer == "relu7")
    }

    @Test func healthyNetHasNoInitProblems() {
        let d = diagnose(DiagFixture.healthy(steps: 100, loss: { 2.30 - 1.1 * Double($0) / 99 }, logitSpread: { _ in 0.5 }))
        #expect(d.firstCollapsedLayer == nil)
        let kinds = Set(d.findings.map(\.kind))
        #expect(kinds.isEmpty, "unexpected findings: \(d.findings)")
    }

    @Test func deadUnitsAtInitialisation() {
        let d = diagnose(seedRun())
        let dead = d.findings.filter { $0.kind == .deadUnits }
        #expect(dead.count == 10)   // every ReLU of the fixture: 45% dead
        #expect(dead.first?.layer == "relu1_1")
        #expect(dead.first?.detail.contains("45%") == true)
    }

    @Test func vanishingAndExplodingGradient() {
        let flat: (Int) -> Double = { _ in 2.3 }
        let vanishing = diagnose(DiagFixture.run(sigmaW2: 2, biasVariance: 0, steps: 5, loss: flat,
                                                 logitSpread: { _ in 0.5 }, backwardDecay: 0.3))
        let v = vanishing.findings.first { $0.kind == .vanishingGradient }
        // relu1_1 gets 0.3^9 = 1.97e-5 of the loss layer's 1.0.
        #expect(v?.layer == "relu1_1")
        #expect(v?.detail.contains("1.97e-5") == true)
        let exploding = diagnose(DiagFixture.run(sigmaW2: 2, biasVariance: 0, steps: 5, loss: flat,
                                                 logitSpread: { _ in 0.5 }, backwardDecay: 3))
        #expect(exploding.findings.contains { $0.kind == .explodingGradient && $0.layer == "relu1_1" })
        #expect(!exploding.findings.contains { $0.kind == .vanishingGradient })
        // 0.5^9 = 2e-3: above the 1e-3 threshold, no finding.
        let mild = diagnose(DiagFixture.run(sigmaW2: 2, biasVariance: 0, steps: 5, loss: flat,
                                            logitSpread: { _ in 0.5 }, backwardDecay: 0.5))
        #expect(!mild.findings.contains { $0.kind == .vanishingGradient })
    }

    @Test func activationScaleFindings() {
        // σ_w² = 8: E[z²] grows ×4 per layer, RMS ×2: past 100× the input's 0.5 at the 8th linear layer.
        let d = diagnose(DiagFixture.run(sigmaW2: 8, biasVariance: 0, steps: 3, loss: { _ in 2.3 }, logitSpread: { _ in 1 }))
        let f = d.findings.first { $0.kind == .explodingActivation }
        #expect(f != nil)
        let snaps = d.initial
        if let name = f?.layer, let s = snaps.first(where: { $0.name == name }), let q = s.secondMoment {
            #expect(q.squareRoot() > 100 * 0.5)
        }
        let small = diagnose(DiagFixture.run(sigmaW2: 0.5, biasVariance: 0, steps: 3, loss: { _ in 2.3 }, logitSpread: { _ in 1 }))
        #expect(small.findings.contains { $0.kind == .vanishingActivation })
    }

    @Test func dyingUnitsAndLargeUpdates() {
        var run = DiagFixture.healthy(steps: 40, loss: { 2.3 - 0.01 * Double($0) }, logitSpread: { _ in 0.5 })
        let relu = run.layers.firstIndex { $0.name == "relu3_1" }!
        run.layers[relu].series["forward/dead_fraction"] = (0..<40).map { 0.6 * Double($0) / 39 }
        let conv = run.layers.firstIndex { $0.name == "conv3_1" }!
        run.layers[conv].series["param0/update_ratio"] = Array(repeating: 0.05, count: 40)
        let d = diagnose(run)
        let dying = d.findings.filter { $0.kind == .dyingUnits }
        #expect(dying.map(\.layer) == ["relu3_1"])
        #expect(dying.first?.detail.contains("from 0% at iteration 0 to 60% at iteration 39") == true)
        let large = d.findings.filter { $0.kind == .largeUpdates }
        #expect(large.map(\.layer) == ["conv3_1"])
        #expect(large.first?.detail.contains("weights is 0.05") == true)
    }

    @Test func meanFieldPredictionsMatchTheRecursion() {
        // The fixture's statistics follow mean-field exactly, so the library's one-step prediction
        // (from the measured input) and the chained one (from the data) must reproduce them.
        let d = diagnose(seedRun())
        for s in d.initial where ["Convolution", "InnerProduct"].contains(s.type) {
            guard let q = s.secondMoment else { Issue.record("no E[z²] for \(s.name)"); continue }
            #expect(abs((s.predictedSecondMoment ?? 0) / q - 1) < 1e-9, "\(s.name)")
            #expect(abs((s.chainSecondMoment ?? 0) / q - 1) < 1e-9, "\(s.name)")
            if s.name != "fc8", let share = s.betweenShare {   // fc8's spread is the test's, not mean-field's
                #expect(abs((s.predictedBetweenShare ?? 0) / share - 1) < 1e-6, "\(s.name)")
                #expect(abs((s.chainBetweenShare ?? 0) / share - 1) < 1e-6, "\(s.name)")
            }
        }
        #expect(!d.findings.contains { $0.kind == .meanFieldMismatch })
        // The probes' own prediction, when it disagrees by more than 3×, is reported.
        var run = seedRun()
        let i = run.layers.firstIndex { $0.name == "conv2_1" }!
        run.layers[i].attributes["predicted_q"] = "6.5"   // measured 1.625: a factor 4
        let m = diagnose(run).findings.filter { $0.kind == .meanFieldMismatch }
        #expect(m.map(\.layer) == ["conv2_1"])
        #expect(m.first?.detail.contains("a factor 4") == true)
    }

    @Test func reluKernel() {
        #expect(abs(MeanFieldChain.reluCorrelationKernel(1) - 1) < 1e-15)
        #expect(abs(MeanFieldChain.reluCorrelationKernel(0) - 1 / Double.pi) < 1e-15)   // √1/π
        #expect(abs(MeanFieldChain.reluCorrelationKernel(-1)) < 1e-15)
    }

    @Test func findingJSONHasExplicitNullLayer() throws {
        let findings = [Finding(kind: .nonFinite, layer: nil, detail: "x"),
                        Finding(kind: .biasDominated, layer: "conv1_1", detail: "80% \"quoted\"")]
        let text = findingsJSON(findings)
        #expect(text.contains("\"layer\":null"))
        let back = try JSONDecoder().decode([Finding].self, from: Data(text.utf8))
        #expect(back == findings)
    }
}

@Suite struct DiagnosisSweepTests {
    @Test func sweepExplanationNamesTheFix() {
        let stuck = diagnose(DiagFixture.seed(steps: 300, loss: { log(10.0) + 0.001 * sin(Double($0)) }, logitSpread: { _ in 1e-6 }))
        func learner(final: Double, accuracy: Double) -> Diagnosis {
            var run = DiagFixture.healthy(steps: 100, loss: { 2.30 - (2.30 - final) * Double($0) / 99 }, logitSpread: { _ in 0.5 })
            run.testIterations = [99]; run.testLoss = [final]; run.testAccuracy = [accuracy]
            return diagnose(run)
        }
        let text = explainSweep([
            VariantOutcome(scheme: "w=as-declared,b=as-declared", diagnosis: stuck),
            VariantOutcome(scheme: "w=as-declared,b=zero", diagnosis: learner(final: 1.4, accuracy: 0.48)),
            VariantOutcome(scheme: "w=caffe-msra,b=zero", diagnosis: learner(final: 1.1, accuracy: 0.61)),
            VariantOutcome(scheme: "w=torch-default,b=torch-default", diagnosis: stuck),
        ])
        #expect(text.contains("With `w=as-declared,b=as-declared` the net is **stuck-at-chance**"))
        #expect(text.contains("Changing only the bias filler fixes it: `w=as-declared,b=zero` is **learning**"))
        #expect(text.contains("**Recommendation: `w=caffe-msra,b=zero`** — loss 2.3 → mean 1.1545 over the last 10 recorded steps, test accuracy 61%"), "\(text)")
        #expect(text.contains("Not learning: `w=torch-default,b=torch-default` (stuck-at-chance"))
        #expect(text.contains("U(±1.732)"))
    }

    @Test func declaredSchemeThatLearnsIsRecommendedWhenBest() {
        var good = DiagFixture.healthy(steps: 100, loss: { 2.30 - 1.2 * Double($0) / 99 }, logitSpread: { _ in 0.5 })
        good.testIterations = [99]; good.testLoss = [1.1]; good.testAccuracy = [0.6]
        var worse = good
        worse.testAccuracy = [0.4]
        let text = explainSweep([VariantOutcome(scheme: "w=as-declared,b=as-declared", diagnosis: diagnose(good)),
                                 VariantOutcome(scheme: "w=caffe-msra,b=zero", diagnosis: diagnose(worse))])
        #expect(text.contains("the net is **learning**"))
        #expect(text.contains("**Recommendation: `w=as-declared,b=as-declared`**"))
        #expect(!text.contains("Changing only the bias filler"))
    }

    @Test func formatting() {
        #expect(diagFormat(2.302585, digits: 5) == "2.3026")
        #expect(diagFormat(0.037037) == "0.037")
        #expect(diagFormat(1.5e-5, digits: 2) == "1.5e-5")
        #expect(diagFormat(123456) == "1.23e5")
        #expect(diagFormat(-0.0) == "0")
        #expect(diagFormat(.nan) == "NaN")
        #expect(diagPercent(0.9712) == "97%")
        #expect(diagPercent(0.0031) == "0.31%")
        #expect(diagPercentFine(0.99993) == "99.993%")
        #expect(diagPercentFine(0.999989) == "99.9989%")
        #expect(diagPercentFine(0.97) == "97%")
        #expect(diagPercentFine(1 - 5e-13) == "100% − 5e-11%")
    }
}

@Suite struct DropoutCollapseTests {
    /// A collapse before a Dropout stays a collapse: the masks give later layers a spread that is
    /// noise (the seed net's pool5 → drop6 → fc6).
    @Test func collapseBeforeDropoutIsFound() {
        func layer(_ name: String, _ type: String, _ i: Int, idep: Double, bottoms: String, tops: String) -> LayerRecord {
            DiagFixture.record(name, type, index: i, attributes: ["bottoms": bottoms, "tops": tops],
                               series: ["forward/input_dependence": [idep, idep], "forward/std": [1, 1],
                                 "forward/mean": [0.5, 0.5], "forward/between_sample_std": [idep.squareRoot(), idep.squareRoot()]])
        }
        let run = RunRecord(attributes: ["status": "finished"], iterations: [0, 1], loss: [2.3, 2.3], lr: [0.01, 0.01],
                            layers: [layer("data", "Data", 0, idep: 0.9, bottoms: "", tops: "data,label"),
                                     layer("conv1", "Convolution", 1, idep: 0.2, bottoms: "data", tops: "conv1"),
                                     layer("conv2", "Convolution", 2, idep: 1e-5, bottoms: "conv1", tops: "conv2"),
                                     layer("pool", "Pooling", 3, idep: 1e-6, bottoms: "conv2", tops: "pool"),
                                     layer("drop", "Dropout", 4, idep: 0.3, bottoms: "pool", tops: "pool"),
                                     layer("fc", "InnerProduct", 5, idep: 0.3, bottoms: "pool", tops: "fc"),
                                     DiagFixture.record("loss", "SoftmaxWithLoss", index: 6,
                                                        attributes: ["bottoms": "fc,label", "tops": "loss"])])
        #expect(diagnose(run).firstCollapsedLayer == "conv2")
        #expect(logitsIndependentOfInput(run, step: 0))
    }
}
