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
        layer { name: "ip3" type: "InnerProduct" bottom: "r" top: "ip3"
                inner_product_param { num_output: 19 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }
        layer { name: "relu3" type: "ReLU" bottom: "ip3" top: "ip3" }
        """
        let net = try ConformanceSupport.buildNet(try Prototxt.parseNet(text, path: "hist.prototxt"), phase: .TEST)
        let layout = Probe.layout(for: net) { _ in TraceLayerLayout.Attributes() }
        #expect(layout.histograms.map { layout.layers[$0.layer].name } == ["data", "ip1", "sig", "ip2", "tanh", "relu", "ip3", "relu3"])
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
            // The in-place ReLU: ip3's bins (from its pre-activation), counted once in the fused
            // pass; its row is ip3's with every column below 0's moved into 0's.
            let ip3Index = try #require(layout.layerIndex(named: "ip3")), relu3Index = try #require(layout.layerIndex(named: "relu3"))
            let ip3 = try #require(layout.slots[ip3Index].forwardHistogram)
            let relu3 = try #require(layout.slots[relu3Index].forwardHistogram)
            let bins3 = try #require(probe.histogramBins[ip3])
            #expect(probe.histogramBins[relu3] == bins3)
            let y = try #require(net.blob(named: "ip3")).dataArray
            let row3 = Array(probe.histogramCounts[(relu3 * 66)..<((relu3 + 1) * 66)])
            let pre = Array(probe.histogramCounts[(ip3 * 66)..<((ip3 + 1) * 66)])
            #expect(row3 == referenceCounts(y, bins3), "relu3 threads \(threads)")
            let z = try #require(bins3.slot(0))
            #expect(Array(row3[(z + 1)...]) == Array(pre[(z + 1)...]) && row3[z] == pre[...z].reduce(0, +)
                    && pre[..<z].reduce(0, +) > 0 && row3[..<z].allSatisfy { $0 == 0 })
            let all = Array(probe.histogramCounts)
            if let first { #expect(all == first, "threads \(threads)") }
            first = all
        }
    }

    /// `--histogram-every 3` over 8 iterations: rows counted at iterations 0, 3, 6 and 7 (the
    /// last), the others all −1 with NaN quantiles; the counted rows equal those of a run that
    /// counts every step (same seed, same thread count); the cadence is in the run identity.
    @Test func histogramCadence() throws {
        let dir = try TraceTestSupport.scratchFolder("hist-cadence")
        var readers: [TraceReader] = []
        for every in [1, 3] {
            var options = TrainingOptions()
            options.tracePath = dir.appendingPathComponent("e\(every).h5").path
            options.iterations = 8
            options.testIterations = 0
            options.threads = 1
            options.histogramEvery = every
            let result = try Trainer(setup: try setup(), options: options).run()
            let counted = result.record.layers.compactMap { $0.histograms["forward/histogram"] }.first?.countedSteps
            #expect(counted == (every == 1 ? Array(0..<8) : [0, 3, 6, 7]), "in-memory record, every \(every)")
            readers.append(try TraceReader(path: options.tracePath!))
        }
        let (all, some) = (readers[0], readers[1])
        #expect(some.attributes["run_identity"]?.stringValue?.contains("\"histogram_every\":\"3\"") == true)
        var checked = 0
        for info in some.layers {
            for name in info.histogramNames {
                let a = try #require(try all.histogram(layer: info.name, name))
                let b = try #require(try some.histogram(layer: info.name, name))
                #expect(b.countedSteps == [0, 3, 6, 7], "\(info.name)/\(name)")
                let phase = String(name.prefix { $0 != "/" })
                let qa = try all.series(layer: info.name, phase + "/q50"), qb = try some.series(layer: info.name, phase + "/q50")
                for k in 0..<8 {
                    if b.isCounted(k) {
                        #expect(b.row(k) == a.row(k) && qb[k] == qa[k], "\(info.name)/\(name) step \(k)")
                    } else {
                        #expect(b.row(k).allSatisfy { $0 == TraceHistogramBins.notCounted } && qb[k].isNaN, "\(info.name)/\(name) step \(k)")
                    }
                }
                checked += 1
            }
        }
        #expect(checked >= 10)
        // The other statistics do not depend on the cadence.
        #expect(try all.series(layer: "conv1", "forward/std") == some.series(layer: "conv1", "forward/std"))
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
            options.histogramEvery = 1
            _ = try Trainer(setup: try setup(), options: options).run()
            readers.append(try TraceReader(path: options.tracePath!))
        }
        let r = readers[0]
        let trainer = try Trainer(setup: try setup(), options: TrainingOptions())
        var checked = 0, sharing = 0
        for info in r.layers {
            for name in info.histogramNames {
                let h = try #require(try r.histogram(layer: info.name, name))
                let h2 = try #require(try readers[1].histogram(layer: info.name, name))
                #expect(h == h2, "\(info.name)/\(name): 1 vs 2 threads")
                #expect(h.steps == r.stepCount)
                let bins = try #require(h.bins)
                let phase = String(name.prefix { $0 != "/" })
                let mn = try r.series(layer: info.name, phase + "/min"), mx = try r.series(layer: info.name, phase + "/max")
                // An in-place ReLU bins like the histogram recorded just before it on its blob
                // (docs/trace-format.md "Histograms"): the producer's forward, the upper layer's backward.
                let li = info.index, net = trainer.trainNet
                if net.layers[li] is ReLULayer, net.topVecs[li].first === net.bottomVecs[li].first,
                   phase == "forward" ? li > 0 && net.topVecs[li - 1].first === net.topVecs[li].first
                                      : li + 1 < net.layers.count && net.bottomVecs[li + 1].first === net.bottomVecs[li].first {
                    let other = net.layerParams[phase == "forward" ? li - 1 : li + 1].name
                    let shared = try #require(try r.histogram(layer: other, name)?.bins)
                    #expect(bins == shared, "\(info.name)/\(name) shares \(other)'s bins")
                    sharing += 1
                } else {
                    #expect(bins == .symmetric(maxAbs: max(abs(mn[0]), abs(mx[0]))), "\(info.name)/\(name)")
                }
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
        #expect(checked >= 10 && sharing >= 2, "\(checked) histograms, \(sharing) sharing bins")
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
