import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// A verdict rests on enough evidence: a test accuracy counts only above the one-sided binomial
/// chance band of its sample count and never from a test at iteration 0; a stuck verdict quotes
/// the steps its rule looked at; a recommendation still at ≥ 95% of ln C says so.
@Suite struct VerdictEvidenceTests {
    @Test("1 of 4 test images right is not learning; the same accuracy on 1,000 images is")
    func tinyTestIsNotLearning() {
        var run = DiagFixture.healthy(steps: 4, loss: { _ in 2.3 }, logitSpread: { _ in 0.5 })
        run.attributes["test_samples"] = "4"
        run.testIterations = [3]; run.testLoss = [2.2]; run.testAccuracy = [0.25]
        let d = diagnose(run)
        #expect(d.verdict == .inconclusive)
        #expect(d.numbers.testEvidence?.enoughSamples == false)
        #expect(d.explanation.contains("rests on 4 images: too few to tell learning from chance"), "\(d.explanation)")
        // n = 1000: σ = √(0.09/1000) = 0.0095, 3σ = 0.028 < margin 0.05 → threshold 15%.
        run.attributes["test_samples"] = "1000"
        let e = diagnose(run)
        #expect(e.verdict == .learning)
        #expect(abs((e.numbers.testEvidence?.threshold ?? 0) - 0.15) < 1e-12)
        #expect(e.explanation.contains("on 1000 images, above the one-sided chance band"), "\(e.explanation)")
        // n = 100 (the minimum): 3σ = 0.09 → threshold 19%: 25% learns, 18% does not.
        run.attributes["test_samples"] = "100"
        #expect(abs((diagnose(run).numbers.testEvidence?.threshold ?? 0) - 0.19) < 1e-12)
        run.testAccuracy = [0.18]
        #expect(diagnose(run).verdict == .inconclusive)
        run.attributes["test_samples"] = "99"
        run.testAccuracy = [0.5]
        #expect(diagnose(run).verdict == .inconclusive)
    }

    @Test("a test at iteration 0 alone is never evidence of learning")
    func testAtIterationZero() {
        var run = DiagFixture.healthy(steps: 1, loss: { _ in 2.3 }, logitSpread: { _ in 0.5 })
        run.attributes["test_samples"] = "10000"
        run.testIterations = [0]; run.testLoss = [2.0]; run.testAccuracy = [0.9]
        let d = diagnose(run)
        #expect(d.verdict == .inconclusive)
        #expect(d.numbers.testEvidence == nil)
        #expect(d.explanation.contains("The only test was at iteration 0"))
    }

