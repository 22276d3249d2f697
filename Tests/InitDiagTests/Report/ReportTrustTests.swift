import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// A report a reader does not trip over: the loss figure scaled to the variants that did not
/// diverge, the gradient figure's own axis label, Dropout's segment explained in the figures, no
/// "predicts this" next to a miss, no bias share above 100%, summary.json's cause and
/// recommendation; probe leads with its prediction; inspect flags the xavier biases.
@Suite struct ReportTrustTests {
    /// The y tick labels of an SVG chart (the text elements right-aligned at the axis).
    static func yTicks(_ svg: String) -> [Double] {
        svg.components(separatedBy: "text-anchor=\"end\">").dropFirst().compactMap { Double($0.prefix { $0 != "<" }) }
    }

    @Test("loss figure: y-range from the non-diverged variants, × where the diverged one diverges")
    func lossRangeIgnoresDivergence() throws {
        var variants = ReportTestSupport.variants()
        let boom = DiagFixture.seed(steps: 40, loss: { $0 >= 30 ? .nan : 2.3 + 2.6 * Double($0) }, logitSpread: { _ in 0.5 })
        var r = boom
        r.attributes["scheme"] = "w=caffe-msra,b=zero,lr=10"
        variants.append(SweepVariantResult(scheme: "w=caffe-msra,b=zero,lr=10", slug: "lr10", trace: "traces/lr10.h5", run: r,
                                           diagnosis: diagnose(r), testAccuracy: nil))
        #expect(variants.last?.diagnosis.verdict == .diverged)
        let loss = try #require(sweepFigures(variants: variants).first { $0.file == "loss.svg" })
        let ticks = Self.yTicks(loss.svg)
        #expect(!ticks.isEmpty)
        // The others span 1.1–2.31: the axis ends near 2.5, not at the diverged 77.
        #expect((ticks.max() ?? 100) <= 3, "\(ticks)")
        #expect(loss.svg.contains("diverged at 30"))
        #expect(loss.caption.contains("did not diverge"))
        #expect(ReportXMLProbe.parse(Data(loss.svg.utf8)) != nil, "not well-formed")
        // Without a diverged variant nothing is clipped.
        let calm = try #require(sweepFigures(variants: ReportTestSupport.variants()).first { $0.file == "loss.svg" })
        #expect(!calm.svg.contains("outside the range shown"))
    }

    @Test("gradient figure has its own x label; the Dropout segment is explained in the depth figures")
    func axisLabelsAndDropout() throws {
        var variants = ReportTestSupport.variants()
        // Put a Dropout before fc7 (as in VGG's fc6 → drop6 → fc7).
        for k in variants.indices {
            var run = variants[k].run
            if let fc7 = run.layers.firstIndex(where: { $0.name == "fc7" }) ?? run.layers.firstIndex(where: { $0.type == "InnerProduct" }) {
                run.layers.insert(DiagFixture.record("drop6", "Dropout", index: 0, attributes: [:]), at: fc7)
                run.layers = run.layers.enumerated().map { i, l in var l = l; l.index = i; return l }
            }
            variants[k].run = run
        }
        let figures = sweepFigures(variants: variants)
        let grad = try #require(figures.first { $0.file == "gradient_l2.svg" })
        #expect(!grad.svg.contains("before its in-place ReLU"))
        #expect(grad.svg.contains("the gradient it writes into its bottom"))
        for file in ["input_dependence.svg", "between_sample_std.svg"] {
            let f = try #require(figures.first { $0.file == file })
            #expect(f.svg.contains("follow Dropout"), "\(file)")
            #expect(f.caption.contains("mask noise"), "\(file)")
        }
        let corr = try #require(figures.first { $0.file.hasPrefix("correlation_") })
        #expect(corr.svg.contains("follow Dropout"))
    }

