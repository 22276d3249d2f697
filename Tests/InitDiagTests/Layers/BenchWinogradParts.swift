import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct BenchWinogradParts {
    @Test(.enabled(if: BenchConvolution.enabled && ProcessInfo.processInfo.environment["INITDIAG_BENCH_PARTS"] == "1"))
    func parts() throws {
        Engine.configureThreads(1)
        ConvBench.useCPUClock = true
        var lines: [String] = []
        for (c, size, nb) in [(64, 32, 4), (256, 8, 64), (512, 4, 64)] {
            let w = WinogradF23(inChannels: c, outChannels: c, group: 1, height: size, width: size, padH: 1, padW: 1)
            let scratch = Blob(shape: [w.scratchFloats(images: nb)])
            let input = Blob(shape: [nb, c, size, size]), weight = Blob(shape: [c, c, 3, 3]), out = Blob(shape: [nb, c, size, size])
            ConvBench.fill(input, seed: 1); ConvBench.fill(weight, seed: 2)
            let u = scratch.data, v = u + 16 * w.uStride, m = v + 16 * w.vStride(images: nb)
            let tw = ConvBench.time(3) { w.transformWeights(weight.data, flipTranspose: false, into: u) }
            let ti = ConvBench.time(3) { w.transformInput(input.data, images: nb, into: v) }
            let tm = ConvBench.time(3) { w.multiply(u: u, v: v, images: nb, into: m) }
            let to = ConvBench.time(3) { w.transformOutput(m, images: nb, bias: nil, into: out.data) }
            let flops = 2.0 * 16 * Double(c * c * nb * w.tilesPerImage)
            lines.append("C=\(c) \(size)² nb \(nb): weights \(tw * 1e3) ms, input \(ti * 1e3) ms, gemm \(tm * 1e3) ms (\(flops / tm * 1e-9) GF/s), output \(to * 1e3) ms")
        }
        print(lines.joined(separator: "\n"))
    }
}
