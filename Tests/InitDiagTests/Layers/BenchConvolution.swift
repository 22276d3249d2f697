import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

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
        var tuning = ConvolutionTuning.default
        if let t = env["INITDIAG_BENCH_TARGET_COLUMNS"].flatMap(Int.init) { tuning.targetColumns = t }
        if let t = env["INITDIAG_BENCH_WINOGRAD_TILES"].flatMap(Int.init) { tuning.winogradTargetTiles = t }
        if let t = env["INITDIAG_BENCH_WINOGRAD_MIN_CHANNELS"].flatMap(Int.init) { tuning.winogradMinChannels = t }
        let report = try ConvBench.run(batch: batch, threads: threads, repeats: repeats, only: only, tuning: tuning)
        print(report)
        Engine.configureThreads(1)
        #expect(report.contains("conv total"))
    }
}

/// Thread-count independence of the parallel loops (im2col/col2im, Winograd transforms, reorders,
/// pooling): results with two threads equal those with one up to BLAS summation order. Changes the
/// process-wide thread count, so it runs only on request with the benchmark (INITDIAG_BENCH=1).
@Suite struct BenchThreadedAgreement {
    func run(threads: Int) throws -> [[Float]] {
        Engine.configureThreads(threads)
        defer { Engine.configureThreads(1) }
        var out: [[Float]] = []
        for (name, channels, size, winograd) in [("im2col", 64, 12, false), ("winograd", 256, 6, true)] {
            var lp = LayerParameter(name: name, type: "Convolution")
            var p = ConvolutionParameter(); p.numOutput = UInt32(channels); p.kernelSize = [3]; p.pad = [1]
            lp.convolutionParam = p
            let layer = try ConvolutionLayer(param: lp, context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1)))
            layer.winogradChoice = winograd ? .always : .never
            let bottom = Blob(shape: [9, channels, size, size]), top = Blob()
            fillUniform(bottom, seed: 51)
            try layer.setUp(bottom: [bottom], top: [top])
            layer.useImagesPerBlock(4)
            fillUniform(layer.blobs[0], -0.05, 0.05, seed: 53)
            fillUniform(layer.blobs[1], seed: 57)
            layer.forward(bottom: [bottom], top: [top])
            out.append(top.dataArray)
            top.setDiff(top.dataArray)
            layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
            out += [layer.blobs[0].diffArray, layer.blobs[1].diffArray, bottom.diffArray]
        }
        for pool in [PoolingParameter.PoolMethod.MAX, .AVE] {
            let bottom = distinctValues([8, 64, 9, 9])
            let (layer, top) = try makePooling({ $0.pool = pool; $0.kernelSize = 3; $0.stride = 2; $0.pad = 1 }, bottom: bottom)
            layer.forward(bottom: [bottom], top: top)
            top[0].setDiff(top[0].dataArray)
            layer.backward(top: top, propagateDown: [true], bottom: [bottom])
            out += [top[0].dataArray, bottom.diffArray]
        }
        return out
    }

    @Test(.enabled(if: BenchConvolution.enabled))
    func twoThreadsAgreeWithOne() throws {
        let one = try run(threads: 1), two = try run(threads: 2)
        for (k, (a, b)) in zip(one, two).enumerated() {
            let scale = max(1, b.map(abs).max() ?? 1)
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * scale, "result \(k): max difference \(worst)")
        }
    }
}