    @Test("no bias share above 100%; 'predicts this' only when the prediction is within a factor 10")
    func wording() throws {
        var run = DiagFixture.seed(steps: 120, loss: { _ in log(10.0) }, logitSpread: { _ in 1e-6 })
        // Measured E[z²] of conv1_1 below its bias's E[b²] (the input cancels part of the bias).
        if let k = run.layers.firstIndex(where: { $0.type == "Convolution" }) {
            let n = run.iterations.count
            run.layers[k].series["forward/mean"] = Array(repeating: 0, count: n)
            run.layers[k].series["forward/std"] = Array(repeating: 0.9, count: n)
        }
        let d = diagnose(run)
        let text = d.explanation + d.findings.map(\.detail).joined(separator: " ")
        for m in text.matches(of: /(\d+(?:\.\d+)?)%/) {
            #expect((Double(m.1) ?? 0) <= 100, "a share above 100%: \(m.0)")
        }
        #expect(text.contains("exceeds the measured E[z²]") || text.contains("as large as the whole pre-activation"), "\(text)")
        // The fixture's chained prediction: agree → "predicts this"; a miss → the other wording.
        let plain = diagnose(DiagFixture.seed(steps: 100, loss: { _ in log(10.0) }, logitSpread: { _ in 1e-6 }))
        if let para = meanFieldParagraph(plain) {
            var off = plain
            // The paragraph compares at the deepest layer in front of the first Dropout (behind
            // it the spread is partly mask noise), and names it as such.
            let dropout = plain.initial.first(where: { $0.type == "Dropout" })?.index ?? Int.max
            let k0 = plain.initial.lastIndex(where: { $0.chainBetweenShare != nil && $0.betweenShare != nil && $0.index < dropout })
            if dropout != Int.max, let k0 {
                #expect(para.contains("of \(plain.initial[k0].name)'s second moment") && para.contains("in front of the first Dropout"), "\(para)")
            }
            if let k = k0 {
                off.initial[k].chainBetweenShare = 3.4e-8
                off.initial[k].betweenShare = 0.35
            }
            let miss = try #require(meanFieldParagraph(off))
            // With a Dropout in front of the fc layers (as in the seed: drop6 before fc6), the
            // comparison moves to the deepest convolution and says why.
            var dropped = plain
            if let fc = plain.initial.first(where: { $0.name.hasPrefix("fc") }),
               let lastConv = plain.initial.last(where: { $0.type == "Convolution" && $0.chainBetweenShare != nil }) {
                var drop = fc
                drop.name = "drop6"; drop.type = "Dropout"; drop.role = .neuron; drop.meanField = .independentNoise(factor: 2)
                dropped.initial.append(drop)
                let text = try #require(meanFieldParagraph(dropped))
                #expect(text.contains("of \(lastConv.name)'s second moment") && text.contains("in front of the first Dropout"), "\(text)")
                #expect(!text.contains("of \(fc.name)'s second moment"))
            } else {
                Issue.record("the fixture has no fc layer or no convolution with a chained prediction")
            }
            #expect(!miss.contains("predicts this"), "\(miss)")
            #expect(miss.contains("not for the numbers"))
            _ = para
        }
    }

    @Test("summary.json: cause and recommendation")
    func summaryCauseAndRecommendation() throws {
        let summary = sweepSummary(netName: "n", data: "d", iterations: 120, variants: ReportTestSupport.variants())
        let text = String(decoding: try reportJSONEncoder().encode(summary), as: UTF8.self)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let cause = try #require(object["cause"] as? [String: Any], "\(text.prefix(400))")
        #expect((cause["text"] as? String)?.contains("xavier") == true)
        #expect((cause["kinds"] as? [String])?.contains("bias-dominated") == true)
        let rec = try #require(object["recommendation"] as? [String: Any])
        #expect(rec["scheme"] as? String == "w=caffe-msra,b=zero")
        #expect(rec["barely_below_chance"] as? Bool == false)
        #expect((rec["text"] as? String)?.hasPrefix("**Recommendation: `w=caffe-msra,b=zero`**") == true)
        // None learned: explicit nulls.
        let none = sweepSummary(netName: "n", data: "d", iterations: 120, variants: [ReportTestSupport.variants()[0]])
        let t2 = String(decoding: try reportJSONEncoder().encode(none), as: UTF8.self)
        #expect(t2.contains("\"recommendation\" : null"))
    }

