import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// SIGINT during `train` writes a snapshot (Caffe's Solve() does after a SIGINT stop); `--resume`
/// from it onto the same trace appends: the steps already recorded stay, the rest follow.
@Suite("CLI resume appends", .serialized)
struct ResumeAppendTests {
    @Test("SIGINT → snapshot at the stop; --resume continues and appends to the trace")
    func interruptSnapshotResumeAppends() throws {
        let dir = try CLIHarness.temporaryDirectory("resume-append")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let trace = dir.appendingPathComponent("T.h5").path
        let snap = dir.appendingPathComponent("snap")
        let common = ["--solver", solver, "--data", "synthetic", "--batch-size", "2", "--threads", "1", "--trace", trace, "--snapshot", snap.path]
        let run = try CLIHarness.Running(["train"] + common + ["--iterations", "100000"], in: dir)
        #expect(run.waitForOutput(timeout: 60, InterruptionTests.reached(20)), "no progress: \(run.stderr)")
        run.signal(SIGINT)
        let out = run.finish(timeout: 60)
        #expect(out.status == 130, "\(out.stderr)")
        let before = try TraceReader(path: trace)
        let firstSteps = try before.steps()
        let n = firstSteps.iteration.count
        #expect(n >= 20)
        // The snapshot is at the iteration the run stopped at: every recorded step precedes it.
        let state = snap.appendingPathComponent("tiny_iter_\(n).solverstate.h5").path
        #expect(FileManager.default.fileExists(atPath: state), "\(String(describing: try? FileManager.default.contentsOfDirectory(atPath: snap.path)))")
        #expect(out.stdout.contains("Snapshotting to HDF5 file"))

        let resumed = try CLIHarness.run(["train"] + common + ["--resume", state, "--iterations", "\(n + 15)"], in: dir, timeout: 120)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let after = try TraceReader(path: trace)
        #expect(after.status == "finished")
        let steps = try after.steps()
        #expect(steps.iteration == (0..<Int64(n + 15)).map { $0 }, "\(steps.iteration)")
        // The steps recorded before the interrupt are kept as they were.
        #expect(Array(steps.loss.prefix(n)) == firstSteps.loss)
        let name = try #require(before.layers.first { $0.name == "conv1" })
        let stdBefore = try before.series(layer: name.name, "forward/std")
        let stdAfter = try after.series(layer: name.name, "forward/std")
        #expect(Array(stdAfter.prefix(n)) == stdBefore)
        #expect(stdAfter.count == n + 15)
        // Histograms: the recorded rows kept, the bins read back from the trace, not chosen anew.
        let histBefore = try #require(try before.histogram(layer: name.name, "forward/histogram"))
        let histAfter = try #require(try after.histogram(layer: name.name, "forward/histogram"))
        #expect(histAfter.bins == histBefore.bins && histAfter.steps == n + 15)
        #expect(Array(histAfter.counts.prefix(n * TraceHistogramBins.slotCount)) == histBefore.counts)

        // The same resume from an uninterrupted run's trajectory: identical losses (exact resume).
        let straight = dir.appendingPathComponent("S.h5").path
        let s = try CLIHarness.run(["train", "--solver", solver, "--data", "synthetic", "--batch-size", "2", "--threads", "1",
                                    "--trace", straight, "--iterations", "\(n + 15)"], in: dir, timeout: 120)
        #expect(s.status == 0)
        let straightReader = try TraceReader(path: straight)
        #expect(try straightReader.steps().loss == steps.loss)
        for info in straightReader.layers {
            for h in info.histogramNames {
                #expect(try straightReader.histogram(layer: info.name, h) == (try after.histogram(layer: info.name, h)),
                        "\(info.name)/\(h): resumed vs uninterrupted")
            }
        }
    }

    @Test("--resume refuses a trace or solver state of another experiment")
    func resumeRefusesAnotherExperiment() throws {
        let dir = try CLIHarness.temporaryDirectory("resume-other")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let trace = dir.appendingPathComponent("T.h5").path
        let snap = dir.appendingPathComponent("snap")
        let a = try CLIHarness.run(["train", "--solver", solver, "--data", "synthetic:1", "--batch-size", "2", "--threads", "1",
                                    "--trace", trace, "--snapshot", snap.path, "--iterations", "10"], in: dir, timeout: 120)
        #expect(a.status == 0, "\(a.stderr)")
        let state = snap.appendingPathComponent("tiny_iter_10.solverstate.h5").path
        let before = try Data(contentsOf: URL(fileURLWithPath: trace))
        let b = try CLIHarness.run(["train", "--solver", solver, "--data", "synthetic:2", "--batch-size", "2", "--threads", "1",
                                    "--trace", trace, "--resume", state, "--iterations", "20"], in: dir, timeout: 120)
        #expect(b.status == 2)
        #expect(b.errorLines.count == 1 && b.errorLines[0].contains("data"), "\(b.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: trace)) == before)
        // Without the trace: the solver state itself says which experiment it belongs to.
        let c = try CLIHarness.run(["train", "--solver", solver, "--data", "synthetic:1", "--batch-size", "4", "--threads", "1",
                                    "--resume", state, "--iterations", "20"], in: dir, timeout: 120)
        #expect(c.status == 2)
        #expect(c.errorLines.first?.contains("batch_size") == true, "\(c.stderr)")
    }

    @Test("SIGINT during a long test phase takes effect within one test batch")
    func interruptInTestPhase() throws {
        let dir = try CLIHarness.temporaryDirectory("int-test-phase")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        try (String(contentsOfFile: solver, encoding: .utf8) + "test_iter: 1\ntest_interval: 5\n").write(toFile: solver, atomically: true, encoding: .utf8)
        let trace = dir.appendingPathComponent("T.h5").path
        let run = try CLIHarness.Running(["train", "--solver", solver, "--data", "synthetic", "--batch-size", "2", "--threads", "1",
                                          "--iterations", "100000", "--test-iter", "100000000", "--trace", trace], in: dir)
        // test_initialization (default true): the first test phase is at iteration 0.
        #expect(run.waitForOutput(timeout: 60) { $0.contains("Iteration 0, Testing net") }, "no test phase: \(run.stderr)")
        usleep(300_000)
        run.signal(SIGINT)
        let out = run.finish(timeout: 20)
        #expect(out.status == 130, "exit \(out.status): \(out.stderr)")
        #expect(out.stdout.contains("Test phase interrupted after"))
        let r = try TraceReader(path: trace)
        #expect(r.status == "interrupted")
        #expect(try r.testSeries().iteration.isEmpty, "a partial test phase was recorded")
    }
}
