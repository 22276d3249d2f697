import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine

/// `w=orthogonal` (OrthogonalInit's Householder QR) and `w=lsuv` (LSUV, Mishkin & Matas 2016).
@Suite(.serialized) struct LSUVTests {
    /// W·Wᵀ = I (out ≤ in) or Wᵀ·W = I (out > in), in Double over the Float weights.
    func orthogonalityError(_ w: [Float], rows: Int, cols: Int) -> Double {
        let n = min(rows, cols)
        var worst = 0.0
        for a in 0..<n {
            for b in 0..<n {
                var dot = 0.0
                if rows <= cols {
                    for j in 0..<cols { dot += Double(w[a * cols + j]) * Double(w[b * cols + j]) }
                } else {
                    for i in 0..<rows { dot += Double(w[i * cols + a]) * Double(w[i * cols + b]) }
                }
                worst = max(worst, abs(dot - (a == b ? 1 : 0)))
            }
        }
        return worst
    }

    @Test func orthonormalRowsOrColumns() {
        var g = MT19937(seed: 4)
        for (rows, cols) in [(3, 7), (7, 3), (5, 5), (64, 27), (1, 9), (9, 1)] {
            let gauss = (0..<(rows * cols)).map { _ in Float(g.next()) / Float(UInt32.max) * 2 - 1 }
            let q = gauss.withUnsafeBufferPointer { OrthogonalInit.orthonormal(rows: rows, cols: cols, gaussian: $0) }
            let err = orthogonalityError(q.map(Float.init), rows: rows, cols: cols)
            #expect(err < 1e-6, "\(rows)×\(cols): \(err)")
        }
        #expect(OrthogonalInit.secondMoment([4, 3, 3, 3]) == 1.0 / 27)
        #expect(OrthogonalInit.secondMoment([100, 20]) == 1.0 / 100)
    }

