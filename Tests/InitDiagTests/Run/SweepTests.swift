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

@Suite(.serialized) struct SweepTests {
    let schemes = try! Scheme.parseList("w=as-declared,b=as-declared;w=caffe-msra,b=zero;w=torch-default,b=torch-default,bn=on")

    func plan(_ out: String, shard: (Int, Int)? = nil) -> SweepPlan {
        SweepPlan(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: nil, data: "synthetic",
                  schemes: schemes, iterations: 6, batchSize: 4, seed: 3, outputDirectory: out,
                  shard: shard.map { (index: $0.0, count: $0.1) }, testIterations: 1,
                  command: "initdiag sweep (test)" + (shard.map { " --shard \($0.0)/\($0.1)" } ?? ""))
    }

    func summary(_ dir: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    @Test func shardsMergedEqualOneRun() throws {
        let whole = temporaryDirectory("whole"), sharded = temporaryDirectory("sharded")
        var events: [SweepEvent] = []
        try Sweep.run(plan(whole)) { events.append($0) }
        #expect(events.contains { if case .reportWritten = $0 { return true }; return false })
        try Sweep.run(plan(sharded, shard: (0, 2))) { _ in }
        // Shard 0 ran variants 0 and 2 only and wrote no report yet.
        #expect(try FileManager.default.contentsOfDirectory(atPath: sharded + "/traces").sorted()
                == [schemes[0].slug + ".h5", schemes[2].slug + ".h5"])
        try Sweep.run(plan(sharded, shard: (1, 2))) { _ in }
        try Sweep.writeReport(directory: sharded, schemes: nil, iterations: 6, command: "initdiag report")
        let a = try summary(whole), b = try summary(sharded)
        let va = (a["variants"] as! [[String: Any]]).sorted { ($0["slug"] as! String) < ($1["slug"] as! String) }
        let vb = (b["variants"] as! [[String: Any]]).sorted { ($0["slug"] as! String) < ($1["slug"] as! String) }
        #expect(va.count == 3 && vb.count == 3)
        for (x, y) in zip(va, vb) {
            for key in ["scheme", "slug", "verdict", "loss_first", "loss_last", "first_collapsed_layer"] {
                #expect(String(describing: x[key]) == String(describing: y[key]), "\(key)")
            }
        }
        #expect(a["iterations"] as? Int == b["iterations"] as? Int)
        // Each trace keeps the command that made it and the thread count; the merged report's
        // Reproduce section lists both shard commands, then the merge.
        let trace = try TraceReader(path: sharded + "/traces/" + schemes[1].slug + ".h5")
        #expect(trace.attributes["command"]?.stringValue == "initdiag sweep (test) --shard 1/2")
        #expect(trace.attributes["threads"]?.intValue == 1)
        #expect(trace.attributes["net_path"]?.stringValue?.hasSuffix("nets/tiny_cifar.prototxt") == true)
        let readme = try String(contentsOfFile: sharded + "/README.md", encoding: .utf8)
        #expect(readme.contains("```\ninitdiag sweep (test) --shard 0/2\ninitdiag sweep (test) --shard 1/2\ninitdiag report\n```"))
    }

    @Test func rerunSkipsFinishedVariants() throws {
        let dir = temporaryDirectory("resume")
        try Sweep.run(plan(dir)) { _ in }
        let first = try FileManager.default.attributesOfItem(atPath: dir + "/traces/" + schemes[1].slug + ".h5")[.modificationDate] as! Date
        // A half-finished variant (its trace missing) is run again; the others are skipped.
        try FileManager.default.removeItem(atPath: dir + "/traces/" + schemes[2].slug + ".h5")
        var skipped: [Int] = [], started: [Int] = []
        try Sweep.run(plan(dir)) { e in
            switch e {
            case .variantSkipped(let k, _, _, _): skipped.append(k)
            case .variantStarted(let k, _, _): started.append(k)
            default: break
            }
        }
        #expect(skipped == [0, 1])
        #expect(started == [2])
        let again = try FileManager.default.attributesOfItem(atPath: dir + "/traces/" + schemes[1].slug + ".h5")[.modificationDate] as! Date
        #expect(first == again)
        #expect(!FileManager.default.fileExists(atPath: dir + "/traces/" + schemes[2].slug + ".h5.partial"))
    }

