import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// `initdiag train` and `sweep` stopped by SIGINT, SIGTERM and SIGKILL part-way through. The CLI
/// stops at the next iteration boundary on SIGINT/SIGTERM, closes the trace as `interrupted` and
/// exits 130 (128 + SIGINT, the shell's convention, whichever of the two signals arrived).
@Suite("CLI interruption", .serialized)
struct InterruptionTests {
    /// stdout shows Caffe's display line of `iteration` (display: 10 in the tiny solver).
    static func reached(_ iteration: Int) -> (String) -> Bool {
        { out in
            out.split(separator: "\n").contains { line in
                guard line.hasPrefix("Iteration "), let n = Int(line.dropFirst(10).prefix { $0.isNumber }) else { return false }
                return n >= iteration
            }
        }
    }

    @Test("train --trace stopped by SIGINT or SIGTERM: exit 130, trace status interrupted, readable", arguments: [SIGINT, SIGTERM])
    func trainSignal(_ sig: Int32) throws {
        let dir = try CLIHarness.temporaryDirectory("int-train")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let trace = dir.appendingPathComponent("T.h5").path
        let run = try CLIHarness.Running(["train", "--solver", solver, "--data", "synthetic", "--batch-size", "2",
                                          "--iterations", "100000", "--threads", "1", "--trace", trace], in: dir)
        #expect(run.waitForOutput(timeout: 60, Self.reached(20)), "no progress: \(run.stderr)")
        run.signal(sig)
        let out = run.finish(timeout: 60)
        #expect(!out.signaled)
        #expect(out.status == 130, "exit \(out.status); stderr: \(out.stderr)")
        #expect(out.stdout.contains("Optimization done: interrupted"), "\(out.stdout.suffix(300))")
        #expect(CLIHarness.h5dumpOpens(trace))
        let reader = try TraceReader(path: trace)
        #expect(reader.status == "interrupted")
        let steps = try reader.steps()
        // Every iteration up to the stop is recorded, in order, from 0.
        #expect(steps.iteration.count >= 20)
        #expect(steps.iteration == (0..<Int64(steps.iteration.count)).map { $0 })
        #expect(steps.loss.allSatisfy { $0.isFinite })
        #expect(reader.verdict != nil, "no /diagnosis written on interrupt")
    }

    @Test("train --trace killed with SIGKILL: the trace opens and holds every step up to the last flush")
    func trainKilled() throws {
        let dir = try CLIHarness.temporaryDirectory("kill-train")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let trace = dir.appendingPathComponent("T.h5").path
        let run = try CLIHarness.Running(["train", "--solver", solver, "--data", "synthetic", "--batch-size", "2",
                                          "--iterations", "100000", "--threads", "1", "--trace", trace], in: dir)
        // Display line 35 is printed after step 35's forward/backward, so steps 0…34 are
        // recorded and the flush after the 30th recorded step (docs/trace-format.md: every 10) has happened.
        #expect(run.waitForOutput(timeout: 60, Self.reached(35)), "no progress: \(run.stderr)")
        run.signal(SIGKILL)
        let out = run.finish(timeout: 30)
        #expect(out.signaled)
        #expect(CLIHarness.h5dumpOpens(trace), "h5dump cannot open the trace of a killed run")
        let reader = try TraceReader(path: trace)
        #expect(reader.status == "running")
        let steps = try reader.steps()
        #expect(steps.iteration.count >= 30, "only \(steps.iteration.count) steps survived")
        #expect(steps.iteration == (0..<Int64(steps.iteration.count)).map { $0 })
        #expect(steps.loss.count == steps.iteration.count && steps.lr.count == steps.iteration.count)
    }

