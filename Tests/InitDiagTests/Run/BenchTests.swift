import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// `initdiag bench`: the numbers' structure (the timings themselves are for Reports/BENCHMARKS.md).
@Suite(.serialized) struct BenchTests {
    func setup() throws -> RunSetup {
        try RunSetup.load(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: nil, data: "synthetic",
                          scheme: Scheme(), seed: nil, batchSize: 4)
    }

    @Test func plainRunReportsEveryPartAndLayer() throws {
        let r = try Bench.run(setup: try setup(), iterations: 2, warmup: 1, probes: true, threads: 1)
        #expect(r.iterationSeconds > 0 && r.forwardSeconds > 0 && r.backwardSeconds > 0 && r.updateSeconds >= 0)
        #expect(r.layers.map(\.name).contains("conv1") && r.peakRSSBytes > 0)
        let json = try JSONSerialization.jsonObject(with: Data(r.json().utf8)) as? [String: Any]
        #expect(abs((json?["iteration_s"] as? Double ?? -1) - r.iterationSeconds) <= 1e-12)
    }

    @Test func alternatingRunMeasuresBothSidesInOneProcess() throws {
        let r = try Bench.runAlternating(setup: try setup(), pairs: 3, warmup: 1, threads: 1)
        #expect(r.pairs == 3 && r.threads == 1)
        #expect(r.on.iterationSeconds > 0 && r.off.iterationSeconds > 0 && r.overhead.isFinite)
        // on − off over off: the pair differences' median is bounded by the extremes of the runs.
        #expect(r.overhead > -1)
        let json = try JSONSerialization.jsonObject(with: Data(r.json().utf8)) as? [String: Any]
        #expect(abs(((json?["on"] as? [String: Any])?["iteration_s"] as? Double ?? -1) - r.on.iterationSeconds) <= 1e-12)
        #expect(abs((json?["overhead"] as? Double ?? -9) - r.overhead) <= 1e-12)
        #expect(abs((json?["overhead_without_histograms"] as? Double ?? -9) - r.overheadWithoutHistograms) <= 1e-12)
        #expect(r.onWithoutHistograms.iterationSeconds > 0 && r.overheadWithoutHistograms > -1)
        #expect(r.table().contains("probe overhead") && r.table().contains("without histograms"))
    }
}
