import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagDiagnosis

/// The series of a trace that the verdict rules read (RULES.md "Verdict" and "Early stop"), as a
/// compact JSON fixture: root attributes status/scheme/batch_size/test_samples, the steps' iteration
/// and loss, the test phases, and per layer its role, mean_field, tops, bottoms,
/// forward/input_dependence, forward/between_sample_std and any non-finite count that is ever
/// positive. Written from real traces by `writeSettleFixture` below.
struct CompactRecord: Codable {
    struct Layer: Codable {
        var name: String
        var type: String
        var index: Int
        var attributes: [String: String]
        var series: [String: [Double?]]
    }
    var attributes: [String: String]
    var iterations: [Int]
    var loss: [Double]
    var testIterations: [Int]
    var testLoss: [Double?]
    var testAccuracy: [Double?]
    var layers: [Layer]

    static let rootKeys = ["status", "scheme", "batch_size", "test_samples", "data", "command"]
    static let layerKeys = ["role", "mean_field", "tops", "bottoms"]

    init(_ r: RunRecord) {
        // Six significant digits for the per-layer series (the rules compare them with thresholds
        // orders of magnitude away); the losses keep full precision (the bands are narrow).
        func round6(_ v: Double) -> Double? {
            guard v.isFinite else { return nil }
            return v == 0 ? 0 : Double(String(format: "%.6g", v))!
        }
        attributes = r.attributes.filter { Self.rootKeys.contains($0.key) }
        iterations = r.iterations
        loss = r.loss
        testIterations = r.testIterations
        testLoss = r.testLoss.map { $0.isFinite ? $0 : nil }
        testAccuracy = r.testAccuracy.map { $0.isFinite ? $0 : nil }
        layers = r.layers.map { l in
            var series: [String: [Double?]] = [:]
            for key in ["forward/input_dependence", "forward/between_sample_std"] {
                if let s = l.series[key] { series[key] = s.map(round6) }
            }
            for (key, s) in l.series where key.hasSuffix("nonfinite_count") && s.contains(where: { $0 > 0 }) {
                series[key] = s.map { $0.isNaN ? nil : $0 }
            }
            return Layer(name: l.name, type: l.type, index: l.index,
                         attributes: l.attributes.filter { Self.layerKeys.contains($0.key) }, series: series)
        }
    }

    var record: RunRecord {
        // A null in the JSON is a NaN of the trace ("not measured").
        RunRecord(attributes: attributes, iterations: iterations, loss: loss, lr: [],
                  testIterations: testIterations, testLoss: testLoss.map { $0 ?? .nan },
                  testAccuracy: testAccuracy.map { $0 ?? .nan },
                  layers: layers.map { l in
                      LayerRecord(name: l.name, type: l.type, index: l.index, attributes: l.attributes,
                                  series: l.series.mapValues { $0.map { $0 ?? .nan } })
                  })
    }
}

enum SettleFixture {
    static let demoPath = "Fixtures/settle/demo-full-runs.json"
    /// The seed sweep on the real CIFAR-10 (Reports/seed-vgg19-cifar10: batch 128, the seven
    /// default schemes, 300 iterations each with --no-early-stop).
    static let seedCIFARPath = "Fixtures/settle/seed-cifar10-full-runs.json"
    /// The first 300 recorded steps of BVLC's cifar10_full_sigmoid, as declared, on the real
    /// CIFAR-10 (Reports/bvlc-cifar10-sigmoid; the full run leaves ln 10 at ~1,300 and is learning
    /// at 2,000).
    static let sigmoidPath = "Fixtures/settle/bvlc-sigmoid-first-300.json"
    /// A diverged run's non-finite losses, as JSON strings.
    static let nonFinite = JSONDecoder.NonConformingFloatDecodingStrategy.convertFromString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    static func load(_ relative: String) throws -> [CompactRecord] {
        let url = URL(fileURLWithPath: packageRoot()).appendingPathComponent(relative)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = nonFinite
        return try decoder.decode([CompactRecord].self, from: Data(contentsOf: url))
    }

