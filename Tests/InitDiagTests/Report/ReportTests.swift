import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Parses XML and remembers the root element and every element's name.
final class ReportXMLProbe: NSObject, XMLParserDelegate {
    var root: String?
    var rootAttributes: [String: String] = [:]
    var elements: [String] = []
    var texts: [String] = []
    private var current = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        if root == nil { root = name; rootAttributes = attributes }
        elements.append(name)
        current = ""
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" || name == "title" { texts.append(current) }
        current = ""
    }

    /// nil when the document is not well-formed XML.
    static func parse(_ data: Data) -> ReportXMLProbe? {
        let parser = XMLParser(data: data)
        let probe = ReportXMLProbe()
        parser.delegate = probe
        return parser.parse() ? probe : nil
    }
}

enum ReportTestSupport {
    static func packageRoot() -> URL { URL(fileURLWithPath: InitDiagTests.packageRoot()) }

    static func temporaryDirectory(_ tag: String) throws -> String {
        let dir = NSTemporaryDirectory() + "initdiag-report-\(tag)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A chart with zeros and negatives on a log axis, a missing value, a non-finite value and
    /// text that needs escaping.
    static func logChart() -> SVGChart {
        SVGChart(title: "Gradient <l2> & \"friends\"",
                 xAxis: .categorical(label: "layer", categories: ["conv1_1", "conv1_2", "pool1", "conv2_1", "fc8"]),
                 yLabel: "l2", yScale: .log10,
                 series: [
                    .init(name: "a<b", values: [1e-3, 0, 2e-2, 5, 40]),
                    .init(name: "c & d", values: [3e-1, -1, nil, .nan, 7e2], dashed: true),
                 ])
    }

    static func variants() -> [SweepVariantResult] {
        let stuckRun = DiagFixture.seed(steps: 120, loss: { log(10.0) + 0.0005 * sin(Double($0)) }, logitSpread: { _ in 2e-6 })
        var biasZero = DiagFixture.run(sigmaW2: 1, biasVariance: 0, steps: 120, loss: { 2.3026 - 0.9 * Double($0) / 119 },
                                       logitSpread: { _ in 0.4 }, biasFiller: "type: \"constant\"")
        biasZero.testIterations = [60, 119]; biasZero.testLoss = [1.9, 1.45]; biasZero.testAccuracy = [0.31, 0.47]
        var msra = DiagFixture.healthy(steps: 120, loss: { 2.3026 - 1.2 * Double($0) / 119 }, logitSpread: { _ in 0.6 })
        msra.testIterations = [60, 119]; msra.testLoss = [1.7, 1.15]; msra.testAccuracy = [0.38, 0.59]
        let runs: [(String, String, RunRecord)] = [
            ("w=as-declared,b=as-declared", "w-as-declared_b-as-declared", stuckRun),
            ("w=as-declared,b=zero", "w-as-declared_b-zero", biasZero),
            ("w=caffe-msra,b=zero", "w-caffe-msra_b-zero", msra),
        ]
        return runs.map { scheme, slug, run in
            var r = run
            r.attributes["scheme"] = scheme
            return SweepVariantResult(scheme: scheme, slug: slug, trace: "traces/\(slug).h5", run: r,
                                      diagnosis: diagnose(r), testAccuracy: r.testAccuracy.last)
        }
    }
}

@Suite struct SVGChartTests {
    @Test func logAxisSkipsNonPositiveAndSaysSo() throws {
        let svg = ReportTestSupport.logChart().render()
        let probe = try #require(ReportXMLProbe.parse(Data(svg.utf8)))
        #expect(probe.root == "svg")
        #expect(probe.rootAttributes["xmlns"] == "http://www.w3.org/2000/svg")
        // 0 and −1 are not drawable on a log axis; NaN is non-finite; nil is just missing.
        #expect(probe.texts.contains("2 points ≤ 0 not shown (log scale)"))
        #expect(probe.texts.contains("1 non-finite point not shown"))
        // Escaped text comes back intact.
        #expect(probe.texts.contains("Gradient <l2> & \"friends\""))
        #expect(probe.texts.contains("a<b"))
        #expect(svg.contains("a&lt;b") && svg.contains("&amp; &quot;friends&quot;"))
        // Series a: 1e-3, [0], 2e-2, 5, 40 → lines 2e-2–5–40 (one polyline; 1e-3 stands alone).
        // Series c: 0.3, [−1], nil, NaN, 700 → no line with two points.
        #expect(probe.elements.filter { $0 == "polyline" }.count == 1)
        // Markers for every drawable point: 4 + 2.
        #expect(probe.elements.filter { $0 == "circle" }.count == 6)
        // Decades from 1e-3 to 1e3 label the axis.
        for label in ["0.001", "0.01", "0.1", "1", "10", "100", "1000"] { #expect(probe.texts.contains(label), "\(label)") }
        #expect(probe.texts.contains("l2 (log scale)"))
        // Rotated layer names.
        #expect(svg.contains("transform=\"rotate(-45"))
    }

    @Test func sameInputSameBytesAndGolden() throws {
        let a = ReportTestSupport.logChart().render()
        let b = ReportTestSupport.logChart().render()
        #expect(a == b)
        let golden = ReportTestSupport.packageRoot().appendingPathComponent("Fixtures/report/log_chart.svg")
        if ProcessInfo.processInfo.environment["INITDIAG_UPDATE_GOLDEN"] == "1" {
            try a.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(a == expected, "the chart's bytes changed; regenerate Fixtures/report/log_chart.svg if intended")
    }

    @Test func numericAxisTicksAndReferenceLine() throws {
        let points = (0..<300).map { (x: Double($0), y: Double?(2.302585 + 0.001 * sin(Double($0)))) }
        let chart = SVGChart(title: "Loss", xAxis: .numeric(label: "iteration"), yLabel: "loss",
                             series: [.init(name: "stuck", points: points)],
                             referenceLines: [.init(y: log(10.0), label: "ln 10")])
        let svg = chart.render()
        let probe = try #require(ReportXMLProbe.parse(Data(svg.utf8)))
        #expect(probe.texts.contains("ln 10"))
        #expect(probe.texts.contains("300"))   // x ticks 0, 50, …, 300
        #expect(probe.elements.filter { $0 == "circle" }.isEmpty)   // many points: no markers
        #expect(SVGChart.linearTicks(min: 0, max: 2.3).2 == [0, 0.5, 1, 1.5, 2, 2.5])
        let share = SVGChart(title: "dead", xAxis: .categorical(label: "layer", categories: ["a", "b"]), yLabel: "share",
                             series: [.init(name: "s", values: [0.2, 0.45])], yRange: 0...1).render()
        let shareProbe = try #require(ReportXMLProbe.parse(Data(share.utf8)))
        #expect(shareProbe.texts.contains("1") && shareProbe.texts.contains("0"))
        let flat = SVGChart.linearTicks(min: 5, max: 5)
        #expect(flat.0 < 5 && flat.1 > 5)
        #expect(SVGChart.num(-0.04) == "0" && SVGChart.num(12.25) == "12.3" && SVGChart.num(7) == "7")
    }

    @Test func emptyChartIsStillValid() throws {
        let svg = SVGChart(title: "nothing", xAxis: .numeric(label: "x"), yLabel: "y", yScale: .log10,
                           series: [.init(name: "zeros", values: [0, 0])]).render()
        let probe = try #require(ReportXMLProbe.parse(Data(svg.utf8)))
        #expect(probe.texts.contains("no data to show"))
        #expect(probe.texts.contains("2 points ≤ 0 not shown (log scale)"))
    }
}

@Suite struct SweepReportTests {
    @Test func reportFilesAndLinks() throws {
        let dir = try ReportTestSupport.temporaryDirectory("links")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let variants = ReportTestSupport.variants()
        try writeSweepReport(directory: dir, netName: "vgg-mini", data: "synthetic:1", iterations: 120,
                             variants: variants, command: "initdiag sweep --solver solver.prototxt --iterations 120",
                             machine: "test machine, 2 cores")
        if let keep = ProcessInfo.processInfo.environment["INITDIAG_KEEP_REPORT"] {
            // For looking at the sample report by eye.
            try writeSweepReport(directory: keep, netName: "vgg-mini", data: "synthetic:1", iterations: 120,
                                 variants: variants, command: "initdiag sweep --solver solver.prototxt --iterations 120",
                                 machine: "test machine, 2 cores")
        }
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        // Every linked figure exists and is a well-formed SVG document.
        let links = readme.components(separatedBy: "](figures/").dropFirst().map { $0.prefix { $0 != ")" } }
        #expect(links.count >= 12)   // 7 overview figures + 2 per variant − no gaps
        for name in links {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/figures/" + name))
            let probe = ReportXMLProbe.parse(data)
            #expect(probe?.root == "svg", "\(name)")
        }
        for required in ["loss.svg", "test_accuracy.svg", "activation_std.svg", "between_sample_std.svg",
                         "input_dependence.svg", "gradient_l2.svg", "dead_fraction.svg",
                         "meanfield_w-as-declared_b-as-declared.svg", "correlation_w-caffe-msra_b-zero.svg"] {
            #expect(links.contains(Substring(required)), "\(required) not linked")
        }
        // No temporary files are left behind.
        let all = try FileManager.default.subpathsOfDirectory(atPath: dir)
        #expect(!all.contains { $0.contains(".tmp-") })
        // The answer names the cause, the fix and the proof.
        #expect(readme.hasPrefix("# initdiag sweep: vgg-mini\n"))
        #expect(readme.contains("## Answer"))
        #expect(readme.contains("Changing only the bias filler fixes it: `w=as-declared,b=zero`"))
        #expect(readme.contains("**Recommendation: `w=caffe-msra,b=zero`**"))
        #expect(readme.contains("| `w=as-declared,b=as-declared` | stuck-at-chance | 120 | 2.3026 |"))
        #expect(readme.contains("[traces/w-caffe-msra_b-zero.h5](traces/w-caffe-msra_b-zero.h5)"))
        #expect(readme.contains("initdiag sweep --solver solver.prototxt --iterations 120"))
        #expect(readme.contains("initdiag \(initdiagVersion)"))
        #expect(readme.contains("test machine, 2 cores"))
        // The answer comes before the table.
        let answer = try #require(readme.range(of: "## Answer")), table = try #require(readme.range(of: "## Summary"))
        #expect(answer.lowerBound < table.lowerBound)
    }

    @Test func summaryJSONHasTheContractKeys() throws {
        let dir = try ReportTestSupport.temporaryDirectory("json")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSweepReport(directory: dir, netName: "vgg-mini", data: "synthetic:1", iterations: 120,
                             variants: ReportTestSupport.variants(), command: "c", machine: "m")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))
        let top = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(top.keys) == ["net", "data", "iterations", "variants", "cause", "recommendation"])
        #expect(top["net"] as? String == "vgg-mini" && top["iterations"] as? Int == 120)
        let variants = try #require(top["variants"] as? [[String: Any]])
        #expect(variants.count == 3)
        // docs/verdicts.md's keys, plus iterations_run (how far each variant went before its verdict settled).
        let keys: Set<String> = ["scheme", "slug", "trace", "verdict", "loss_first", "loss_last", "test_accuracy",
                                 "first_collapsed_layer", "findings", "iterations_run"]
        for v in variants { #expect(Set(v.keys) == keys) }
        #expect(variants.allSatisfy { ($0["iterations_run"] as? Int ?? 0) > 0 })
        // The stuck variant: no test phase → null accuracy, a collapsed layer; the learners: the reverse.
        #expect(variants[0]["verdict"] as? String == "stuck-at-chance")
        #expect(variants[0]["test_accuracy"] is NSNull)
        #expect(variants[0]["first_collapsed_layer"] as? String == "conv4_2")
        #expect(variants[2]["verdict"] as? String == "learning")
        #expect(variants[2]["first_collapsed_layer"] is NSNull)
        #expect(abs((variants[2]["test_accuracy"] as? Double ?? 0) - 0.59) < 1e-12)
        #expect(abs((variants[2]["loss_last"] as? Double ?? 0) - (2.3026 - 1.2)) < 1e-12)
        let findings = try #require(variants[0]["findings"] as? [[String: Any]])
        #expect(!findings.isEmpty)
        for f in findings { #expect(Set(f.keys) == ["kind", "layer", "detail"]) }
        #expect(findings.contains { $0["kind"] as? String == "bias-dominated" && $0["layer"] as? String == "conv1_1" })
        // And it decodes back into the typed summary.
        let typed = try JSONDecoder().decode(SweepSummary.self, from: data)
        #expect(typed.variants.map(\.verdict) == [.stuckAtChance, .learning, .learning])
    }

    @Test func nonFiniteLossIsNullInSummary() throws {
        let run = DiagFixture.seed(steps: 20, loss: { $0 >= 10 ? .nan : 2.31 }, logitSpread: { _ in 0.1 })
        let v = SweepVariantResult(scheme: "w=caffe-msra,b=zero,lr=10", slug: "w-caffe-msra_b-zero_lr-10",
                                   trace: "traces/w-caffe-msra_b-zero_lr-10.h5", run: run, diagnosis: diagnose(run), testAccuracy: nil)
        let summary = sweepSummary(netName: "n", data: "d", iterations: 20, variants: [v])
        let data = try reportJSONEncoder().encode(summary)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"loss_last\" : null"))
        #expect(text.contains("\"verdict\" : \"diverged\""))
    }

