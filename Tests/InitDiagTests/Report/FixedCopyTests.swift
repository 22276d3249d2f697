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

/// The report's fixed copy (`DIR/fixed/`): the user's prototxt and solver with the edits of a
/// scheme, which read as declared must initialise and train exactly like that scheme.
@Suite(.serialized) struct FixedCopyTests {
    static let solverPath = fixture("nets/tiny_cifar.solver.prototxt")
    static let netPath = fixture("nets/tiny_cifar.prototxt")

    /// Writes the fix of `scheme` for (solver, net) into a fresh folder; returns the fixed solver path.
    func writeFix(_ scheme: Scheme, solverPath: String, netPath: String) throws -> (solver: String, net: String, fix: PrototxtFix) {
        let solverText = try String(contentsOfFile: solverPath, encoding: .utf8)
        let netText = try String(contentsOfFile: netPath, encoding: .utf8)
        let solver = try Prototxt.parseSolver(solverText, path: solverPath).0
        let net = try Prototxt.parseNet(netText, path: netPath)
        let name = (netPath as NSString).lastPathComponent
        let fix = try PrototxtFix.make(scheme: scheme, net: net, netText: netText, solverText: solverText, solver: solver,
                                       fixedNetName: name, solverNamesNet: solver.net != nil)
        let dir = temporaryDirectory("fixed")
        let fixedNet = dir + "/" + name, fixedSolver = dir + "/" + (solverPath as NSString).lastPathComponent
        try #require(fix.netText != nil && fix.solverText != nil)
        try fix.netText!.write(toFile: fixedNet, atomically: true, encoding: .utf8)
        try fix.solverText!.write(toFile: fixedSolver, atomically: true, encoding: .utf8)
        return (fixedSolver, fixedNet, fix)
    }

    func train(solver: String, net: String? = nil, scheme: Scheme, iterations: Int = 3) throws -> TrainingResult {
        let setup = try RunSetup.load(solverPath: solver, netPath: net, data: "synthetic", scheme: scheme, seed: 3, batchSize: 4)
        var options = TrainingOptions()
        options.iterations = iterations
        options.testIterations = 0
        return try Trainer(setup: setup, options: options) { _ in }.run()
    }

    /// The largest relative difference between the first-step statistics of two runs (every
    /// series of every layer at iteration 0), after checking they record the same layers.
    func firstStepDifference(_ a: RunRecord, _ b: RunRecord) throws -> (max: Double, compared: Int) {
        #expect(a.layers.map(\.name) == b.layers.map(\.name))
        var worst = 0.0, n = 0
        for (la, lb) in zip(a.layers, b.layers) {
            #expect(Set(la.series.keys) == Set(lb.series.keys), "\(la.name)")
            for (key, sa) in la.series {
                guard let x = sa.first, let y = lb.series[key]?.first else { continue }
                if x.isNaN && y.isNaN { continue }
                let d = abs(x - y) / max(abs(x), abs(y), 1e-12)
                worst = max(worst, d.isFinite ? d : (x == y ? 0 : .infinity))
                n += 1
            }
        }
        return (worst, n)
    }

    static let schemes = ["w=caffe-msra,b=zero", "w=torch-default,b=torch-default", "w=caffe-msra,b=zero,lr=0.1",
                          "w=as-declared,b=zero,bn=on", "w=torch-default,b=torch-default,bn=on", "w=caffe-gaussian-0.01,b=caffe-xavier"]

