import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Progress in a log file, --quiet, Caffe's iteration numbers; trace datasets described, the
/// layer order as a list, per-step wall time and gradient norm; diagnose names an interrupted run.
@Suite("Progress and traces", .serialized)
struct ProgressTraceTests {
    @Test("stderr not a terminal: a progress line per --progress-every seconds with Caffe's iteration; --quiet prints none")
    func progressInALogFile() throws {
        let dir = try CLIHarness.temporaryDirectory("progress")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let args = ["train", "--solver", solver, "--data", "synthetic", "--batch-size", "2", "--threads", "1", "--iterations", "400"]
        let out = try CLIHarness.run(args + ["--progress-every", "0.05"], in: dir, timeout: 120)
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.stderr.split(separator: "\n").filter { $0.hasPrefix("progress: ") }
        #expect(lines.count >= 2, "\(out.stderr.suffix(500))")
        #expect(!out.stderr.contains("\u{1B}["), "terminal escapes in a log file")
        // "iteration i of 400": i is Caffe's index of the step just done, never 400 itself.
        for l in lines {
            let n = Int(l.split(separator: " ")[2]) ?? -1
            #expect((0..<400).contains(n), "\(l)")
            #expect(l.contains(" of 400") && l.contains("ETA"))
        }
        let quiet = try CLIHarness.run(args + ["--quiet", "--progress-every", "0.05"], in: dir, timeout: 120)
        #expect(quiet.status == 0)
        #expect(!quiet.stderr.contains("progress: "))
        #expect(!quiet.stdout.contains("Iteration "))
        #expect(quiet.stdout.contains("Optimization done: finished after 400 iterations"))
    }

    @Test("sweep progress names the variant k of n and the sweep's ETA")
    func sweepProgress() throws {
        let dir = try CLIHarness.temporaryDirectory("progress-sweep")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let out = try CLIHarness.run(["sweep", "--solver", solver, "--data", "synthetic", "--batch-size", "2", "--threads", "1",
                                      "--iterations", "300", "--schemes", "w=caffe-msra,b=zero;w=caffe-xavier,b=zero",
                                      "--progress-every", "0.05", "--out", dir.appendingPathComponent("o").path], in: dir, timeout: 300)
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.stderr.split(separator: "\n").filter { $0.hasPrefix("progress: ") }
        #expect(lines.contains { $0.contains("[1/2 w=caffe-msra,b=zero]") && $0.contains("sweep ETA") }, "\(out.stderr.suffix(400))")
    }

    @Test("trace: datasets carry a description, the root the layer order as a list, steps their wall time and gradient norm")
    func traceAttributes() throws {
        let dir = try CLIHarness.temporaryDirectory("trace-attrs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let trace = dir.appendingPathComponent("T.h5").path
        let out = try CLIHarness.run(["train", "--solver", solver, "--data", "synthetic", "--batch-size", "2", "--threads", "1",
                                      "--iterations", "12", "--trace", trace], in: dir, timeout: 120)
        #expect(out.status == 0, "\(out.stderr)")
        let r = try TraceReader(path: trace)
        #expect(r.attributes["layer_order"] == .strings(["data", "conv1", "relu1", "ip1", "loss"]), "\(String(describing: r.attributes["layer_order"]))")
        let file = try HDF5File.open(path: trace, fileLocking: false)
        let pre = try file.openDataset("layers/conv1/forward/std").attribute("description")?.stringValue ?? ""
        #expect(pre.contains("pre-activation"), "\(pre)")
        let post = try file.openDataset("layers/relu1/forward/std").attribute("description")?.stringValue ?? ""
        #expect(post.contains("post-activation"), "\(post)")
        #expect(try file.openDataset("steps/loss").attribute("description") != nil)
        let wall = try #require(try r.stepSeries("wall_time"))
        let norm = try #require(try r.stepSeries("grad_norm"))
        #expect(wall.count == 12 && wall.allSatisfy { $0 > 0 && $0 < 60 })
        #expect(norm.count == 12 && norm.allSatisfy { $0.isFinite && $0 > 0 })
        // The norm is √ of the sum of the layers' squared gradient norms: check it against the
        // per-blob l2 series the trace also holds.
        var sumSq = 0.0
        for layer in ["conv1", "ip1"] {
            for p in ["param0", "param1"] where r.hasSeries(layer: layer, "\(p)/grad/l2") {
                let l2 = try r.series(layer: layer, "\(p)/grad/l2")
                sumSq += l2[5] * l2[5]
            }
        }
        #expect(abs(norm[5] - sumSq.squareRoot()) <= 1e-4 * norm[5], "\(norm[5]) vs \(sumSq.squareRoot())")
    }

    @Test("diagnose says when a trace was interrupted")
    func diagnoseInterrupted() throws {
        let dir = try CLIHarness.temporaryDirectory("diag-int")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let trace = dir.appendingPathComponent("T.h5").path
        let run = try CLIHarness.Running(["train", "--solver", solver, "--data", "synthetic", "--batch-size", "2",
                                          "--iterations", "100000", "--threads", "1", "--trace", trace], in: dir)
        #expect(run.waitForOutput(timeout: 60, InterruptionTests.reached(10)))
        run.signal(SIGINT)
        #expect(run.finish(timeout: 60).status == 130)
        let d = try CLIHarness.run(["diagnose", trace], in: dir)
        #expect(d.status == 0)
        #expect(d.stdout.contains("status:                interrupted after iteration"), "\(d.stdout)")
        let j = try CLIHarness.run(["diagnose", trace, "--json"], in: dir)
        let object = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any]
        #expect(object?["status"] as? String == "interrupted")
    }
}
