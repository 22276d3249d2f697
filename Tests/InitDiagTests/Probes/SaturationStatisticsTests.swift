import CStatistics
import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine

// forward/saturated_fraction: the share of a sigmoid or tanh top's units whose local derivative is
// below 1% of its maximum, counted in the batch kernel's pass (BlobStatistics.computeForward
// with a band) — against a two-pass reference that evaluates the derivative itself in Double.

/// The reference: over the finite values, the share whose derivative from the output, y(1 − y)
/// for sigmoid (max 1/4) and 1 − y² for tanh (max 1), is below 1% of its maximum. Independent of
/// the band the library rewrites this into.
private func referenceSaturation(_ x: [Float], _ f: MeanFieldNonlinearity) -> Double {
    var n = 0, finite = 0
    for v in x where v.isFinite {
        finite += 1
        let y = Double(v)
        let below: Bool
        switch f {
        case .sigmoid: below = y * (1 - y) < 0.01 * 0.25
        case .tanh: below = 1 - y * y < 0.01
        default: fatalError()
        }
        if below { n += 1 }
    }
    return finite > 0 ? Double(n) / Double(finite) : .nan
}

/// Outputs spread over the whole range of the nonlinearity and beyond its saturation band:
/// sigmoid y in (−0.02, 1.02), tanh y in (−1.02, 1.02), some exact 0 and ±1.
private func outputs(_ count: Int, _ f: MeanFieldNonlinearity, seed: UInt32) -> [Float] {
    var g = MT19937(seed: seed)
    return (0..<count).map { _ in
        let u = Float(g.next()) / Float(UInt32.max)
        let r = g.next() % 23
        switch f {
        case .sigmoid: return r == 0 ? 0 : (r == 1 ? 1 : u * 1.04 - 0.02)
        default: return r == 0 ? 1 : (r == 1 ? -1 : u * 2.04 - 1.02)
        }
    }
}

@Suite struct SaturationStatisticsTests {
    static let shapes: [[Int]] = [[7], [1, 13], [3, 5, 7], [5, 3, 1, 1], [129, 37], [300, 1000], [2, 200_003]]

    func band(_ f: MeanFieldNonlinearity) -> (center: Double, halfWidth: Double) { f.saturationBand! }

    @Test func bandsAreTheOnePercentDerivative() {
        let s = MeanFieldNonlinearity.sigmoid.saturationBand!, t = MeanFieldNonlinearity.tanh.saturationBand!
        // At the band's edge the derivative is exactly 1% of its maximum.
        let ys = s.center + s.halfWidth
        #expect(abs(ys * (1 - ys) - 0.0025) < 1e-15)
        #expect(abs(1 - t.halfWidth * t.halfWidth - 0.01) < 1e-15)
        #expect(MeanFieldNonlinearity.relu(slope: 0).saturationBand == nil)
        #expect(MeanFieldRule.pointwise(.tanh).saturationBand != nil && MeanFieldRule.linear.saturationBand == nil)
    }

