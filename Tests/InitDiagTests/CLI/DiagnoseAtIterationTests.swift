import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagTrace
@testable import InitDiagDiagnosis

/// `diagnose --at-iteration N`: the verdict of the run as it stood at iteration N.
@Suite("CLI diagnose --at-iteration", .serialized)
struct DiagnoseAtIterationTests {
    @Test func prefixOfARecordKeepsStepsAndTestsUpToTheIteration() throws {
        var run = SaturationDiagnosisTests.weakSignalRecord(steps: 50) { _ in 0.2 }
        run.testIterations = [0, 20, 40]; run.testLoss = [2.3, 2.2, 2.1]; run.testAccuracy = [0.1, 0.2, 0.3]
        run.attributes["status"] = "diverged"
        let p = run.prefix(throughIteration: 25)
        #expect(p.iterations == Array(0...25))
        #expect(p.loss.count == 26 && p.lr.count == 26)
        #expect(p.testIterations == [0, 20] && p.testAccuracy == [0.1, 0.2])
        #expect(p.layers.allSatisfy { l in l.series.values.allSatisfy { $0.count == 26 } })
        #expect(p.status == "finished")
        // Past the end: the record is whole, status kept.
        #expect(run.prefix(throughIteration: 49).status == "diverged")
        #expect(run.prefix(throughIteration: 1000).iterations.count == 50)
    }

    @Test func diagnoseAtAnIterationSaysSo() throws {
        let dir = try CLIHarness.temporaryDirectory("diagnose-at")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let trace = dir.appendingPathComponent("T.h5").path
        let train = try CLIHarness.run(["train", "--solver", solver, "--data", "synthetic", "--batch-size", "2", "--threads", "1",
                                        "--iterations", "30", "--trace", trace], in: dir, timeout: 120)
        #expect(train.status == 0, "\(train.stderr)")
        let at = try CLIHarness.run(["diagnose", trace, "--at-iteration", "9"], in: dir)
        #expect(at.status == 0, "\(at.stderr)")
        #expect(at.stdout.contains("as of iteration 9: the verdict covers the first 10 of the trace's 30 recorded steps"), "\(at.stdout)")
        #expect(at.stdout.contains("10 recorded steps"), "\(at.stdout)")
        let whole = try CLIHarness.run(["diagnose", trace], in: dir)
        #expect(whole.stdout.contains("30 recorded steps") && !whole.stdout.contains("as of iteration"))
        let bad = try CLIHarness.run(["diagnose", trace, "--at-iteration", "-1"], in: dir)
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--at-iteration must be ≥ 0"), "\(bad.stderr)")
    }
}