    @Test func reportIsDeterministic() throws {
        let a = try ReportTestSupport.temporaryDirectory("det-a"), b = try ReportTestSupport.temporaryDirectory("det-b")
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        for dir in [a, b] {
            try writeSweepReport(directory: dir, netName: "vgg-mini", data: "synthetic:1", iterations: 120,
                                 variants: ReportTestSupport.variants(), command: "c", machine: "m")
        }
        let files = try FileManager.default.subpathsOfDirectory(atPath: a).sorted()
        #expect(files == (try FileManager.default.subpathsOfDirectory(atPath: b).sorted()))
        for f in files where f.contains(".") {
            let x = try Data(contentsOf: URL(fileURLWithPath: a + "/" + f))
            let y = try Data(contentsOf: URL(fileURLWithPath: b + "/" + f))
            #expect(x == y, "\(f)")
        }
        // Rewriting over an existing report replaces the files (rename over the old ones).
        try writeSweepReport(directory: a, netName: "other", data: "synthetic:1", iterations: 120,
                             variants: ReportTestSupport.variants(), command: "c", machine: "m")
        #expect(try String(contentsOfFile: a + "/README.md", encoding: .utf8).hasPrefix("# initdiag sweep: other"))
    }

    @Test func emptyAndMissingDataStillGiveAValidReport() throws {
        let dir = try ReportTestSupport.temporaryDirectory("empty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A variant interrupted before its first step, and one without between_sample_std anywhere.
        var bare = DiagFixture.seed(steps: 30, loss: { _ in log(10.0) }, logitSpread: { _ in 0 })
        for i in bare.layers.indices {
            bare.layers[i].series["forward/between_sample_std"] = nil
            bare.layers[i].series["forward/input_dependence"] = nil
        }
        let variants = [
            SweepVariantResult(scheme: "w=as-declared,b=as-declared", slug: "w-as-declared_b-as-declared",
                               trace: "traces/a.h5", run: RunRecord(), diagnosis: diagnose(RunRecord()), testAccuracy: nil),
            SweepVariantResult(scheme: "w=as-declared,b=zero", slug: "w-as-declared_b-zero",
                               trace: "traces/b.h5", run: bare, diagnosis: diagnose(bare), testAccuracy: nil),
        ]
        // Without the logits' spread or any layer's input dependence the stuck rule cannot be
        // confirmed: inconclusive, never a guess.
        #expect(variants[1].diagnosis.verdict == .inconclusive)
        #expect(settledVerdict(bare) == nil)
        try writeSweepReport(directory: dir, netName: "n", data: "d", iterations: 30, variants: variants, command: "c", machine: "m")
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        #expect(readme.contains("(no recorded steps)"))
        for name in try FileManager.default.contentsOfDirectory(atPath: dir + "/figures") {
            let probe = ReportXMLProbe.parse(try Data(contentsOf: URL(fileURLWithPath: dir + "/figures/" + name)))
            #expect(probe?.root == "svg", "\(name)")
        }
        let summary = try JSONDecoder().decode(SweepSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        #expect(summary.variants[0].lossFirst == nil && summary.variants[0].verdict == .inconclusive)
    }

    @Test func unwritableDirectoryIsAnInputError() {
        #expect(throws: InputError.self) {
            try writeSweepReport(directory: "/proc/initdiag-cannot-write-here", netName: "n", data: "d", iterations: 1,
                                 variants: [], command: "c", machine: "m")
        }
    }

    @Test func mergedLayerOrderKeepsInsertedLayers() {
        let merged = reportMergeOrdered([["conv1", "conv2", "fc"], ["conv1", "bn1", "conv2", "bn2", "fc"]])
        #expect(merged == ["conv1", "bn1", "conv2", "bn2", "fc"])
    }

    @Test func longRunsAreDownsampled() {
        let x = Array(0..<10_000), y = x.map { Double($0) }
        let d = reportDownsample(x: x, y: y, limit: 1000)
        #expect(d.reduced && d.points.count == 1000)
        #expect(d.points[0].x == 4.5 && d.points[0].y == 4.5)   // mean of 0…9
    }
}

@Suite struct DiagnoseOutputTests {
    @Test func textAndJSON() throws {
        let run = DiagFixture.seed(steps: 300, loss: { log(10.0) + 0.001 * sin(Double($0)) }, logitSpread: { _ in 1e-6 })
        let d = diagnose(run)
        let text = formatDiagnosisText(d, trace: "run.h5")
        if let keep = ProcessInfo.processInfo.environment["INITDIAG_KEEP_REPORT"] {
            try text.write(toFile: keep + "/diagnose.txt", atomically: true, encoding: .utf8)
            try formatDiagnosisJSON(d).write(toFile: keep + "/diagnose.json", atomically: true, encoding: .utf8)
        }
        #expect(text.contains("verdict:               stuck-at-chance"))
        #expect(text.contains("first collapsed layer: conv4_2"))
        #expect(text.contains("bias-dominated"))
        #expect(!text.contains("**"))
        let json = try formatDiagnosisJSON(d)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["verdict"] as? String == "stuck-at-chance")
        #expect(object["first_collapsed_layer"] as? String == "conv4_2")
        #expect(object["test_accuracy"] is NSNull)
        #expect(object["non_finite"] is NSNull)
        #expect(object["logits_layer"] as? String == "fc8")
        #expect((object["findings"] as? [Any])?.count == d.findings.count)
    }
}
