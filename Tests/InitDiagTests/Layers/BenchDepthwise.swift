import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Micro-benchmark (no timing asserts; skipped unless INITDIAG_BENCH_DEPTHWISE is set): one
/// MobileNet-like depthwise layer, forward + backward, through the direct kernel and through
/// grouped im2col + GEMM. Prints the median of a few runs of each and their ratio.
@Suite struct BenchDepthwise {
    @Test func depthwiseVersusGroupedIm2col() throws {
        guard let spec = ProcessInfo.processInfo.environment["INITDIAG_BENCH_DEPTHWISE"] else {
            print("BenchDepthwise skipped: set INITDIAG_BENCH_DEPTHWISE=N,C,H (e.g. 32,128,56)")
            return
        }
        let dims = spec.split(separator: ",").compactMap { Int($0) }
        let (n, c, h) = dims.count == 3 ? (dims[0], dims[1], dims[2]) : (32, 128, 56)
        let lp = DepthwiseConvolutionTests.param(channels: c, kernel: 3, pad: 1)
        var medians: [Double] = []
        for direct in [true, false] {
            let layer = try ConvolutionLayer(param: lp, context: CaffeLayerTestKit.context())
            layer.depthwiseKernelEnabled = direct
            let bottom = CaffeLayerTestKit.blob([n, c, h, h], seed: 1), top = Blob()
            try layer.setUp(bottom: [bottom], top: [top])
            fillUniform(layer.blobs[0], seed: 2)
            top.diff.update(repeating: 0.01, count: top.count)
            var times: [Double] = []
            for _ in 0..<4 {
                let start = DispatchTime.now().uptimeNanoseconds
                layer.forward(bottom: [bottom], top: [top])
                layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            times.sort()
            medians.append(times[times.count / 2])
            print("depthwise \(n)×\(c)×\(h)×\(h) \(direct ? "direct kernel" : "grouped im2col"): forward+backward median \(times[times.count / 2]) ms (runs \(times.map { Int($0) }))")
        }
        print("depthwise direct / grouped im2col time ratio: \(medians[0] / medians[1]) (threads \(Engine.threads))")
    }
}