    /// The count against the reference for both kernel copies and 1 and 2 threads: exactly (it is
    /// an integer count of Float comparisons, the same in every copy and chunking). The other
    /// statistics of the band pass agree with the plain pass to the kernels' error bound (checked
    /// within 1e-6 rather than bit for bit: other suites switch the kernel copy, a process-wide
    /// setting, while this one runs, and the copies differ in the last bits).
    @Test(arguments: [MeanFieldNonlinearity.sigmoid, .tanh])
    func matchesTwoPassReferenceAcrossShapesThreadsAndKernels(f: MeanFieldNonlinearity) {
        let isa = idg_isa()
        defer { _ = idg_set_isa(isa) }
        func close(_ a: [Double], _ b: [Double]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { x, y in
                (x.isNaN && y.isNaN) || abs(x - y) <= 1e-6 * max(1, abs(y))
            }
        }
        for (k, shape) in Self.shapes.enumerated() {
            let x = outputs(shape.reduce(1, *), f, seed: UInt32(10 + k))
            let expected = referenceSaturation(x, f)
            if x.count >= 100 { #expect(expected > 0.02 && expected < 0.98, "\(shape): the data must hold both kinds") }
            for copy: Int32 in [0, 2] {
                _ = idg_set_isa(copy)
                for threads in [1, 2] {
                    let st = BlobStatistics(threads: threads)
                    let s = x.withUnsafeBufferPointer { st.computeForward($0, shape: shape, band: band(f)) }
                    #expect(s.saturatedFraction == expected, "\(f) \(shape) isa \(copy) threads \(threads): \(s.saturatedFraction) vs \(expected)")
                    let plain = x.withUnsafeBufferPointer { st.computeForward($0, shape: shape) }
                    #expect(close(s.forwardValues, plain.forwardValues), "\(f) \(shape): \(s.forwardValues) vs \(plain.forwardValues)")
                    #expect(plain.saturatedFraction.isNaN)
                }
            }
        }
    }

    @Test(arguments: [MeanFieldNonlinearity.sigmoid, .tanh])
    func nonFiniteValuesAreSkipped(f: MeanFieldNonlinearity) {
        for shape in [[3, 5, 7], [64, 333], [2, 200_003]] {
            var x = outputs(shape.reduce(1, *), f, seed: 3)
            for (i, v) in [(0, Float.nan), (x.count / 2, .infinity), (x.count - 1, -.infinity), (17, .nan)] { x[i] = v }
            let expected = referenceSaturation(x, f)
            for threads in [1, 2] {
                let s = x.withUnsafeBufferPointer { BlobStatistics(threads: threads).computeForward($0, shape: shape, band: band(f)) }
                #expect(s.nonfiniteCount == 4)
                #expect(s.saturatedFraction == expected, "\(f) \(shape): \(s.saturatedFraction) vs \(expected)")
            }
        }
        // No finite value at all: NaN.
        let s = [Float](repeating: .nan, count: 12).withUnsafeBufferPointer {
            BlobStatistics(threads: 1).computeForward($0, shape: [3, 4], band: band(f))
        }
        #expect(s.saturatedFraction.isNaN)
    }

    @Test func allEqualBlobsAndFlatFallback() {
        let cases: [(MeanFieldNonlinearity, Float, Double)] = [
            (.sigmoid, 0.5, 0), (.sigmoid, 0.999, 1), (.sigmoid, 0.001, 1), (.sigmoid, 0.99, 0),
            (.tanh, 0, 0), (.tanh, 1, 1), (.tanh, -0.9999, 1), (.tanh, 0.99, 0),
        ]
        for (f, v, expected) in cases {
            for shape in [[9, 11], [1, 1], [129, 2049]] {
                let x = [Float](repeating: v, count: shape.reduce(1, *))
                #expect(referenceSaturation(x, f) == expected)
                let s = x.withUnsafeBufferPointer { BlobStatistics(threads: 2).computeForward($0, shape: shape, band: band(f)) }
                #expect(s.saturatedFraction == expected, "\(f) \(v) \(shape)")
                #expect(s.std == 0 && s.betweenSampleStd == 0)
            }
            // A shape that does not match the count: flat statistics and the scalar count.
            let x = [Float](repeating: v, count: 10)
            let s = x.withUnsafeBufferPointer { BlobStatistics(threads: 1).computeForward($0, shape: [3, 3], band: band(f)) }
            #expect(s.saturatedFraction == expected)
        }
    }

    /// Through the probe and the trace: sigmoid and tanh tops get forward/saturated_fraction (from
    /// their declared mean-field rule), other layers do not, and the recorded value is the
    /// reference's on the blob the layer produced.
    @Test func probeRecordsSaturationOfBoundedTops() throws {
        let text = """
        name: "sat"
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 6 dim: 40 } } }
        layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
                inner_product_param { num_output: 33 weight_filler { type: "gaussian" std: 1 } } }
        layer { name: "sig" type: "Sigmoid" bottom: "ip1" top: "s" }
        layer { name: "ip2" type: "InnerProduct" bottom: "s" top: "ip2"
                inner_product_param { num_output: 21 weight_filler { type: "gaussian" std: 1 } } }
        layer { name: "tanh" type: "TanH" bottom: "ip2" top: "ip2" }
        layer { name: "relu" type: "ReLU" bottom: "ip2" top: "r" }
        """
        let net = try ConformanceSupport.buildNet(try Prototxt.parseNet(text, path: "sat.prototxt"), phase: .TEST)
        let layout = Probe.layout(for: net) { _ in TraceLayerLayout.Attributes() }
        let names = Set(layout.seriesNames.enumerated().filter { $0.element == "forward/saturated_fraction" }
            .map { layout.layers[layout.seriesLayer[$0.offset]].name })
        #expect(names == ["sig", "tanh"])
        var g = MT19937(seed: 9)
        net.blobs[net.inputBlobIDs[0]].setData((0..<240).map { _ in Float(g.next()) / Float(UInt32.max) * 4 - 2 })
        var expected: [String: Double] = [:]
        for threads in [1, 2] {
            let probe = Probe(net: net, layout: layout, threads: threads)
            net.observer = probe
            probe.beginStep(recording: true)
            _ = try net.forward()
            net.observer = nil
            for (name, f) in [("sig", MeanFieldNonlinearity.sigmoid), ("tanh", .tanh)] {
                let li = try #require(layout.layerIndex(named: name))
                let slot = try #require(layout.slots[li].saturation)
                let top = try #require(net.blob(named: name == "sig" ? "s" : "ip2"))
                // The tanh works in place and the ReLU writes a new top: ip2 still holds tanh's output.
                let reference = referenceSaturation(top.dataArray, f)
                #expect(probe.values[slot] == reference, "\(name) threads \(threads)")
                #expect(reference > 0 && reference < 1, "\(name): \(reference)")
                if let e = expected[name] { #expect(probe.values[slot] == e) }
                expected[name] = probe.values[slot]
            }
        }
    }

    /// In a trace written by the trainer: the tiny CIFAR net with its ReLUs replaced by a Sigmoid
    /// and a TanH records forward/saturated_fraction for those two layers only, one value in
    /// [0, 1] per recorded step, read back by TraceReader; the same values for 1 and 2 threads.
    @Test func trainerWritesTheSeriesToTheTrace() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = try String(contentsOfFile: fixture("nets/tiny_cifar.prototxt"), encoding: .utf8)
        text = text.replacingOccurrences(of: "name: \"relu1\"  type: \"ReLU\"", with: "name: \"relu1\"  type: \"Sigmoid\"")
            .replacingOccurrences(of: "name: \"relu2\"  type: \"ReLU\"", with: "name: \"relu2\"  type: \"TanH\"")
        #expect(text.contains("\"Sigmoid\"") && text.contains("\"TanH\""))
        try text.write(toFile: dir + "/net.prototxt", atomically: true, encoding: .utf8)
        var series: [[Double]] = []
        for threads in [1, 2] {
            let setup = try RunSetup.load(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: dir + "/net.prototxt",
                                          data: "synthetic", scheme: Scheme(), seed: 3, batchSize: nil)
            var options = TrainingOptions()
            options.tracePath = dir + "/t\(threads).h5"
            options.iterations = 3
            options.testIterations = 0
            options.threads = threads
            _ = try Trainer(setup: setup, options: options).run()
            let r = try TraceReader(path: dir + "/t\(threads).h5")
            for name in ["relu1", "relu2"] {
                #expect(r.hasSeries(layer: name, "forward/saturated_fraction"), "\(name)")
                let v = try r.series(layer: name, "forward/saturated_fraction")
                #expect(v.count == 3 && v.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(name): \(v)")
                series.append(v)
            }
            for name in ["conv1", "pool1", "fc1"] { #expect(!r.hasSeries(layer: name, "forward/saturated_fraction"), "\(name)") }
        }
        #expect(series[0] == series[2] && series[1] == series[3])
    }
}
