import InitDiag
import InitDiagEngine
import InitDiagCore
import Foundation

/// `initdiag bench`: the median time of a training iteration (forward, backward, update) after
/// warm-up, per layer, and the peak resident memory — the numbers Reports/BENCHMARKS.md keeps.
public struct BenchResult: Codable, Sendable {
    public struct LayerTime: Codable, Sendable {
        public var name: String
        public var forwardSeconds: Double
        public var backwardSeconds: Double
        enum CodingKeys: String, CodingKey { case name, forwardSeconds = "forward_s", backwardSeconds = "backward_s" }
    }
    public var iterationSeconds: Double
    public var forwardSeconds: Double
    public var backwardSeconds: Double
    public var updateSeconds: Double
    public var peakRSSBytes: Int
    public var layers: [LayerTime]
    public var iterations: Int
    public var threads: Int
    public var probes: Bool
    public var batchSize: Int
    /// Over the timed iterations (getrusage before and after): minor page faults per iteration,
    /// and the system share of the process's CPU time.
    public var minorFaultsPerIteration: Double
    public var cpuSecondsPerIteration: Double
    public var systemCPUFraction: Double
    public var kernels: Kernels
    enum CodingKeys: String, CodingKey {
        case iterationSeconds = "iteration_s", forwardSeconds = "forward_s", backwardSeconds = "backward_s",
             updateSeconds = "update_s", peakRSSBytes = "peak_rss_bytes", layers, iterations, threads, probes,
             batchSize = "batch_size", minorFaultsPerIteration = "minor_faults_per_iteration",
             cpuSecondsPerIteration = "cpu_s_per_iteration", systemCPUFraction = "system_cpu_fraction", kernels
    }

    /// The kernels chosen at run time: OpenBLAS's core (its DYNAMIC_ARCH pick for this CPU), the
    /// statistics kernels' ISA, and per convolution layer the algorithm (`winograd-f23`,
    /// `im2col-gemm`, `1x1-gemm`).
    public struct Kernels: Codable, Sendable {
        public var blasCore: String
        public var statisticsISA: String
        public var convolution: [String: String]
        enum CodingKeys: String, CodingKey {
            case blasCore = "blas_core", statisticsISA = "statistics_isa", convolution
        }

        public static func of(_ net: Net) -> Kernels {
            var conv: [String: String] = [:]
            for (i, layer) in net.layers.enumerated() {
                guard let c = layer as? ConvolutionLayer else { continue }
                conv[net.layerParams[i].name] = c.algorithmName
            }
            return Kernels(blasCore: blasCoreName(), statisticsISA: ProbeBenchmark.kernelName, convolution: conv)
        }

        public func text(order: [String]) -> String {
            var out = "kernels: OpenBLAS core \(blasCore) (single-threaded, split by the engine), statistics \(statisticsISA)\n"
            let names = order.filter { convolution[$0] != nil }
            if !names.isEmpty {
                out += "convolution: " + names.map { "\($0) \(convolution[$0]!)" }.joined(separator: ", ") + "\n"
            }
            return out
        }
    }

    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }

    public func table() -> String {
        var out = String(format: "iteration %.4f s  (forward %.4f s, backward %.4f s, update %.4f s)  median of %d, %d threads, probes %@\n",
                         iterationSeconds, forwardSeconds, backwardSeconds, updateSeconds, iterations, threads, probes ? "on" : "off")
        out += "peak RSS \(MemoryGuard.format(peakRSSBytes)), batch \(batchSize)\n"
        out += String(format: "per timed iteration: %.1f minor page faults, %.3f CPU s (system %.1f%% of it)\n",
                      minorFaultsPerIteration, cpuSecondsPerIteration, systemCPUFraction * 100)
        out += kernels.text(order: layers.map(\.name)) + "\n"
        let w = max(5, layers.map(\.name.count).max() ?? 5)
        out += "layer".padding(toLength: w, withPad: " ", startingAt: 0) + "   forward ms  backward ms\n"
        for l in layers {
            out += l.name.padding(toLength: w, withPad: " ", startingAt: 0)
                + String(format: "  %11.2f  %11.2f\n", l.forwardSeconds * 1000, l.backwardSeconds * 1000)
        }
        return out
    }
}

