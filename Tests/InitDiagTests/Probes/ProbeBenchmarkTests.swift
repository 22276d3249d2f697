import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The per-step statistics benchmark (ProbeBenchmark), only with INITDIAG_BENCH=1 and meant for a
/// release build: `INITDIAG_BENCH=1 swift test -c release --filter ProbeBenchmarkTests`.
/// INITDIAG_BENCH_BATCH overrides the batch (default 128).
@Suite struct ProbeBenchmarkTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["INITDIAG_BENCH"] == "1"))
    func seedNetStatisticsPerStep() {
        let batch = Int(ProcessInfo.processInfo.environment["INITDIAG_BENCH_BATCH"] ?? "") ?? 128
        for threads in [1, 2] {
            let report = ProbeBenchmark.run(batch: batch, threads: threads)
            print(report)
            #expect(report.contains("ms/step"))
        }
    }
}