    @Test(arguments: schemes)
    func fixedNetAsDeclaredTrainsLikeItsVariant(_ text: String) throws {
        let scheme = try Scheme(parsing: text)
        let fixed = try writeFix(scheme, solverPath: Self.solverPath, netPath: Self.netPath)
        let variant = try train(solver: Self.solverPath, scheme: scheme)
        let asDeclared = try train(solver: fixed.solver, scheme: Scheme())
        #expect(asDeclared.status == .finished && asDeclared.iterations == 3)
        let (worst, compared) = try firstStepDifference(variant.record, asDeclared.record)
        print("fixed copy of \(text): \(compared) first-step statistics, max relative difference \(worst)")
        #expect(compared > 50)
        #expect(worst <= 1e-6)
        // All three losses agree too, so the solver's edits (base_lr) are there.
        #expect(variant.record.loss.count == 3 && asDeclared.record.loss.count == 3)
        for (x, y) in zip(variant.record.loss, asDeclared.record.loss) { #expect(abs(x - y) <= 1e-5 * max(1, abs(x)), "loss \(x) vs \(y)") }
        // And the unedited net, as declared, does not (the test would pass on a no-op fix otherwise).
        if !scheme.batchNorm {
            let original = try train(solver: Self.solverPath, scheme: Scheme(), iterations: 1)
            #expect(try firstStepDifference(variant.record, original.record).max > 1e-3)
        }
        // It inspects in both phases.
        let net = try Prototxt.loadNet(path: fixed.net)
        _ = try NetInspection(param: net, phase: .TRAIN)
        _ = try NetInspection(param: net, phase: .TEST)
    }

    @Test(arguments: ["w=lsuv,b=zero", "w=orthogonal,b=zero"])
    func weightsWithoutAFillerAreLeftAndSaidSo(_ text: String) throws {
        // LSUV and orthogonal weights are no Caffe filler: a variance-matched gaussian would not be
        // the variant. The weight fillers stay; the bias edits are made; a note says why (and, for
        // LSUV, which snapshot to load); the README does not claim the copy trains like the variant.
        let scheme = try Scheme(parsing: text)
        let fixed = try writeFix(scheme, solverPath: Self.solverPath, netPath: Self.netPath)
        #expect(!fixed.fix.edits.contains { $0.contains("weight_filler") }, "\(fixed.fix.edits)")
        #expect(fixed.fix.edits.contains { $0.contains("bias_filler { type: \"constant\" }") })
        if scheme.weights == .lsuv {
            #expect(fixed.fix.notes.contains { $0.contains("--weights ../traces/\(scheme.slug).lsuv.caffemodel.h5") })
        } else {
            #expect(fixed.fix.notes.contains { $0.contains("has no Caffe filler") })
        }
        let readme = fixedReadme(FixedCopy(scheme: scheme.description, files: [], edits: fixed.fix.edits, notes: fixed.fix.notes))
        #expect(!readme.contains("initialise and train like that variant"))
        #expect(readme.contains("Its weights are not a filler"))
        // No edit at all (w=lsuv with the declared biases): the first paragraph says there is
        // nothing to edit and points at the weights, not at "the 0 edits".
        let none = FixedCopy(scheme: "w=lsuv,b=as-declared", files: [FixedCopyFile(name: "net.prototxt", originalPath: "net.prototxt", original: "", fixed: "")], edits: [], notes: fixed.fix.notes)
        let first = try #require(fixedParagraph(.written(none)))
        #expect(first.contains("nothing in your files") && first.contains("--weights") && !first.contains("0 edits"), "\(first)")
    }

    @Test func editsKeepTheUsersText() throws {
        let fixed = try writeFix(try Scheme(parsing: "w=caffe-msra,b=zero"), solverPath: Self.solverPath, netPath: Self.netPath)
        let original = try String(contentsOfFile: Self.netPath, encoding: .utf8)
        let text = try String(contentsOfFile: fixed.net, encoding: .utf8)
        // Only the three filler lines change; the comment and the layout stay.
        let a = original.components(separatedBy: "\n"), b = text.components(separatedBy: "\n")
        #expect(a.count == b.count)
        let changed = zip(a, b).filter { $0 != $1 }
        #expect(changed.count == 3)
        #expect(changed.allSatisfy { $0.1.contains("weight_filler { type: \"msra\" }") && $0.1.contains("bias_filler { type: \"constant\" }") })
        #expect(text.hasPrefix("# A small CIFAR-shaped net for fast tests"))
        // The solver: net names the fixed file, nothing else changes.
        let solver = try String(contentsOfFile: fixed.solver, encoding: .utf8)
        #expect(solver == (try String(contentsOfFile: Self.solverPath, encoding: .utf8)))
        #expect(fixed.fix.edits.count == 6)
    }

    @Test func torchSchemeWritesPerLayerUniformBounds() throws {
        let fixed = try writeFix(try Scheme(parsing: "w=torch-default,b=torch-default"), solverPath: Self.solverPath, netPath: Self.netPath)
        let net = try Prototxt.loadNet(path: fixed.net)
        let conv1 = try #require(net.layer.first { $0.name == "conv1" }?.convolutionParam)
        // conv1: 3 input channels × 3×3 → fan_in 27, bound 1/√27 for weights and biases.
        let bound = Float(1 / (27.0).squareRoot())
        #expect(conv1.weightFiller?.type == "uniform" && conv1.weightFiller?.max == bound && conv1.weightFiller?.min == -bound)
        #expect(conv1.biasFiller?.type == "uniform" && conv1.biasFiller?.max == bound)
        #expect(fixed.fix.notes.contains { $0.contains("PyTorch") && $0.contains("same variance") })
    }

    @Test func multiLineZooNetKeepsItsBlocksAndGetsBatchNorm() throws {
        let solver = packageRoot() + "/../shared/zoo/bvlc/cifar10/cifar10_quick_solver.prototxt"
        let net = packageRoot() + "/../shared/zoo/bvlc/cifar10/cifar10_quick_train_test.prototxt"
        guard FileManager.default.fileExists(atPath: net) else {
            print("SKIP multiLineZooNetKeepsItsBlocksAndGetsBatchNorm: \(net) not found"); return
        }
        let scheme = try Scheme(parsing: "w=caffe-msra,b=zero,bn=on,lr=0.5")
        let fixed = try writeFix(scheme, solverPath: solver, netPath: net)
        let text = try String(contentsOfFile: fixed.net, encoding: .utf8)
        // The multi-line weight_filler block is replaced by a block, indented as before.
        #expect(text.contains("    weight_filler {\n      type: \"msra\"\n    }"))
        #expect(!text.contains("std: 0.0001"))
        #expect(text.contains("  name: \"conv1_bn\"\n  type: \"BatchNorm\""))
        let parsed = try Prototxt.parseNet(text, path: fixed.net)
        let original = try Prototxt.loadNet(path: net)
        #expect(parsed.layer.map(\.name) == original.withBatchNormAfterConvolutions().layer.map(\.name))
        let solverText = try String(contentsOfFile: fixed.solver, encoding: .utf8)
        #expect(solverText.contains("base_lr: 0.0005"))
        #expect(solverText.contains("net: \"cifar10_quick_train_test.prototxt\""))
        // First step as the variant.
        let variant = try train(solver: solver, net: net, scheme: scheme, iterations: 1)
        let asDeclared = try train(solver: fixed.solver, scheme: Scheme(), iterations: 1)
        let (worst, compared) = try firstStepDifference(variant.record, asDeclared.record)
        print("fixed cifar10_quick (\(scheme)): \(compared) first-step statistics, max relative difference \(worst)")
        #expect(worst <= 1e-6 && compared > 50)
    }

    @Test func unifiedDiffFormat() {
        let a = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", b = "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\n"
        let d = unifiedDiff(a, b, oldName: "x", newName: "y", context: 2)
        #expect(d == "--- x\n+++ y\n@@ -2,5 +2,5 @@\n b\n c\n-d\n+D\n e\n f\n@@ -9,2 +9,3 @@\n i\n j\n+k\n")
        #expect(unifiedDiff(a, a, oldName: "x", newName: "y").isEmpty)
        // Into an empty file and out of one.
        #expect(unifiedDiff("", "p\nq\n", oldName: "x", newName: "y") == "--- x\n+++ y\n@@ -0,0 +1,2 @@\n+p\n+q\n")
        #expect(unifiedDiff("p\n", "", oldName: "x", newName: "y") == "--- x\n+++ y\n@@ -1,1 +0,0 @@\n-p\n")
    }

    @Test func unifiedDiffAgreesWithDiffU() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/diff") else { print("SKIP: no /usr/bin/diff"); return }
        let fixed = try writeFix(try Scheme(parsing: "w=torch-default,b=torch-default,bn=on"), solverPath: Self.solverPath, netPath: Self.netPath)
        let ours = unifiedDiff(try String(contentsOfFile: Self.netPath, encoding: .utf8), try String(contentsOfFile: fixed.net, encoding: .utf8),
                               oldName: "a", newName: "b")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        p.arguments = ["-u", "--label", "a", "--label", "b", Self.netPath, fixed.net]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        // Both are shortest edit scripts: the same lines removed and added.
        func counts(_ s: String) -> (Int, Int) {
            let lines = s.components(separatedBy: "\n")
            return (lines.filter { $0.hasPrefix("-") && !$0.hasPrefix("---") }.count, lines.filter { $0.hasPrefix("+") && !$0.hasPrefix("+++") }.count)
        }
        #expect(counts(ours) == counts(out))
        #expect(counts(ours).1 > 20)
    }