    @Test("train --batch-size 4 --iterations 0 --test-iter 1 on a net: not learning")
    func cliTinyTest() throws {
        let dir = try CLIHarness.temporaryDirectory("tiny-test")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        // A test phase needs test_iter/test_interval in the solver and an Accuracy layer.
        let net = dir.appendingPathComponent("net.prototxt").path
        let text = try String(contentsOfFile: net, encoding: .utf8)
            + "layer { name: \"acc\" type: \"Accuracy\" bottom: \"ip1\" bottom: \"label\" top: \"acc\" include { phase: TEST } }\n"
        try text.write(toFile: net, atomically: true, encoding: .utf8)
        try (String(contentsOfFile: solver, encoding: .utf8) + "test_iter: 1\ntest_interval: 1\n")
            .write(toFile: solver, atomically: true, encoding: .utf8)
        for seed in 1...6 {
            let out = try CLIHarness.run(["train", "--solver", solver, "--data", "synthetic:\(seed)", "--batch-size", "4",
                                          "--iterations", "0", "--test-iter", "1", "--threads", "1"], in: dir, timeout: 120)
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout.contains("Test net output"), "no test ran: \(out.stdout)")
            #expect(!out.stdout.contains("verdict learning"), "seed \(seed): \(out.stdout.suffix(300))")
        }
    }

    @Test("a stuck verdict quotes the steps its rule rests on, never a short tail of them")
    func stuckEvidenceIsTheRulesWindow() {
        // 150 steps: the loss wanders 2.45 ± 0.05 above ln 10 (one-sided band), and only the last
        // 5 come within the symmetric ±0.115 band. The verdict rests on the early stop's 50 steps.
        let loss: (Int) -> Double = { $0 >= 145 ? 2.35 : 2.45 + 0.05 * sin(Double($0)) }
        let d = diagnose(DiagFixture.seed(steps: 150, loss: loss, logitSpread: { _ in 1e-6 }))
        #expect(d.verdict == .stuckAtChance)
        #expect(d.numbers.bandSteps == 5)
        #expect(!d.explanation.contains("(5 recorded steps"), "\(d.explanation)")
        #expect(d.explanation.contains("Over the last 50 recorded steps (iterations 100–149; the rule needs 50, all at iterations ≥ 100) no loss fell below"), "\(d.explanation)")
        // 40 steps (none at iteration ≥ 100, so no early stop by the long rule; the short rule,
        // collapse since the start, is off here): the window's 20 steps, one-sided.
        var windowOnly = DiagnosisThresholds.default
        windowOnly.settleShortSteps = 0
        let e = diagnose(DiagFixture.seed(steps: 40, loss: { $0 >= 35 ? 2.35 : 2.45 + 0.05 * sin(Double($0)) }, logitSpread: { _ in 1e-6 }),
                         thresholds: windowOnly)
        #expect(e.verdict == .stuckAtChance)
        #expect(e.explanation.contains("Over the last 20 recorded steps (iterations 20–39; the rule needs at least 10) no loss fell below"), "\(e.explanation)")
        if case .windowInBand(_, _, let k, _, _, let oneSided)? = e.numbers.evidence {
            #expect(k == 20 && oneSided)
        } else {
            Issue.record("evidence \(String(describing: e.numbers.evidence))")
        }
        // Fewer than minWindowSteps in the window: never stuck.
        let f = diagnose(DiagFixture.seed(steps: 19, loss: { _ in log(10.0) }, logitSpread: { _ in 1e-6 }))
        #expect(f.verdict == .inconclusive)
    }

    @Test("a recommendation at ≥ 95% of ln C says it is barely below chance")
    func barelyLearningRecommendation() {
        var learner = DiagFixture.healthy(steps: 150, loss: { _ in 2.2 }, logitSpread: { _ in 0.5 })   // 95.5% of ln 10
        learner.attributes["scheme"] = "w=caffe-msra,b=zero,lr=0.1"
        learner.attributes["test_samples"] = "1000"
        learner.testIterations = [150]; learner.testLoss = [2.1]; learner.testAccuracy = [0.27]
        let stuck = DiagFixture.seed(steps: 150, loss: { _ in log(10.0) }, logitSpread: { _ in 1e-6 })
        let variants = [VariantOutcome(scheme: "w=as-declared,b=as-declared", diagnosis: diagnose(stuck)),
                        VariantOutcome(scheme: "w=caffe-msra,b=zero,lr=0.1", diagnosis: diagnose(learner))]
        #expect(variants[1].diagnosis.verdict == .learning)
        let text = explainSweep(variants)
        #expect(text.contains("**Recommendation: `w=caffe-msra,b=zero,lr=0.1`**"))
        #expect(text.contains("barely below chance"), "\(text)")
        #expect(text.contains("by its test accuracy (27% on 1000 images"), "\(text)")
        #expect(diagnose(learner).explanation.contains("barely below chance"))
    }

    @Test("RULES.md states every threshold the verdict uses, the chance band of the test accuracy included")
    func rulesDocumentThresholds() throws {
        let rules = try String(contentsOf: CLIHarness.packageRoot.appendingPathComponent("Sources/InitDiagDiagnosis/Diagnosis/RULES.md"), encoding: .utf8)
        for name in ["testAccuracyZ", "minTestSamplesPerClass", "barelyLearningLossFraction", "testAccuracyMargin",
                     "chanceBandAbove", "minWindowSteps", "settleSteps", "settleShortSteps", "one-sided"] {
            #expect(rules.contains(name), "RULES.md does not mention \(name)")
        }
    }
}