    /// What the sweep's trainer holds after `n` recorded steps of `run`: the steps so far, the
    /// tests before them, status "running".
    static func prefix(_ run: RunRecord, _ n: Int) -> RunRecord {
        var r = run
        r.iterations = Array(run.iterations.prefix(n))
        r.loss = Array(run.loss.prefix(n))
        r.lr = Array(run.lr.prefix(n))
        let last = r.iterations.last ?? -1
        let tests = run.testIterations.indices.filter { run.testIterations[$0] <= last }
        r.testIterations = tests.map { run.testIterations[$0] }
        r.testLoss = tests.compactMap { $0 < run.testLoss.count ? run.testLoss[$0] : nil }
        r.testAccuracy = tests.compactMap { $0 < run.testAccuracy.count ? run.testAccuracy[$0] : nil }
        r.attributes["status"] = "running"
        for i in r.layers.indices { r.layers[i].series = r.layers[i].series.mapValues { Array($0.prefix(n)) } }
        return r
    }

    /// Where the sweep's trainer stops `run` (checked every `every` recorded steps, as
    /// `TrainingOptions.settleCheckEvery`): the recorded step count and the settled verdict, nil
    /// when it would run to the end of the record.
    static func earlyStop(_ run: RunRecord, every: Int = TrainingOptions().settleCheckEvery,
                          thresholds: DiagnosisThresholds = .default) -> (steps: Int, verdict: Verdict)? {
        for n in stride(from: every, through: run.iterations.count, by: every) {
            if let v = settledVerdict(prefix(run, n), thresholds: thresholds), v != .inconclusive { return (n, v) }
        }
        return nil
    }
}

@Suite struct SettleRuleTests {
    let lnTen = DiagFixture.lnTen

    @Test func collapsedAtStartSettlesAfterTheShortStretch() {
        // The seed fixture: input collapsed from conv3_1 on at step 0 (mean-field, σ_b² = 1) at every
        // step, loss at ln 10 ± 0.001: settled after 20 recorded steps (iterations 0–19), not 19.
        let run = DiagFixture.seed(steps: 300, loss: { log(10.0) + 0.001 * sin(Double($0)) }, logitSpread: { _ in 0.5 })
        #expect(collapsedFromStart(run, steps: 300, thresholds: .default) != nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 19)) == nil)
        let o = settledOutcome(DiagFixture.prefix(run, 20))
        #expect(o?.verdict == .stuckAtChance && o?.rule == .stuckCollapsedAtStart && o?.stretch == 0..<20)
        // Off (settleShortSteps 0): only the long rule, at 150 steps.
        var th = DiagnosisThresholds.default
        th.settleShortSteps = 0
        #expect(settledVerdict(DiagFixture.prefix(run, 149), thresholds: th) == nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 150), thresholds: th) == .stuckAtChance)
        // The explanation quotes the short stretch and the collapsed layer.
        let d = diagnose(DiagFixture.prefix(run, 20))
        #expect(d.verdict == .stuckAtChance)
        if case let .settledShort(a, b, k, _, _, layer)? = d.numbers.evidence {
            #expect(a == 0 && b == 19 && k == 20 && layer == o?.collapsedLayer)
        } else {
            Issue.record("evidence \(String(describing: d.numbers.evidence))")
        }
        #expect(d.explanation.contains("stayed gone at every step since (the first layer from which it never came back; at single steps it may be gone earlier, as the input-collapse finding says); over the last 20 recorded steps (iterations 0–19; this rule needs 20)"))
    }

