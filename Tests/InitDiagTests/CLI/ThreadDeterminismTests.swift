import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Same seed and thread count → identical traces, with two threads: the engine's splits (GEMM
/// blocks, Winograd's 16 products, chunked elementwise loops and solver updates) depend only on
/// shapes and the thread count. Each run is its own `initdiag train` process, so no other test
/// can change the engine's thread count in the middle of it.
@Suite struct ThreadDeterminismTests {
    /// Input 16×3×32×32 → conv 3→32 (im2col) → ReLU → conv 32→32 3×3 pad 1 (Winograd: both
    /// channel counts ≥ 32) → ReLU → InnerProduct 10 (large enough to be split) → softmax loss.
    static let net = """
    name: "threads"
    layer { name: "data" type: "Input" top: "data" top: "label"
      input_param { shape { dim: 16 dim: 3 dim: 32 dim: 32 } shape { dim: 16 } } }
    layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
      convolution_param { num_output: 32 kernel_size: 3 pad: 1 weight_filler { type: "msra" } } }
    layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
    layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
      convolution_param { num_output: 32 kernel_size: 3 pad: 1 weight_filler { type: "msra" } } }
    layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
    layer { name: "ip" type: "InnerProduct" bottom: "conv2" top: "ip"
      inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }

    """

    @Test func twoThreadsSameSeedSameTrace() throws {
        _ = try CLIHarness.binary()
        let dir = try CLIHarness.temporaryDirectory("threads")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.net.write(toFile: dir.appendingPathComponent("net.prototxt").path, atomically: true, encoding: .utf8)
        try """
        net: "net.prototxt"
        base_lr: 0.01
        lr_policy: "fixed"
        momentum: 0.9
        weight_decay: 0.0005
        max_iter: 100
        display: 0

        """.write(toFile: dir.appendingPathComponent("solver.prototxt").path, atomically: true, encoding: .utf8)
        var records: [(TraceSteps, [String: [Double]])] = []
        for run in 0..<2 {
            let trace = dir.appendingPathComponent("t\(run).h5").path
            let out = try CLIHarness.run(["train", "--solver", dir.appendingPathComponent("solver.prototxt").path,
                                          "--data", "synthetic", "--iterations", "5", "--threads", "2",
                                          "--trace", trace], in: dir, timeout: 300)
            #expect(out.status == 0, "train failed: \(out.stderr)")
            let reader = try TraceReader(path: trace)
            var series: [String: [Double]] = [:]
            for name in ["conv2", "ip"] {
                #expect(reader.layer(named: name) != nil, "no layer \(name) in the trace")
                for s in ["forward/std", "forward/between_sample_std", "param0/grad/l2", "param0/update_ratio"] {
                    series["\(name)/\(s)"] = try reader.series(layer: name, s)
                }
            }
            records.append((try reader.steps(), series))
        }
        #expect(records[0].0.loss.count == 5)
        #expect(records[0].0.loss == records[1].0.loss, "losses differ between two 2-thread runs")
        for (k, v) in records[0].1 {
            #expect(!v.isEmpty, "\(k) is empty")
            #expect(v == records[1].1[k], "\(k) differs between two 2-thread runs")
        }
    }
}
