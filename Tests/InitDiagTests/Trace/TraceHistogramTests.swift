import CStatistics
import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis

// The histograms of the trace (docs/trace-format.md "Histograms") end to end: what the probes
// record for real blobs against counts made from the blobs themselves, the bins chosen at the
// first recorded step, 1 and 2 threads and the fused/unfused ReLU paths identical, and the 2-D
// datasets with their bin_edges as h5dump (and so h5py) reads them.

/// Slot by comparison with the Double edges (independent of TraceHistogramBins.slot).
private func referenceCounts(_ x: [Float], _ bins: TraceHistogramBins) -> [Int64] {
    let e = bins.edges
    var c = [Int64](repeating: 0, count: 66)
    for v in x where v.isFinite {
        let d = Double(v)
        if d < e[0] { c[0] += 1 } else if d > e[64] { c[65] += 1 } else {
            var k = 63
            while k > 0 && d < e[k] { k -= 1 }
            c[k + 1] += 1
        }
    }
    return c
}

@Suite(.serialized) struct TraceHistogramTests {
    @Test func probeHistogramsOfRealBlobs() throws {
        let text = """
        name: "hist"
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 6 dim: 40 } } }
        layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
                inner_product_param { num_output: 33 weight_filler { type: "gaussian" std: 1 } } }
        layer { name: "sig" type: "Sigmoid" bottom: "ip1" top: "s" }
        layer { name: "ip2" type: "InnerProduct" bottom: "s" top: "ip2"
                inner_product_param { num_output: 21 weight_filler { type: "gaussian" std: 1 } } }
        layer { name: "tanh" type: "TanH" bottom: "ip2" top: "ip2" }
        layer { name: "relu" type: "ReLU" bottom: "ip2" top: "r" }
        """
        let net = try ConformanceSupport.buildNet(try Prototxt.parseNet(text, path: "hist.prototxt"), phase: .TEST)
        let layout = Probe.layout(for: net) { _ in TraceLayerLayout.Attributes() }
        #expect(layout.histograms.map { layout.layers[$0.layer].name } == ["data", "ip1", "sig", "ip2", "tanh", "relu"])
        var g = MT19937(seed: 5)
        net.blobs[net.inputBlobIDs[0]].setData((0..<240).map { _ in Float(g.next()) / Float(UInt32.max) * 4 - 2 })
        var first: [Int64]? = nil
        for threads in [1, 2] {
            let probe = Probe(net: net, layout: layout, threads: threads)
            net.observer = probe
            probe.beginStep(recording: true)
            _ = try net.forward()
            net.observer = nil
            for (name, blob, range) in [("ip1", "ip1", nil), ("sig", "s", (0.0, 1.0)), ("tanh", "ip2", (-1.0, 1.0)),
                                        ("relu", "r", nil)] as [(String, String, (Double, Double)?)] {
                let li = try #require(layout.layerIndex(named: name))
                let h = try #require(layout.slots[li].forwardHistogram)
                let x = try #require(net.blob(named: blob)).dataArray
                let bins = try #require(probe.histogramBins[h])
                if let range { #expect(bins == TraceHistogramBins(lo: range.0, hi: range.1)!, "\(name)") }
                else { #expect(bins == .symmetric(maxAbs: x.map { Double(abs($0)) }.max()!), "\(name)") }
                let counts = Array(probe.histogramCounts[(h * 66)..<((h + 1) * 66)])
                #expect(counts == referenceCounts(x, bins), "\(name) threads \(threads)")
                // Quantiles: ordered, within [min, max], each within one bin of the order statistic.
                let q = try #require(layout.slots[li].forwardQuantiles)
                let qs = (0..<5).map { probe.values[q + $0] }
                let sorted = x.map(Double.init).sorted()
                #expect(qs == qs.sorted() && qs.first! >= sorted.first! && qs.last! <= sorted.last!, "\(name) \(qs)")
                for (p, v) in zip(TraceHistogramBins.quantileProbabilities, qs) {
                    let exact = sorted[Int((p * Double(sorted.count)).rounded(.up)) - 1]
                    #expect(abs(v - exact) <= bins.width, "\(name) p \(p): \(v) vs \(exact)")
                }
            }
            let all = Array(probe.histogramCounts)
            if let first { #expect(all == first, "threads \(threads)") }
            first = all
        }
    }

    func setup(_ solver: String = "nets/tiny_cifar.solver.prototxt") throws -> RunSetup {
        try RunSetup.load(solverPath: fixture(solver), netPath: nil, data: "synthetic",
                          scheme: try Scheme(parsing: "w=caffe-msra,b=zero"), seed: 3, batchSize: nil)
    }

    /// A trained trace: histograms identical for 1 and 2 threads, rows that count every finite
    /// value of the blob, bins from the first step's min and max, and h5dump reading the 2-D
    /// dataset with its bin_edges.
    @Test func trainerTraceHistograms() throws {
        let dir = try TraceTestSupport.scratchFolder("hist")
        var readers: [TraceReader] = []
        for threads in [1, 2] {
            var options = TrainingOptions()
            options.tracePath = dir.appendingPathComponent("t\(threads).h5").path
            options.iterations = 5
            options.testIterations = 0
            options.threads = threads
            _ = try Trainer(setup: try setup(), options: options).run()
            readers.append(try TraceReader(path: options.tracePath!))
        }
        let r = readers[0]
        let trainer = try Trainer(setup: try setup(), options: TrainingOptions())
        var checked = 0
        for info in r.layers {
            for name in info.histogramNames {
                let h = try #require(try r.histogram(layer: info.name, name))
                let h2 = try #require(try readers[1].histogram(layer: info.name, name))
                #expect(h == h2, "\(info.name)/\(name): 1 vs 2 threads")
                #expect(h.steps == r.stepCount)
                let bins = try #require(h.bins)
                let phase = String(name.prefix { $0 != "/" })
                let mn = try r.series(layer: info.name, phase + "/min"), mx = try r.series(layer: info.name, phase + "/max")
                #expect(bins == .symmetric(maxAbs: max(abs(mn[0]), abs(mx[0]))), "\(info.name)/\(name)")
                let blob = phase == "forward" ? trainer.trainNet.topVecs[info.index].first! : trainer.trainNet.bottomVecs[info.index].first!
                let nonfinite = try r.series(layer: info.name, phase + "/nonfinite_count")
                for k in 0..<h.steps {
                    #expect(h.row(k).reduce(0, +) + Int64(nonfinite[k]) == Int64(blob.count), "\(info.name)/\(name) step \(k)")
                    // At the first step nothing lies outside the range chosen from it.
                    if k == 0 { #expect(h.row(0).first == 0 && h.row(0).last == 0) }
                }
                let q50 = try r.series(layer: info.name, phase + "/q50")
                #expect(zip(q50, zip(mn, mx)).allSatisfy { q, m in q >= m.0 && q <= m.1 })
                checked += 1
            }
        }
        #expect(checked >= 10)
        let conv = try #require(r.layer(named: "conv1"))
        #expect(conv.histogramNames == ["backward/histogram", "forward/histogram"] || conv.histogramNames == ["forward/histogram"])
        #expect(!conv.seriesNames.contains("forward/histogram") && conv.seriesNames.contains("forward/q99"))
        // h5dump: int64, steps × 66, extendible along the steps, with bin_edges.
        let path = dir.appendingPathComponent("t1.h5").path
        let header = try TraceTestSupport.h5dump(["-H", "-d", "/layers/conv1/forward/histogram", path])
        #expect(header.output.contains("( 5, 66 ) / ( H5S_UNLIMITED, 66 )"), "\(header.output)")
        #expect(header.output.contains("H5T_STD_I64LE") && header.output.contains("bin_edges") && header.output.contains("description"))
        let edges = try TraceTestSupport.h5dump(["-a", "/layers/conv1/forward/histogram/bin_edges", path])
        #expect(TraceTestSupport.dumpedNumbers(edges.output).suffix(65) == ArraySlice(try #require(try r.histogram(layer: "conv1", "forward/histogram")?.bins).edges))
    }
}