    @Test func aCollapseThatLiftsDoesNotSettleShort() {
        // Collapsed at step 0, but at step 10 the input dependence of every layer is back (0.5):
        // the short rule never applies, whatever the loss does.
        var run = DiagFixture.seed(steps: 200, loss: { _ in log(10.0) }, logitSpread: { _ in 0.5 })
        for i in run.layers.indices where run.layers[i].series["forward/input_dependence"] != nil {
            var s = run.layers[i].series["forward/input_dependence"]!
            s[10] = 0.5
            run.layers[i].series["forward/input_dependence"] = s
        }
        for n in stride(from: 20, through: 149, by: 10) { #expect(settledVerdict(DiagFixture.prefix(run, n)) == nil) }
        // The long rule still applies at 150 steps (steps 100–149 are all collapsed again).
        #expect(settledOutcome(DiagFixture.prefix(run, 150))?.rule == .stuck)
    }

    @Test func noCollapseAtStartDoesNotSettleShort() {
        // Logits spread, no layer collapsed at step 0, collapse from step 5 on (caused by
        // training): the long rule only.
        var run = DiagFixture.seed(steps: 200, loss: { _ in log(10.0) }, logitSpread: { _ in 0.5 })
        for i in run.layers.indices where run.layers[i].series["forward/input_dependence"] != nil {
            run.layers[i].series["forward/input_dependence"] = (0..<200).map { $0 < 5 ? 0.5 : 1e-5 }
        }
        #expect(collapsedFromStart(run, steps: 200, thresholds: .default) == nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 140)) == nil)
        #expect(settledOutcome(DiagFixture.prefix(run, 150))?.rule == .stuck)
    }

    @Test func theShortStretchNeedsTheSettleBand() {
        // Collapsed from the start; the loss comes down from 3.3 to ln 10 over 40 steps (the last
        // bias settling), then stays. Checked every 10 steps: the 20-step mean is 3.063 at 20 steps,
        // 2.814 at 30 (steps 10–29), both above (1 + 0.15)·ln 10 = 2.648; at 40 steps (20–39) it is
        // 2.564, nothing below the band: settled, one-sided.
        let run = DiagFixture.seed(steps: 200, loss: { $0 < 40 ? 3.3 - (3.3 - log(10.0)) * Double($0) / 40 : log(10.0) },
                                   logitSpread: { _ in 0.5 })
        let stop = SettleFixture.earlyStop(run)
        #expect(stop?.steps == 40 && stop?.verdict == .stuckAtChance)
        // One loss below the band (ln 10 − 0.1) at step 35 un-settles every stretch holding it:
        // 40 (20–39), 50 (30–49); 60 (40–59) settles.
        var dipped = run
        dipped.loss[35] = lnTen - 0.1
        #expect(settledVerdict(DiagFixture.prefix(dipped, 50)) == nil)
        #expect(SettleFixture.earlyStop(dipped)?.steps == 60)
    }

    @Test func learningSettlesOnTheShortStretch() {
        // 2.30 → 1.20 over 100 steps, input-dependent: the 20-step mean 2.30 − 1.1·(n − 10.5)/99 is
        // below 0.75·ln 10 = 1.72694 first at n = 63 (the 50-step mean first at n = 78).
        let run = DiagFixture.healthy(steps: 100, loss: { 2.30 - 1.1 * Double($0) / 99 }, logitSpread: { _ in 0.5 })
        #expect(settledVerdict(DiagFixture.prefix(run, 62)) == nil)
        #expect(settledOutcome(DiagFixture.prefix(run, 63))?.rule == .learningShort)
        var th = DiagnosisThresholds.default
        th.settleShortSteps = 0
        #expect(settledVerdict(DiagFixture.prefix(run, 77), thresholds: th) == nil)
        #expect(settledVerdict(DiagFixture.prefix(run, 78), thresholds: th) == .learning)
    }
}

/// BVLC's sigmoid example sits at ln 10 for ~1,300 iterations before it learns: its input is weak
/// from conv2 on at initialisation (input_dependence 8.2e-4, 4.9e-9 at the logits) but growing.
@Suite struct SettleSigmoidPlateauTests {
    @Test func theSigmoidPlateauIsNeverSettledAsStuck() throws {
        let records = try SettleFixture.load(SettleFixture.sigmoidPath).map(\.record)
        let run = try #require(records.first)
        #expect(run.iterations.count == 300)
        // At no check (every 10 steps) does the early stop settle it; the verdict is plateau.
        #expect(SettleFixture.earlyStop(run) == nil)
        let d = diagnose(run)
        #expect(d.verdict == .plateau)
        #expect(d.explanation.contains("Plateau (the input is coming back, not collapsed)"))
        // Without the growth rule (the rules before it) the short rule settled it as stuck after
        // 20 steps: the input "collapsed from the start" at conv2 and stayed below 1e-3 there.
        var before = DiagnosisThresholds.default
        before.returningGrowthMin = .infinity
        let old = SettleFixture.earlyStop(run, thresholds: before)
        #expect(old?.steps == 20 && old?.verdict == .stuckAtChance, "\(String(describing: old))")
        // The growth the rule sees: ×30 or more at the logits by step 10.
        let back = try #require(returningInput(run, step: 10))
        #expect(back.now / back.first >= 10)
    }
}

/// The early verdict equals the full-run verdict, on the recorded full runs of the demo
/// (`scripts/demo.sh`'s sweep with `--no-early-stop`, Fixtures/settle/README.md).
@Suite struct SettleOnRecordedRunsTests {
    /// The demo's recorded full runs (synthetic data, batch 16) and the seed sweep's on the real
    /// CIFAR-10 (batch 128, 300 iterations, Reports/seed-vgg19-cifar10), all with --no-early-stop.
    @Test(arguments: [SettleFixture.demoPath, SettleFixture.seedCIFARPath])
    func earlyVerdictEqualsFullRunVerdict(_ path: String) throws {
        let records = try SettleFixture.load(path).map(\.record)
        #expect(records.count == 7)
        var lines: [String] = []
        for run in records {
            let full = diagnose(run).verdict
            // The new rules change no full-run verdict …
            var old = DiagnosisThresholds.default
            old.settleShortSteps = 0
            #expect(diagnose(run, thresholds: old).verdict == full, "\(run.scheme)")
            // … and where the sweep would stop the run, its settled verdict is the full run's.
            let stop = SettleFixture.earlyStop(run)
            if let stop {
                #expect(stop.verdict == full, "\(run.scheme): settled \(stop.verdict) after \(stop.steps) steps, full run \(full)")
                // The diagnosis of the stopped record says the same (rule 2b).
                var stopped = SettleFixture.prefix(run, stop.steps)
                stopped.attributes["status"] = stop.verdict == .diverged ? "diverged" : "finished"
                #expect(diagnose(stopped).verdict == full, "\(run.scheme)")
            }
            lines.append("\(run.scheme): full run \(full.rawValue) (\(run.iterations.count) steps), "
                         + (stop.map { "settles after \($0.steps) steps as \($0.verdict.rawValue)" } ?? "not settled early: runs to its end"))
        }
        print(lines.joined(separator: "\n"))
    }
}

/// Writes Fixtures/settle/demo-full-runs.json from the traces in $INITDIAG_SETTLE_TRACES (the
/// `traces/` folder of `bash scripts/demo.sh --no-early-stop`); skipped otherwise.
@Suite struct SettleFixtureWriter {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["INITDIAG_SETTLE_TRACES"] != nil))
    func writeSettleFixture() throws {
        let dir = ProcessInfo.processInfo.environment["INITDIAG_SETTLE_TRACES"]!
        // INITDIAG_SETTLE_FILTER keeps the traces whose name contains it; INITDIAG_SETTLE_STEPS cuts
        // each record to its first N steps; INITDIAG_SETTLE_OUT names the fixture (default: the demo's).
        let env = ProcessInfo.processInfo.environment
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { $0.hasSuffix(".h5") && !$0.hasSuffix(".caffemodel.h5") && (env["INITDIAG_SETTLE_FILTER"].map($0.contains) ?? true) }.sorted()
        let steps = env["INITDIAG_SETTLE_STEPS"].flatMap { Int($0) }
        let records = try names.map { name -> CompactRecord in
            let run = try RunRecord(trace: (dir as NSString).appendingPathComponent(name))
            return CompactRecord(steps.map { SettleFixture.prefix(run, $0) } ?? run)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let out = URL(fileURLWithPath: packageRoot()).appendingPathComponent(env["INITDIAG_SETTLE_OUT"] ?? SettleFixture.demoPath)
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(records).write(to: out)
        print("wrote \(records.count) records to \(out.path)")
    }
}
