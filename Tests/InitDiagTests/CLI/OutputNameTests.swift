import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Layer names and solver prefixes reach file and group names: nothing may be written outside the
/// chosen output (`--trace FILE`, `--snapshot DIR`, `--out DIR`), and the trace keeps the original name.
@Suite("CLI output names")
struct OutputNameTests {
    @Test("hostile layer names become escaped trace groups with the original kept; no file is created from them",
          arguments: ["../../evil", "/abs/evil", "a/b", "..", "x\\001y", "tab\\there"])
    func layerNames(_ written: String) throws {
        let dir = try CLIHarness.temporaryDirectory("names")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (net, _) = try CLIHarness.writeTinyNet(in: dir, layerName: written)
        let work = dir.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let trace = work.appendingPathComponent("T.h5").path
        let out = try CLIHarness.run(["train", "--net", net, "--data", "synthetic", "--batch-size", "2", "--iterations", "2",
                                      "--threads", "1", "--trace", trace, "--snapshot", work.appendingPathComponent("snap").path],
                                     in: work)
        #expect(out.status == 0, "\(out.stderr)")
        // The name as the prototxt parser reads it (C escapes resolved).
        let name = written.replacingOccurrences(of: "\\001", with: "\u{01}").replacingOccurrences(of: "\\t", with: "\t")
        let reader = try TraceReader(path: trace)
        let layer = reader.layer(named: name)
        #expect(layer != nil, "layer \(name.debugDescription) not found; have \(reader.layers.map(\.name))")
        // docs/trace-format.md: names HDF5 cannot hold ('/', '.' alone) are escaped; '..' is an ordinary HDF5 name.
        if let layer { #expect(!layer.groupName.contains("/") && layer.groupName != ".") }
        #expect(CLIHarness.h5dumpOpens(trace))
        // Only the trace, the snapshot pair and stdout/stderr captures exist; nothing beside `work`.
        let files = CLIHarness.files(under: work).filter { !$0.hasPrefix(".std") }
        #expect(files == ["T.h5", "snap/snapshot_iter_2.caffemodel.h5", "snap/snapshot_iter_2.solverstate.h5"], "\(files)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["net.prototxt", "solver.prototxt", "work"])
        // The snapshot holds the layer under its name, so Caffe (and --weights) can match it.
        let again = try CLIHarness.run(["train", "--net", net, "--data", "synthetic", "--batch-size", "2", "--iterations", "1",
                                        "--threads", "1", "--weights", work.appendingPathComponent("snap/snapshot_iter_2.caffemodel.h5").path],
                                       in: work)
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test("a layer named '.': the trace escapes it; a Caffe snapshot cannot hold it and says so in one line")
    func dotLayer() throws {
        let dir = try CLIHarness.temporaryDirectory("dot")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (net, _) = try CLIHarness.writeTinyNet(in: dir, layerName: ".")
        let trace = dir.appendingPathComponent("T.h5").path
        let ok = try CLIHarness.run(["train", "--net", net, "--data", "synthetic", "--batch-size", "2", "--iterations", "1",
                                     "--threads", "1", "--trace", trace], in: dir)
        #expect(ok.status == 0, "\(ok.stderr)")
        let reader = try TraceReader(path: trace)
        #expect(reader.layer(named: ".").map { $0.groupName != "." } == true)
        let snap = dir.appendingPathComponent("snap")
        let bad = try CLIHarness.run(["train", "--net", net, "--data", "synthetic", "--batch-size", "2", "--iterations", "1",
                                      "--threads", "1", "--snapshot", snap.path], in: dir)
        #expect(bad.status == 2)
        #expect(bad.errorLines.count == 1)
        #expect(bad.errorLines.first?.contains("cannot hold a layer named '.'") == true, "\(bad.stderr)")
        // The failed write leaves no file, neither half-written under its final name nor temporary.
        #expect(CLIHarness.files(under: snap).isEmpty, "\(CLIHarness.files(under: snap))")
    }

    @Test("sweep writes only under --out: traces/<slug>.h5, figures, README.md, report.html, summary.json, fixed/")
    func sweepStaysInOut() throws {
        let dir = try CLIHarness.temporaryDirectory("sweep-out")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (net, _) = try CLIHarness.writeTinyNet(in: dir, layerName: "../conv/..")
        let out = dir.appendingPathComponent("o")
        let r = try CLIHarness.run(["sweep", "--net", net, "--data", "synthetic", "--batch-size", "2", "--iterations", "3",
                                    "--threads", "1", "--schemes", "w=caffe-msra,b=zero,lr=0.5", "--out", out.path], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let files = CLIHarness.files(under: out)
        #expect(files.contains("traces/w-caffe-msra_b-zero_lr-0.5.h5"), "\(files)")
        #expect(files.contains("README.md") && files.contains("summary.json"))
        #expect(files.contains("report.html"))
        #expect(files.allSatisfy { $0.hasPrefix("traces/") || $0.hasPrefix("figures/") || $0.hasPrefix("fixed/") || ["README.md", "report.html", "summary.json"].contains($0) }, "\(files)")
        let top = Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)).subtracting([".stdout", ".stderr"])
        #expect(top.filter { !$0.hasPrefix(".std") }.sorted() == ["net.prototxt", "o", "solver.prototxt"], "\(top)")
    }
}