    @Test("train --snapshot killed with SIGKILL: every file under a final snapshot name is complete and loads")
    func snapshotsKilled() throws {
        let dir = try CLIHarness.temporaryDirectory("kill-snap")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (net, solver) = try CLIHarness.writeTinyNet(in: dir)
        // Snapshot every 2 iterations so the kill is likely to land inside a snapshot write.
        try (String(contentsOfFile: solver, encoding: .utf8) + "snapshot: 2\n").write(toFile: solver, atomically: true, encoding: .utf8)
        let snap = dir.appendingPathComponent("snap")
        let run = try CLIHarness.Running(["train", "--solver", solver, "--data", "synthetic", "--batch-size", "2",
                                          "--iterations", "100000", "--threads", "1", "--snapshot", snap.path], in: dir)
        #expect(run.waitForOutput(timeout: 60, Self.reached(40)), "no progress: \(run.stderr)")
        run.signal(SIGKILL)
        #expect(run.finish(timeout: 30).signaled)
        let names = try FileManager.default.contentsOfDirectory(atPath: snap.path)
        let finals = names.filter { $0.hasSuffix(".caffemodel.h5") || $0.hasSuffix(".solverstate.h5") }.filter { !$0.hasPrefix(".") }
        #expect(finals.count >= 2 * 19, "\(names.sorted())")
        // A temporary file may be left by the kill, but never under a final name.
        #expect(names.allSatisfy { finals.contains($0) || $0.hasPrefix(".") }, "\(names.sorted())")
        for f in finals { #expect(CLIHarness.h5dumpOpens(snap.appendingPathComponent(f).path), "\(f) does not open") }
        // The newest pair resumes (its weights and history load).
        let newest = finals.filter { $0.hasSuffix(".solverstate.h5") }
            .max { Int($0.split(separator: "_").last!.split(separator: ".")[0])! < Int($1.split(separator: "_").last!.split(separator: ".")[0])! }
        let resumed = try CLIHarness.run(["train", "--solver", solver, "--net", net, "--data", "synthetic", "--batch-size", "2",
                                          "--threads", "1", "--resume", snap.appendingPathComponent(newest ?? "none").path,
                                          "--iterations", "\(50 + 100)"], in: dir, timeout: 120)
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    @Test("sweep stopped by SIGINT keeps finished traces, leaves no partial file under a final name, and resumes")
    func sweepInterruptAndResume() throws {
        let dir = try CLIHarness.temporaryDirectory("int-sweep")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let outDir = dir.appendingPathComponent("out")
        let schemes = ["w=caffe-msra,b=zero", "w=torch-default,b=torch-default", "w=caffe-xavier,b=zero"]
        let args = ["sweep", "--solver", solver, "--data", "synthetic", "--batch-size", "2", "--iterations", "400",
                    "--threads", "1", "--schemes", schemes.joined(separator: ";"), "--out", outDir.path]
        let run = try CLIHarness.Running(args, in: dir)
        // Variant 2 has started and made progress: variant 1 is finished, variant 2 is not.
        let ready = run.waitForOutput(timeout: 120) { out in
            guard let r = out.range(of: "== variant 2 of 3: w=torch-default,b=torch-default (elapsed") else { return false }
            return out[r.upperBound...].contains("\nIteration 10 ")
        }
        #expect(ready, "variant 2 never got going: \(run.stdout.suffix(500))")
        run.signal(SIGINT)
        let out = run.finish(timeout: 60)
        #expect(!out.signaled)
        #expect(out.status == 130, "exit \(out.status); stderr: \(out.stderr)")
        #expect(out.stdout.contains("interrupted: finished variants are kept"))

        let traces = outDir.appendingPathComponent("traces")
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: traces.path))
        let slugs = try schemes.map { try Scheme(parsing: $0).slug }
        // Variant 1 finished: its trace is under its final name, intact.
        #expect(names.contains("\(slugs[0]).h5"))
        let first = try TraceReader(path: traces.appendingPathComponent("\(slugs[0]).h5").path)
        #expect(["finished", "diverged"].contains(first.status ?? ""))
        #expect(first.stepCount > 0)
        // Variant 2 was interrupted: only a .partial exists, never a file under its final name.
        #expect(!names.contains("\(slugs[1]).h5"), "an interrupted variant was left under its final name")
        #expect(!names.contains("\(slugs[2]).h5"))
        if names.contains("\(slugs[1]).h5.partial") {
            let partial = try TraceReader(path: traces.appendingPathComponent("\(slugs[1]).h5.partial").path)
            #expect(partial.status == "interrupted")
        }
        #expect(!FileManager.default.fileExists(atPath: outDir.appendingPathComponent("summary.json").path),
                "the report was written for an interrupted sweep")

        // The same command resumes: variant 1 is not run again, the others run, the report follows.
        let again = try CLIHarness.run(args, in: dir, timeout: 300)
        #expect(again.status == 0, "resume exit \(again.status): \(again.stderr)")
        #expect(again.stdout.contains("== variant 1 of 3: w=caffe-msra,b=zero already finished; not run again")
                    || again.stdout.contains("== variant 1 of 3: w=caffe-msra,b=zero already diverged; not run again"),
                "\(again.stdout.prefix(400))")
        #expect(!again.stdout.contains("== variant 1 of 3: w=caffe-msra,b=zero (elapsed"))
        #expect(again.stdout.contains("== variant 2 of 3: w=torch-default,b=torch-default (elapsed"))
        let final = Set(try FileManager.default.contentsOfDirectory(atPath: traces.path))
        #expect(final == Set(slugs.map { "\($0).h5" }), "\(final)")
        for f in ["README.md", "summary.json"] {
            #expect(FileManager.default.fileExists(atPath: outDir.appendingPathComponent(f).path))
        }
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: outDir.appendingPathComponent("summary.json"))) as? [String: Any]
        #expect((summary?["variants"] as? [Any])?.count == 3)
        // No temporary file of the report writer is left behind.
        #expect(CLIHarness.files(under: outDir).allSatisfy { !$0.contains(".tmp-") && !$0.hasSuffix(".partial") })
    }
}
