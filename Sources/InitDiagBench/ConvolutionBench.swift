import InitDiag
import InitDiagEngine
import InitDiagCore
import Dispatch
import Foundation

/// Timing of the compute-heavy layers on the seed net's shapes (VGG19 for CIFAR-10, 32×32 input):
/// the 16 3×3 pad-1 convolutions, the five 2×2 stride-2 max pools and the three inner products,
/// forward and backward, at a given batch. Also times one plain sgemm of a conv3-like block as the
/// machine's reference speed in the same run (the machine is shared: compare ratios, not absolutes).
public enum ConvBench {
    public struct ConvShape: Sendable {
        public var name: String, input: Int, output: Int, size: Int
    }

    /// conv1_1 … conv5_4 of the seed net (all kernel 3, pad 1, stride 1).
    public static let seedVGG19: [ConvShape] = {
        var shapes: [ConvShape] = []
        let stages: [(Int, Int, Int)] = [(64, 2, 32), (128, 2, 16), (256, 4, 8), (512, 4, 4), (512, 4, 2)]
        var channels = 3
        for (s, (width, count, size)) in stages.enumerated() {
            for i in 0..<count {
                shapes.append(ConvShape(name: "conv\(s + 1)_\(i + 1)", input: channels, output: width, size: size))
                channels = width
            }
        }
        return shapes
    }()

    /// `value` with `decimals` digits, right-aligned in `width` columns.
    static func num(_ value: Double, _ decimals: Int, _ width: Int) -> String {
        pad(String(format: "%.\(decimals)f", value), width)
    }