    @Test("probe on the seed net leads with the prediction and its cause; inspect flags the xavier biases")
    func probeAndInspectOnTheSeed() throws {
        let seed = CLIHarness.packageRoot.appendingPathComponent("Fixtures/seed")
        let dir = try CLIHarness.temporaryDirectory("probe-seed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try CLIHarness.run(["probe", "--solver", seed.appendingPathComponent("solver.prototxt").path, "--data", "synthetic",
                                    "--batch-size", "4", "--threads", "2"], in: dir, timeout: 300)
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout.hasPrefix("prediction: the input is gone from "), "\(p.stdout.prefix(400))")
        #expect(p.stdout.contains("cause:      the xavier bias filler"), "\(p.stdout.prefix(600))")
        #expect(p.stdout.contains("try:        bias_filler { type: \"constant\" }"))
        let i = try CLIHarness.run(["inspect", "--net", seed.appendingPathComponent("train_val.prototxt").path], in: dir)
        #expect(i.status == 0)
        #expect(i.stdout.contains("bias filler as strong as the weights' signal in conv1_1"), "\(i.stdout.suffix(600))")
        // A PyTorch-default scheme's biases are weaker than its weights' signal: no flag.
        let t = try CLIHarness.run(["inspect", "--net", seed.appendingPathComponent("train_val.prototxt").path,
                                    "--scheme", "w=caffe-msra,b=zero"], in: dir)
        #expect(!t.stdout.contains("bias filler as strong"))
    }
}

@Suite struct BatchNormTestStatisticsWordingTests {
    /// A BatchNorm net whose training loss falls below ln 10 while its test accuracy sits at
    /// chance (Caffe tests on running statistics that still hold the first batches): the
    /// inconclusive explanation says why, and a net without BatchNorm does not get the sentence.
    @Test func inconclusiveBatchNormNetExplainsItsTest() {
        func run(batchNorm: Bool, loss: Double = 2.15) -> RunRecord {
            var r = DiagFixture.healthy(steps: 100, loss: { _ in loss }, logitSpread: { _ in 0.5 })
            r.testIterations = [99]; r.testLoss = [2.4]; r.testAccuracy = [0.1]
            r.attributes["test_samples"] = "1000"
            if batchNorm, let k = r.layers.firstIndex(where: { $0.type == "ReLU" }) {
                var bn = r.layers[k]
                bn.name = "bn1"; bn.type = "BatchNorm"; bn.series = [:]
                bn.attributes["role"] = LayerRole.normalization.rawValue
                bn.attributes["mean_field"] = MeanFieldRule.standardize.attribute
                r.layers.insert(bn, at: k)
            }
            return r
        }
        let with = diagnose(run(batchNorm: true)), without = diagnose(run(batchNorm: false))
        #expect(with.verdict == .inconclusive && without.verdict == .inconclusive, "\(with.verdict) \(without.verdict)")
        #expect(with.explanation.contains("Caffe tests them on their global statistics"), "\(with.explanation)")
        #expect(!without.explanation.contains("global statistics"))
        // The same for a net that learns by its training loss while its test sits at chance.
        let learning = diagnose(run(batchNorm: true, loss: 1.2))
        #expect(learning.verdict == .learning && learning.explanation.contains("BatchNorm's stored averages")
                && !learning.explanation.contains("Caffe tests them on their global statistics"),
                "\(learning.verdict): \(learning.explanation.prefix(400))")
        // In a sweep's answer an inconclusive variant is undecided, not "not learning".
        let stuck = diagnose(DiagFixture.seed(steps: 300, loss: { log(10.0) + 0.001 * sin(Double($0)) }, logitSpread: { _ in 1e-6 }))
        let text = explainSweep([VariantOutcome(scheme: "w=as-declared,b=as-declared", diagnosis: stuck),
                                 VariantOutcome(scheme: "w=torch-default,b=torch-default", diagnosis: with)])
        #expect(text.contains("Undecided at the ceiling: `w=torch-default,b=torch-default` (inconclusive"), "\(text)")
        #expect(!text.contains("Not learning:") && text.contains("No variant was shown to learn"))
    }
}