    @Test func sweepWritesTheFixBesideTheReport() throws {
        let dir = temporaryDirectory("sweepfix")
        let plan = SweepPlan(solverPath: Self.solverPath, netPath: nil, data: "synthetic",
                             schemes: try Scheme.parseList("w=as-declared,b=as-declared;w=caffe-msra,b=zero"), iterations: 6,
                             batchSize: 4, seed: 3, outputDirectory: dir, shard: nil, testIterations: 1, command: "initdiag sweep (test)")
        try Sweep.run(plan) { _ in }
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        let paragraphs = readme.components(separatedBy: "\n\n")
        #expect(paragraphs[1].hasPrefix("**What to edit:**"))
        if let rec = summary["recommendation"] as? [String: Any], let scheme = rec["scheme"] as? String, scheme != "w=as-declared,b=as-declared" {
            #expect(paragraphs[1].contains("fixed/README.md") && paragraphs[1].contains(scheme))
            let fixedReadme = try String(contentsOfFile: dir + "/fixed/README.md", encoding: .utf8)
            #expect(fixedReadme.contains("```diff\n--- "))
            #expect(FileManager.default.fileExists(atPath: dir + "/fixed/tiny_cifar.prototxt"))
            #expect(FileManager.default.fileExists(atPath: dir + "/fixed/tiny_cifar.solver.prototxt"))
        } else {
            #expect(paragraphs[1].contains("no fixed copy was written"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/fixed"))
        }
        print("sweep of 6 iterations: \(FileManager.default.fileExists(atPath: dir + "/fixed") ? "fixed copy written" : "no learner, no fixed copy")")
        let none = Sweep.fixedCopy(variants: [], sources: (Self.solverPath, nil))
        if case .notWritten(let why) = none { #expect(why.contains("no variant trained")) } else { Issue.record("a fix without a learner") }
    }

    /// Variants whose verdicts are known (ReportTestSupport: w=caffe-msra,b=zero learns best):
    /// the report's first paragraph points at fixed/, which holds both files and the diff.
    @Test func reportOfKnownLearnersWritesTheFix() throws {
        let variants = ReportTestSupport.variants()
        let outcome = Sweep.fixedCopy(variants: variants, sources: (Self.solverPath, nil))
        guard case .written(let fix) = outcome else { Issue.record("no fix: \(outcome)"); return }
        #expect(fix.scheme == "w=caffe-msra,b=zero")
        #expect(fix.files.map(\.name) == ["tiny_cifar.prototxt", "tiny_cifar.solver.prototxt"])
        let dir = temporaryDirectory("knownfix")
        try writeSweepReport(directory: dir, netName: "tiny_cifar", data: "synthetic", iterations: 120, variants: variants,
                             command: "initdiag sweep (test)", machine: "test", fix: outcome)
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        let first = readme.components(separatedBy: "\n\n")[1]
        #expect(first.hasPrefix("**What to edit:**") && first.contains("(fixed/README.md)") && first.contains("`w=caffe-msra,b=zero`"))
        #expect(first.contains("(fixed/tiny_cifar.prototxt)") && first.contains("6 edits"))
        let fixedNet = try String(contentsOfFile: dir + "/fixed/tiny_cifar.prototxt", encoding: .utf8)
        #expect(fixedNet.components(separatedBy: "weight_filler { type: \"msra\" }").count == 4)
        let fr = try String(contentsOfFile: dir + "/fixed/README.md", encoding: .utf8)
        #expect(fr.contains("```diff\n--- \(Self.netPath)\n+++ fixed/tiny_cifar.prototxt\n@@ "))
        #expect(fr.contains("-    weight_filler { type: \"xavier\" } bias_filler { type: \"xavier\" } }\n+    weight_filler { type: \"msra\" } bias_filler { type: \"constant\" } }"))
        // The page links the fix too.
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        #expect(html.contains("<a href=\"fixed/README.md\"><code>fixed/README.md</code></a>"))
        // A report without a learner removes an earlier fix.
        try writeSweepReport(directory: dir, netName: "tiny_cifar", data: "synthetic", iterations: 120, variants: [variants[0]],
                             command: "initdiag sweep (test)", machine: "test", fix: Sweep.fixedCopy(variants: [variants[0]], sources: (Self.solverPath, nil)))
        #expect(!FileManager.default.fileExists(atPath: dir + "/fixed"))
        #expect(try String(contentsOfFile: dir + "/README.md", encoding: .utf8).contains("**What to edit:** no fixed copy was written: no variant trained"))
    }
}

/// `DIR/report.html`: well-formed, every figure of the README inlined as SVG, nothing fetched.
@Suite(.serialized) struct HTMLReportTests {
    @Test func reportHTMLIsSelfContainedWithEveryFigureInline() throws {
        let dir = temporaryDirectory("html")
        let plan = SweepPlan(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: nil, data: "synthetic",
                             schemes: try Scheme.parseList("w=as-declared,b=as-declared;w=torch-default,b=torch-default,bn=on"),
                             iterations: 4, batchSize: 4, seed: 3, outputDirectory: dir, shard: nil, testIterations: 1,
                             command: "initdiag sweep (test) --out a&b <dir>")
        try Sweep.run(plan) { _ in }
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        // Well-formed: the page (less its doctype) parses as XML.
        let xml = String(html.dropFirst("<!DOCTYPE html>".count))
        let parser = XMLParser(data: Data(xml.utf8))
        #expect(parser.parse(), "report.html is not well-formed: \(String(describing: parser.parserError))")
        // Every figure the README shows is inline: as many <svg> as image links, each figure's
        // title text present, and no <img>.
        let images = readme.components(separatedBy: "![").count - 1
        #expect(images >= 5)
        #expect(html.components(separatedBy: "<svg ").count - 1 == images)
        #expect(!html.contains("<img"))
        for name in try FileManager.default.contentsOfDirectory(atPath: dir + "/figures") where readme.contains("figures/" + name) {
            let svg = try String(contentsOfFile: dir + "/figures/" + name, encoding: .utf8)
            let body = htmlInlineSVG(svg, label: "x")
            let inner = String(body[body.range(of: ">")!.upperBound...])
            #expect(html.contains(inner), "\(name) not inlined")
        }
        // Nothing outside the file is loaded: no src attribute, no <link>/<script>, and every
        // href is a relative path inside the report folder (traces, fixed/).
        #expect(!html.contains(" src="))
        #expect(!html.contains("<link") && !html.contains("<script"))
        let hrefs = html.components(separatedBy: "href=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(!hrefs.isEmpty)
        for h in hrefs { #expect(!h.contains("://") && !h.hasPrefix("/") && !h.hasPrefix(".."), "\(h)") }
        // The same content: headings, the table's rows and the command (escaped).
        for heading in readme.components(separatedBy: "\n").filter({ $0.hasPrefix("## ") }) {
            #expect(html.contains("<h2>" + htmlInline(String(heading.dropFirst(3))) + "</h2>"))
        }
        #expect(html.contains("initdiag sweep (test) --out a&amp;b &lt;dir&gt;"))
        #expect(html.components(separatedBy: "<tr>").count - 1 == 1 + 2)
    }

    @Test func inlineMarkupAroundCode() {
        #expect(htmlInline("**R: `a<b`** — [`f/x`](f/x.md) and [t](u) `**no**`")
                == "<strong>R: <code>a&lt;b</code></strong> — <a href=\"f/x.md\"><code>f/x</code></a> and <a href=\"u\">t</a> <code>**no**</code>")
        #expect(htmlInline("a * b ** c") == "a * b ** c")
    }

    @Test func markdownConstructs() {
        let md = "# T\n\nA **b** `c<d>` [l](x.md)\nmore\n\n| a | b |\n|---|---:|\n| `x\\|y` | 2 |\n\n- one\n  - sub\n- two\n\n```diff\n-a\n+b <\n```\n\n![cap](figures/f.svg)\n"
        let html = markdownToHTML(md) { $0 == "figures/f.svg" ? "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"></svg>" : nil }
        #expect(html == """
        <h1>T</h1>
        <p>A <strong>b</strong> <code>c&lt;d&gt;</code> <a href="x.md">l</a>
        more</p>
        <table>
        <thead><tr><th>a</th><th style="text-align:right">b</th></tr></thead>
        <tbody>
        <tr><td><code>x|y</code></td><td style="text-align:right">2</td></tr>
        </tbody>
        </table>
        <ul>
        <li>one
        <ul>
        <li>sub</li>
        </ul>
        </li>
        <li>two</li>
        </ul>
        <pre><code class="language-diff">-a
        +b &lt;</code></pre>
        <figure>
        <svg role="img" aria-label="cap" xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>
        </figure>

        """)
    }
}