public enum Bench {
    /// Runs `warmup` untimed and `iterations` timed training iterations; medians per part and per
    /// layer (per-layer times come from a separate pass of timed iterations so timing the layers
    /// does not disturb the totals).
    public static func run(setup: RunSetup, iterations: Int, warmup: Int = 2, probes: Bool, threads: Int) throws -> BenchResult {
        var options = TrainingOptions()
        options.threads = threads
        options.testIterations = 0
        options.iterations = Int.max
        let trainer = try Trainer(setup: setup, options: options)
        for _ in 0..<warmup { _ = try trainer.timedIteration(probes: probes) }
        var fwd: [Double] = [], bwd: [Double] = [], upd: [Double] = [], tot: [Double] = []
        fwd.reserveCapacity(iterations); bwd.reserveCapacity(iterations)
        upd.reserveCapacity(iterations); tot.reserveCapacity(iterations)
        let before = ResourceUsage.now()
        for _ in 0..<iterations {
            let t = try trainer.timedIteration(probes: probes)
            fwd.append(t.forward); bwd.append(t.backward); upd.append(t.update); tot.append(t.forward + t.backward + t.update)
        }
        let used = ResourceUsage.now() - before
        let cpu = used.userSeconds + used.systemSeconds
        let net = trainer.trainNet
        net.timesLayers = true
        var perLayerF = [[Double]](repeating: [], count: net.layers.count)
        var perLayerB = perLayerF
        for _ in 0..<max(1, min(iterations, 3)) {
            _ = try trainer.timedIteration(probes: probes)
            for li in net.layers.indices {
                perLayerF[li].append(net.forwardSeconds[li])
                perLayerB[li].append(li < net.backwardSeconds.count ? net.backwardSeconds[li] : 0)
            }
        }
        net.timesLayers = false
        let layers = net.layerParams.indices.map {
            BenchResult.LayerTime(name: net.layerParams[$0].name, forwardSeconds: median(perLayerF[$0]),
                                  backwardSeconds: median(perLayerB[$0]))
        }
        return BenchResult(iterationSeconds: median(tot), forwardSeconds: median(fwd), backwardSeconds: median(bwd),
                           updateSeconds: median(upd), peakRSSBytes: peakResidentBytes(), layers: layers,
                           iterations: iterations, threads: threads, probes: probes,
                           batchSize: net.blobs.first?.shape.first ?? 0,
                           minorFaultsPerIteration: Double(used.minorFaults) / Double(iterations),
                           cpuSecondsPerIteration: cpu / Double(iterations),
                           systemCPUFraction: cpu > 0 ? used.systemSeconds / cpu : 0,
                           kernels: .of(net))
    }