    static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return left ? text + fill : fill + text
    }

    /// With one thread the benchmark reads the process CPU clock: on a shared, loaded machine that
    /// counts only the time the benchmark actually ran (wall time with more threads).
    nonisolated(unsafe) static var useCPUClock = false

    static func now() -> Double {
        if useCPUClock {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
        }
        return Double(DispatchTime.now().uptimeNanoseconds) * 1e-9
    }

    static func fill(_ b: Blob, seed: UInt32) {
        var g = MT19937(seed: seed)
        for i in 0..<b.count { b.data[i] = Float(g.next()) / 4_294_967_296.0 * 2 - 1 }
    }

    /// Best of `repeats` timings of `body` (after one untimed warm-up call).
    static func time(_ repeats: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let t0 = now(); body(); best = min(best, now() - t0)
        }
        return best
    }

    /// Runs the benchmark and returns a table. `only` restricts to the named conv layers.
    public static func run(batch: Int = 128, threads: Int = 2, repeats: Int = 2,
                           only: Set<String>? = nil, includeOthers: Bool = true,
                           tuning: ConvolutionTuning = .default) throws -> String {
        Engine.configureThreads(threads)
        useCPUClock = threads == 1
        var lines: [String] = []
        lines.append("threads \(threads), batch \(batch), BLAS core \(blasCoreName()), best of \(repeats), "
                     + (useCPUClock ? "process CPU time" : "wall time"))

        // Reference: one sgemm of the conv3_x block shape (M 256, K 2304, N 4096).
        do {
            let m = 256, k = 2304, n = 4096
            let a = Blob(shape: [m, k]), b = Blob(shape: [k, n]), c = Blob(shape: [m, n])
            fill(a, seed: 1); fill(b, seed: 2)
            let t = time(repeats + 1) {
                sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.data, b: b.data,
                      beta: 0, c: c.data)
            }
            lines.append(String(format: "reference sgemm %d×%d×%d: %.2f ms, %.1f GFLOP/s",
                                m, k, n, t * 1e3, 2.0 * Double(m * n * k) / t * 1e-9))
        }

        lines.append("layer        shape            block  fwd ms  fwd GF/s   bwd ms  bwd GF/s  gemm ms gemm GF/s  im2col  col2im")
        var totalForward = 0.0, totalBackward = 0.0
        let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1), convolutionTuning: tuning)
        for (index, s) in seedVGG19.enumerated() where only == nil || only!.contains(s.name) {
            var lp = LayerParameter(name: s.name, type: "Convolution")
            var p = ConvolutionParameter()
            p.numOutput = UInt32(s.output); p.kernelSize = [3]; p.pad = [1]
            lp.convolutionParam = p
            let layer = try ConvolutionLayer(param: lp, context: ctx)
            let bottom = Blob(name: "in", shape: [batch, s.input, s.size, s.size]), top = Blob(name: "out")
            fill(bottom, seed: 3)
            try layer.setUp(bottom: [bottom], top: [top])
            fill(layer.blobs[0], seed: 4)
            fill(top, seed: 5)
            top.diff.update(from: top.data, count: top.count)
            let f = time(repeats) { layer.forward(bottom: [bottom], top: [top]) }
            // The first conv needs no gradient for the data (as in the seed net).
            let down = index > 0
            let b = time(repeats) { layer.backward(top: [top], propagateDown: [down], bottom: [bottom]) }
            // The forward GEMMs alone on the same block shape, timed next to the layer: the
            // lowering's overhead shows as the gap, independent of the machine's load.
            let columns = layer.imagesPerBlock * s.size * s.size
            let blocks = (batch + layer.imagesPerBlock - 1) / layer.imagesPerBlock
            let rows = s.input * 9
            let colScratch = Blob(shape: [rows, columns]), outScratch = Blob(shape: [s.output, columns])
            fill(colScratch, seed: 6)
            let gemmOnly = time(repeats) {
                for _ in 0..<blocks {
                    sgemm(transA: false, transB: false, m: s.output, n: columns, k: rows, alpha: 1,
                          a: layer.blobs[0].data, b: colScratch.data, beta: 0, c: outScratch.data)
                }
            }
            let gemmFlops = 2 * Double(blocks * s.output * columns * rows)
            let geometry = layer.geometry
            let lowering = time(repeats) {
                for blk in 0..<blocks {
                    let first = blk * layer.imagesPerBlock
                    let n = min(layer.imagesPerBlock, batch - first)
                    im2colBlock(geometry, input: bottom.data + first * s.input * s.size * s.size, count: n,
                                col: colScratch.data)
                }
            }
            let raising = time(repeats) {
                for blk in 0..<blocks {
                    let first = blk * layer.imagesPerBlock
                    let n = min(layer.imagesPerBlock, batch - first)
                    col2imBlock(geometry, col: colScratch.data, count: n,
                                output: bottom.diff + first * s.input * s.size * s.size)
                }
            }
            let flops = layer.forwardFLOPs
            let backFlops = flops * (down ? 2 : 1)
            totalForward += f; totalBackward += b
            lines.append(pad(s.name, 12, left: true) + " " + pad("\(s.input)→\(s.output) \(s.size)²", 16, left: true)
                         + pad(layer.usesWinograd ? "W\(layer.winogradImagesPerBlock)" : "\(layer.imagesPerBlock)", 6) + num(f * 1e3, 1, 8) + num(flops / f * 1e-9, 1, 10)
                         + num(b * 1e3, 1, 9) + num(backFlops / b * 1e-9, 1, 10)
                         + num(gemmOnly * 1e3, 1, 9) + num(gemmFlops / gemmOnly * 1e-9, 1, 10)
                         + num(lowering * 1e3, 1, 8) + num(raising * 1e3, 1, 8))
        }
        lines.append(String(format: "conv total: forward %.1f ms, backward %.1f ms, iteration %.1f ms",
                            totalForward * 1e3, totalBackward * 1e3, (totalForward + totalBackward) * 1e3))
        guard includeOthers else { return lines.joined(separator: "\n") }

        var otherF = 0.0, otherB = 0.0
        for (i, (c, size)) in [(64, 32), (128, 16), (256, 8), (512, 4), (512, 2)].enumerated() {
            var lp = LayerParameter(name: "pool\(i + 1)", type: "Pooling")
            var p = PoolingParameter(); p.kernelSize = 2; p.stride = 2
            lp.poolingParam = p
            let layer = try PoolingLayer(param: lp, context: ctx)
            let bottom = Blob(shape: [batch, c, size, size]), top = Blob()
            fill(bottom, seed: 6)
            try layer.setUp(bottom: [bottom], top: [top])
            fill(top, seed: 7); top.diff.update(from: top.data, count: top.count)
            let f = time(repeats) { layer.forward(bottom: [bottom], top: [top]) }
            let b = time(repeats) { layer.backward(top: [top], propagateDown: [true], bottom: [bottom]) }
            otherF += f; otherB += b
            lines.append("pool\(i + 1)  \(c)×\(size)²  fwd" + num(f * 1e3, 2, 7) + " ms  bwd" + num(b * 1e3, 2, 7) + " ms")
        }
        for (name, k, n) in [("fc6", 512, 512), ("fc7", 512, 512), ("fc8", 512, 10)] {
            var lp = LayerParameter(name: name, type: "InnerProduct")
            var p = InnerProductParameter(); p.numOutput = UInt32(n)
            lp.innerProductParam = p
            let layer = try InnerProductLayer(param: lp, context: ctx)
            let bottom = Blob(shape: [batch, k]), top = Blob()
            fill(bottom, seed: 8)
            try layer.setUp(bottom: [bottom], top: [top])
            fill(layer.blobs[0], seed: 9)
            fill(top, seed: 10); top.diff.update(from: top.data, count: top.count)
            let f = time(repeats) { layer.forward(bottom: [bottom], top: [top]) }
            let b = time(repeats) { layer.backward(top: [top], propagateDown: [true], bottom: [bottom]) }
            otherF += f; otherB += b
            lines.append("\(name)    \(k)→\(n)  fwd" + num(f * 1e3, 2, 7) + " ms  bwd" + num(b * 1e3, 2, 7) + " ms")
        }
        lines.append(String(format: "pool+fc total: forward %.1f ms, backward %.1f ms", otherF * 1e3, otherB * 1e3))
        return lines.joined(separator: "\n")
    }

    /// Every algorithm that applies to each of the seed net's 3×3 convolutions at `batch`, side by
    /// side (the algorithms of a layer run back to back, best of `repeats` each): forward and
    /// backward (weight and input gradient; the first layer's without the input gradient) in ms,
    /// the fastest marked, and the algorithm `.automatic` picks. `initdiag bench --convolutions`.
    public static func compareAlgorithms(batch: Int, threads: Int, repeats: Int = 3) throws -> String {
        Engine.configureThreads(threads)
        useCPUClock = threads == 1
        let choices: [(String, ConvolutionLayer.WinogradChoice)] =
            [("im2col-gemm", .never), ("winograd-f23", .always), ("winograd-f43", .f43)]
        var lines = ["threads \(threads), batch \(batch), BLAS core \(blasCoreName()), best of \(repeats), "
                     + (useCPUClock ? "process CPU time" : "wall time") + "; forward + backward ms per algorithm"]
        lines.append(pad("layer", 9, left: true) + pad("shape", 16, left: true)
                     + choices.map { pad($0.0, 22) }.joined() + "   fastest        automatic")
        var totals = [Double](repeating: 0, count: choices.count + 1)
        let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1))
        for (index, s) in seedVGG19.enumerated() {
            var cells: [Double] = []
            var chosen = ""
            for (_, choice) in choices + [("automatic", .automatic)] {
                var lp = LayerParameter(name: s.name, type: "Convolution")
                var p = ConvolutionParameter()
                p.numOutput = UInt32(s.output); p.kernelSize = [3]; p.pad = [1]
                lp.convolutionParam = p
                let layer = try ConvolutionLayer(param: lp, context: ctx)
                layer.winogradChoice = choice
                let bottom = Blob(name: "in", shape: [batch, s.input, s.size, s.size]), top = Blob(name: "out")
                fill(bottom, seed: 3)
                try layer.setUp(bottom: [bottom], top: [top])
                fill(layer.blobs[0], seed: 4)
                fill(top, seed: 5)
                top.diff.update(from: top.data, count: top.count)
                let down = index > 0
                let t = time(repeats) {
                    layer.forward(bottom: [bottom], top: [top])
                    layer.backward(top: [top], propagateDown: [down], bottom: [bottom])
                }
                if choice == .automatic { chosen = layer.algorithmName; totals[choices.count] += t; break }
                cells.append(layer.algorithmName == choices[cells.count].0 ? t : .nan)
            }
            for (k, c) in cells.enumerated() where !c.isNaN { totals[k] += c }
            let best = cells.indices.filter { !cells[$0].isNaN }.min { cells[$0] < cells[$1] }!
            lines.append(pad(s.name, 9, left: true) + pad("\(s.input)→\(s.output) \(s.size)²", 16, left: true)
                         + cells.map { $0.isNaN ? pad("—", 22) : num($0 * 1e3, 1, 22) }.joined()
                         + "   " + pad(choices[best].0, 15, left: true) + chosen)
        }
        lines.append(pad("total", 25, left: true) + totals.prefix(choices.count).map { num($0 * 1e3, 1, 22) }.joined()
                     + "   automatic: " + String(format: "%.1f ms", totals[choices.count] * 1e3))
        return lines.joined(separator: "\n")
    }
}
