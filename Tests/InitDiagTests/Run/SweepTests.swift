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

    @Test func reportSaysWhenTheEarlyStopWasOff() throws {
        let dir = temporaryDirectory("no-early-stop")
        var p = plan(dir)
        p.earlyStop = false
        try Sweep.run(p) { _ in }
        let readme = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        #expect(readme.contains("(every variant run to the ceiling, the early stop off)"))
        #expect(!readme.contains("stops once its verdict has settled"))
    }
}