    /// The probes' cost measured side by side in one process, in three modes: no recording,
    /// recording without histograms (`Probe.recordsHistograms` off) and recording with them.
    /// Each round runs one iteration of each mode, the order cycling through all six
    /// permutations (so a drift in machine speed hits every mode alike), `pairs` rounds after
    /// `warmup` of each. Medians per part for every mode, and each overhead as the median over
    /// rounds of (mode − off) relative to the median off iteration.
    public static func runAlternating(setup: RunSetup, pairs: Int, warmup: Int = 2, threads: Int) throws -> ProbeOverhead {
        var options = TrainingOptions()
        options.threads = threads
        options.testIterations = 0
        options.iterations = Int.max
        let trainer = try Trainer(setup: setup, options: options)
        func timed(_ mode: Int) throws -> (Double, Double, Double) {
            trainer.probe.recordsHistograms = mode == 2
            return try trainer.timedIteration(probes: mode > 0)
        }
        for k in 0..<(3 * warmup) { _ = try timed(k % 3) }
        let orders = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [1, 0, 2], [0, 2, 1]]
        var runs: [[(Double, Double, Double)]] = [[], [], []]
        for k in 0..<pairs {
            for mode in orders[k % orders.count] { runs[mode].append(try timed(mode)) }
        }
        trainer.probe.recordsHistograms = true
        func parts(_ v: [(Double, Double, Double)]) -> ProbeOverhead.Parts {
            ProbeOverhead.Parts(iterationSeconds: median(v.map { $0.0 + $0.1 + $0.2 }), forwardSeconds: median(v.map(\.0)),
                                backwardSeconds: median(v.map(\.1)), updateSeconds: median(v.map(\.2)))
        }
        func total(_ t: (Double, Double, Double)) -> Double { t.0 + t.1 + t.2 }
        let offParts = parts(runs[0])
        let withHistograms = zip(runs[2], runs[0]).map { total($0) - total($1) }
        let withoutHistograms = zip(runs[1], runs[0]).map { total($0) - total($1) }
        return ProbeOverhead(off: offParts, on: parts(runs[2]), onWithoutHistograms: parts(runs[1]),
                             overhead: median(withHistograms) / offParts.iterationSeconds,
                             overheadWithoutHistograms: median(withoutHistograms) / offParts.iterationSeconds,
                             pairs: pairs, threads: threads, peakRSSBytes: peakResidentBytes())
    }

    static func median(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return .nan }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// `initdiag bench --probes alternate`: recording on and off in one run (see `Bench.runAlternating`).
public struct ProbeOverhead: Codable, Sendable {
    public struct Parts: Codable, Sendable {
        public var iterationSeconds: Double
        public var forwardSeconds: Double
        public var backwardSeconds: Double
        public var updateSeconds: Double
        enum CodingKeys: String, CodingKey {
            case iterationSeconds = "iteration_s", forwardSeconds = "forward_s", backwardSeconds = "backward_s",
                 updateSeconds = "update_s"
        }
    }
    public var off: Parts
    /// Recording with histograms (what `train` does).
    public var on: Parts
    public var onWithoutHistograms: Parts
    /// Median over rounds of (on − off), over the median iteration without probes.
    public var overhead: Double
    /// The same for recording without histograms.
    public var overheadWithoutHistograms: Double
    public var pairs: Int
    public var threads: Int
    public var peakRSSBytes: Int
    /// What `train` and `sweep` pay per iteration on average with the default
    /// `--histogram-every` N: the overhead without histograms plus 1/N of what counting them adds.
    public var overheadAtDefaultHistogramEvery: Double {
        overheadWithoutHistograms + (overhead - overheadWithoutHistograms) / Double(TrainingOptions.defaultHistogramEvery)
    }
    enum CodingKeys: String, CodingKey {
        case off, on, overhead, pairs, threads, peakRSSBytes = "peak_rss_bytes"
        case onWithoutHistograms = "on_without_histograms", overheadWithoutHistograms = "overhead_without_histograms"
    }

    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }

    public func table() -> String {
        func row(_ name: String, _ p: Parts) -> String {
            String(format: "%@  iteration %.4f s  (forward %.4f s, backward %.4f s, update %.4f s)\n", name,
                   p.iterationSeconds, p.forwardSeconds, p.backwardSeconds, p.updateSeconds)
        }
        return row("probes off                    ", off) + row("probes on, without histograms", onWithoutHistograms)
            + row("probes on, with histograms   ", on)
            + String(format: "probe overhead %.2f%% with histograms, %.2f%% without (medians of %d rounds of the three modes, %d threads)\n",
                     overhead * 100, overheadWithoutHistograms * 100, pairs, threads)
            + String(format: "with histograms every %d iterations (the default --histogram-every): %.2f%% per iteration on average\n",
                     TrainingOptions.defaultHistogramEvery, overheadAtDefaultHistogramEvery * 100)
    }
}