    @Test func schemeFillsConvolutionAndTransposedInnerProduct() throws {
        let text = """
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 5 kernel_size: 3 } }
        layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip" inner_product_param { num_output: 200 transpose: true } }
        """
        let param = try Prototxt.parseNet(text, path: "orth.prototxt")
        func build(_ seed: UInt32) throws -> Net {
            let initializer = ParameterInitializer(scheme: try Scheme(parsing: "w=orthogonal,b=zero"))
            return try Net(param, state: NetState(phase: .TRAIN), context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: seed)),
                           initializer: initializer.initialize)
        }
        let net = try build(3)
        let conv = net.layers[1].blobs[0], ip = net.layers[2].blobs[0]
        #expect(orthogonalityError(conv.dataArray, rows: 5, cols: 27) < 1e-6)
        // Stored (in, out) = (80, 200): the fan view (200, 80) has orthonormal columns.
        #expect(ip.shape == [80, 200])
        let stored = ip.dataArray
        var view = [Float](repeating: 0, count: stored.count)
        for i in 0..<80 { for o in 0..<200 { view[o * 80 + i] = stored[i * 200 + o] } }
        #expect(orthogonalityError(view, rows: 200, cols: 80) < 1e-6)
        #expect(net.layers[1].blobs[1].dataArray.allSatisfy { $0 == 0 })
        // Deterministic for a seed, different for another.
        #expect(try build(3).layers[1].blobs[0].dataArray == conv.dataArray)
        #expect(try build(4).layers[1].blobs[0].dataArray != conv.dataArray)
        // The label names the scheme.
        let initializer = ParameterInitializer(scheme: try Scheme(parsing: "w=lsuv,b=zero"))
        #expect(initializer.labels(for: net.layers[1])[0].hasPrefix("lsuv QR of N(0, 1)"))
        #expect(throws: InputError.self) { try Scheme(parsing: "w=orthogonl") }
    }

    /// After w=lsuv every Convolution / InnerProduct output variance on the first batch is within
    /// 0.02 of 1 — asserted from the trace the run wrote (its step 0 is that batch), not from
    /// LSUV's own bookkeeping — and the snapshot it wrote, loaded with --weights into the net with
    /// its declared fillers, reproduces the same first loss exactly.
    @Test func lsuvUnitVarianceAndSnapshotReproducesTheFirstLoss() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func run(_ scheme: String, weights: String?, trace: String) throws -> (Trainer, TrainingResult) {
            let setup = try RunSetup.load(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: nil, data: "synthetic",
                                          scheme: try Scheme(parsing: scheme), seed: 5, batchSize: nil)
            var options = TrainingOptions()
            options.tracePath = dir + "/" + trace
            options.iterations = 2
            options.testIterations = 0
            options.threads = 1
            options.weightsPath = weights
            let t = try Trainer(setup: setup, options: options)
            return (t, try t.run())
        }
        let (t, result) = try run("w=lsuv,b=zero", weights: nil, trace: "lsuv.h5")
        let lsuv = try #require(t.lsuvResult)
        #expect(lsuv.layers.map(\.layer) == ["conv1", "conv2", "fc1"])
        for l in lsuv.layers { #expect(abs(l.variance - 1) < LSUV.tolerance && l.rescalings >= 1, "\(l)") }
        let r = try TraceReader(path: dir + "/lsuv.h5")
        for name in ["conv1", "conv2", "fc1"] {
            let std = try r.series(layer: name, "forward/std")[0]
            #expect(abs(std * std - 1) < LSUV.tolerance, "\(name): Var \(std * std)")
        }
        // The mean-field prediction is that of LSUV's weights, not of the declared filler: conv1
        // sees the data directly, so its predicted E[z²] is its measured one up to the weights'
        // sampling (a tenth here), where the declared filler's would be far off.
        let conv1 = try #require(r.layer(named: "conv1"))
        let predicted = try #require(conv1.attributes["predicted_q"]?.doubleValue)
        let s0 = try r.series(layer: "conv1", "forward/std")[0], m0 = try r.series(layer: "conv1", "forward/mean")[0]
        #expect(abs(predicted / (s0 * s0 + m0 * m0) - 1) < 0.2, "predicted \(predicted), measured \(s0 * s0 + m0 * m0)")
        let snapshot = dir + "/lsuv.caffemodel.h5"
        #expect(FileManager.default.fileExists(atPath: snapshot))
        let (_, again) = try run("w=as-declared,b=as-declared", weights: snapshot, trace: "again.h5")
        let first = try #require(result.record.loss.first), firstAgain = try #require(again.record.loss.first)
        #expect(first == firstAgain, "\(first) vs \(firstAgain)")
        #expect(Double(lsuv.loss) == first)
        // Without LSUV (orthogonal only) the variances are not all at 1.
        let (_, plain) = try run("w=orthogonal,b=zero", weights: nil, trace: "orth.h5")
        let rp = try TraceReader(path: dir + "/orth.h5")
        let vars = try ["conv1", "conv2", "fc1"].map { try rp.series(layer: $0, "forward/std")[0] }.map { $0 * $0 }
        #expect(vars.contains { abs($0 - 1) > 0.1 }, "\(vars)")
        #expect(plain.record.loss.first != first)
        // The orthogonal pre-init alone predicts its own E[z²] for conv1 (its filler's), which
        // LSUV's rescaling moved: the two predictions differ as the measured moments do.
        let orthPredicted = try #require(rp.layer(named: "conv1")?.attributes["predicted_q"]?.doubleValue)
        let orthMeasured = vars[0] + pow(try rp.series(layer: "conv1", "forward/mean")[0], 2)
        #expect(abs(orthPredicted / orthMeasured - 1) < 0.2 && abs(orthPredicted / predicted - 1) > 0.2,
                "orthogonal: predicted \(orthPredicted), measured \(orthMeasured); LSUV predicted \(predicted)")
    }
}
