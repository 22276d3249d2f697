import Foundation
import Testing
@testable import InitDiag

/// Timing of the seed net's conv/pool/fc shapes; runs only with INITDIAG_BENCH=1, meant for a
/// release build: `INITDIAG_BENCH=1 swift test -c release --filter BenchConvolution`.
/// INITDIAG_BENCH_BATCH, INITDIAG_BENCH_THREADS, INITDIAG_BENCH_ONLY (comma-separated conv names)
/// adjust it.
@Suite struct BenchConvolution {
    static var enabled: Bool { ProcessInfo.processInfo.environment["INITDIAG_BENCH"] == "1" }

    @Test(.enabled(if: BenchConvolution.enabled))
    func seedVGG19Shapes() throws {
        let env = ProcessInfo.processInfo.environment
        let batch = Int(env["INITDIAG_BENCH_BATCH"] ?? "") ?? 128
        let threads = Int(env["INITDIAG_BENCH_THREADS"] ?? "") ?? 2
        let repeats = Int(env["INITDIAG_BENCH_REPEATS"] ?? "") ?? 2
        let only = env["INITDIAG_BENCH_ONLY"].map { Set($0.split(separator: ",").map(String.init)) }
        if let t = env["INITDIAG_BENCH_TARGET_COLUMNS"].flatMap(Int.init) { ConvolutionLayer.targetColumns = t }
        if let t = env["INITDIAG_BENCH_WINOGRAD_TILES"].flatMap(Int.init) { ConvolutionLayer.winogradTargetTiles = t }
        if let t = env["INITDIAG_BENCH_WINOGRAD_MIN_CHANNELS"].flatMap(Int.init) { ConvolutionLayer.winogradMinChannels = t }
        let report = try ConvBench.run(batch: batch, threads: threads, repeats: repeats, only: only)
        print(report)
        Engine.configureThreads(1)
        #expect(report.contains("conv total"))
    }
}