    @Test func reportFiguresExistAndParse() throws {
        let dir = temporaryDirectory("report")
        try Sweep.run(plan(dir)) { _ in }
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        let links = readme.components(separatedBy: "](figures/").dropFirst().map { $0.prefix { $0 != ")" } }
        #expect(links.count >= 5)
        for l in links {
            let path = dir + "/figures/" + l
            #expect(FileManager.default.fileExists(atPath: path), "\(l)")
            let parser = XMLParser(contentsOf: URL(fileURLWithPath: path))!
            #expect(parser.parse(), "\(l) is not valid XML")
        }
        #expect(readme.contains("traces/" + schemes[0].slug + ".h5"))
        #expect(readme.contains("(a variant stops once its verdict has settled)"))
    }

    @Test func lsuvVariantsKeepTheirSnapshotsAndTheFolderStaysAReport() throws {
        // Two w=lsuv variants: one snapshot each beside the traces; rerunning the sweep (resume)
        // and rebuilding the report pass over the snapshots instead of refusing them.
        let dir = temporaryDirectory("lsuv-sweep")
        var p = plan(dir)
        p.schemes = try Scheme.parseList("w=lsuv,b=zero;w=lsuv,b=zero,lr=0.1")
        try Sweep.run(p) { _ in }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/traces").sorted()
        for scheme in p.schemes {
            #expect(names.contains(scheme.slug + ".h5"))
            #expect(names.contains(scheme.slug + ".lsuv.caffemodel.h5"), "\(names)")
        }
        var skipped = 0
        try Sweep.run(p) { e in if case .variantSkipped = e { skipped += 1 } }
        #expect(skipped == 2)
        let readme = try Sweep.writeReport(directory: dir, schemes: nil, iterations: nil, command: "initdiag report")
        let text = try String(contentsOfFile: readme, encoding: .utf8)
        #expect(text.contains("`w=lsuv,b=zero,lr=0.1`") && text.contains("`w=lsuv,b=zero`"))
        #expect(!text.contains("caffemodel.h5`"))
    }

    @Test func reportSaysWhenTheEarlyStopWasOff() throws {
        let dir = temporaryDirectory("no-early-stop")
        var p = plan(dir)
        p.earlyStop = false
        try Sweep.run(p) { _ in }
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        #expect(readme.contains("(every variant run to the ceiling, the early stop off)"))
        #expect(!readme.contains("stops once its verdict has settled"))
    }

    /// The histogram figures of every variant: in its README section and inline in report.html,
    /// each activation curve a density over the bin centres whose integral is the share of the
    /// values inside the bins (counted from the trace independently), and the heat map's cells.
    @Test func histogramFiguresFromTheTraces() throws {
        let dir = temporaryDirectory("hist-report")
        try Sweep.run(plan(dir)) { _ in }
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        for s in schemes {
            for kind in ["activation_hist", "gradient_hist", "activation_heatmap"] {
                let file = "\(kind)_\(s.slug).svg"
                #expect(readme.contains("](figures/\(file))"), "\(file) not in README.md")
                let svg = try String(contentsOfFile: dir + "/figures/" + file, encoding: .utf8)
                #expect(XMLParser(data: Data(svg.utf8)).parse(), "\(file) is not valid XML")
                #expect(html.contains(String(svg.split(separator: "\n")[2])), "\(file) not inline in report.html")
            }
            // No sigmoid or tanh in the tiny net: no saturation figure.
            #expect(!FileManager.default.fileExists(atPath: dir + "/figures/saturation_\(s.slug).svg"))
            let run = try RunRecord(trace: dir + "/traces/" + s.slug + ".h5")
            let layers = reportActivationLayers(run)
            #expect(layers.map(\.name) == ["relu1", "relu2"])
            let figure = try #require(histogramFigures(variant: SweepVariantResult(scheme: s.description, slug: s.slug, trace: "",
                                                                                   run: run, diagnosis: diagnose(run), testAccuracy: nil),
                                                       label: s.description).first)
            #expect(figure.file == "activation_hist_\(s.slug).svg")
            for l in layers {
                let h = try #require(l.histograms["forward/histogram"])
                let bins = try #require(h.bins)
                let row = h.row(0)
                let inside = Double(row.dropFirst().dropLast().reduce(0, +)) / Double(row.reduce(0, +))
                // The curve: a point per bin centre, nil for empty bins; its integral is the share inside.
                let points = reportDensityPoints(bins, row)
                #expect(points.map(\.x) == bins.centers)
                #expect(points.filter { $0.y == nil }.count == row.dropFirst().dropLast().filter { $0 == 0 }.count)
                #expect(abs(points.compactMap(\.y).reduce(0, +) * bins.width - inside) < 1e-12)
                #expect(inside > 0.99, "\(l.name): the first step's values lie in its own bins")
            }
        }
    }
}
