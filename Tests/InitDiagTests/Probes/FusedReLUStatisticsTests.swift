import CStatistics
import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

// The probes record a convolution's output and the in-place ReLU after it from one read of the
// blob, inside the ReLU's pass (BlobStatistics.computeReLUForward/Backward, Probe). These tests
// hold that path to the plain one: the ReLU writes bit for bit what ReLULayer writes, and every
// statistic matches a two-pass Double reference of x and of max(x, 0) (dy and dx) — for both
// kernel copies (baseline and AVX2), odd shapes, non-finite and huge values.

/// Caffe's ReLU arithmetic written out in Swift (relu_layer.cpp: std::max(v, 0) + slope·std::min(v, 0);
/// backward dy·((v > 0) + slope·(v <= 0))), independent of the kernels under test.
private func scalarReLU(_ x: [Float], slope: Float = 0) -> [Float] {
    x.map { v in (v < 0 ? 0 : v) + slope * (0 < v ? 0 : v) }
}

private func scalarReLUBackward(dy: [Float], x: [Float], slope: Float = 0) -> [Float] {
    zip(dy, x).map { g, v in g * ((v > 0 ? 1 : 0) + slope * (v <= 0 ? 1 : 0)) }
}

private func layerReLU(_ x: [Float], shape: [Int]) -> [Float] { scalarReLU(x) }

private func layerReLUBackward(dy: [Float], y: [Float]) -> [Float] { scalarReLUBackward(dy: dy, x: y) }

private func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

private func values(_ count: Int, seed: UInt32, offset: Float) -> [Float] {
    var g = MT19937(seed: seed)
    return (0..<count).map { _ in
        let u = Float(g.next()) / Float(UInt32.max) * 2 - 1
        let r = g.next() % 17
        return r == 0 ? 0 : (r == 1 ? -0.0 : u + offset)
    }
}

/// The two-pass Double reference of BlobStatisticsTests.
private func reference(_ x: [Float], shape: [Int]?) -> BlobStats { ReferenceStats(x, shape: shape).asStats }

/// Within the error bound of BlobStatistics (4e-6 flat, 5e-5 for the batch variances).
private func expectClose(_ s: BlobStats, _ r: BlobStats, forward: Bool, _ what: String) {
    func ok(_ a: Double, _ b: Double, _ tol: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        return abs(a - b) <= tol * max(1, abs(b))
    }
    #expect(ok(s.mean, r.mean, 4e-6) && ok(s.std, r.std, 4e-6) && ok(s.meanAbs, r.meanAbs, 4e-6) && ok(s.l2, r.l2, 4e-6),
            "\(what): mean/std/mean_abs/l2 \(s.values) vs \(r.values)")
    #expect(ok(s.min, r.min, 0) && ok(s.max, r.max, 0) && ok(s.zeroFraction, r.zeroFraction, 0),
            "\(what): min/max/zero_fraction \(s.values) vs \(r.values)")
    #expect(s.nonfiniteCount == r.nonfiniteCount, "\(what): nonfinite \(s.nonfiniteCount) vs \(r.nonfiniteCount)")
    if forward {
        #expect(ok(s.betweenSampleStd, r.betweenSampleStd, 2.2e-5) && ok(s.inputDependence, r.inputDependence, 5e-5)
                && ok(s.deadFraction, r.deadFraction, 0), "\(what): batch \(s.forwardValues) vs \(r.forwardValues)")
    }
}

/// Runs `body` once with each kernel copy this CPU has (baseline, and AVX2 when present).
private func withEachKernel(_ body: (String) -> Void) {
    let best = idg_set_isa(2)
    defer { idg_set_isa(best) }
    for isa in Set([0, best]).sorted() {
        idg_set_isa(Int32(isa))
        body("isa \(isa)")
    }
}

@Suite(.serialized) struct FusedReLUStatisticsTests {
    static let shapes: [[Int]] = [[1, 5], [3, 7], [8, 16, 5, 5], [130, 3, 5, 7], [67, 2053], [200, 1000], [5, 70_001]]

    @Test(arguments: shapes)
    func forwardMatchesLayerAndReference(shape: [Int]) {
        let count = shape.reduce(1, *)
        let x = values(count, seed: UInt32(count % 9973), offset: -0.2)
        let y = layerReLU(x, shape: shape)
        withEachKernel { isa in
            let statistics = BlobStatistics(threads: 2)
            // In place, as after a convolution.
            var buffer = x
            let (sx, sy) = buffer.withUnsafeMutableBufferPointer {
                statistics.computeReLUForward(UnsafeBufferPointer($0), shape: shape, output: $0.baseAddress)
            }
            #expect(sameBits(buffer, y), "\(isa) \(shape): output differs from ReLULayer")
            expectClose(sx, reference(x, shape: shape), forward: true, "\(isa) \(shape) x")
            expectClose(sy, reference(y, shape: shape), forward: true, "\(isa) \(shape) relu(x)")
            // The x statistics are those of the plain batch pass.
            let plain = x.withUnsafeBufferPointer { statistics.computeForward($0, shape: shape) }
            expectClose(sx, plain, forward: true, "\(isa) \(shape) x vs computeForward")
        }
    }

    @Test func forwardWithNonFiniteAndHugeValues() {
        let shape = [70, 3, 11, 13]
        let count = shape.reduce(1, *)
        for (k, bad) in [Float.nan, -.infinity, .infinity, 1e30, -1e30].enumerated() {
            var x = values(count, seed: 11 + UInt32(k), offset: 0)
            for i in stride(from: 17 * (k + 1), to: count, by: 9001) { x[i] = bad }
            let y = layerReLU(x, shape: shape)
            withEachKernel { isa in
                var buffer = x
                let (sx, sy) = buffer.withUnsafeMutableBufferPointer {
                    BlobStatistics(threads: 2).computeReLUForward(UnsafeBufferPointer($0), shape: shape, output: $0.baseAddress)
                }
                // NaN payloads aside, the same bits.
                #expect(zip(buffer, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) },
                        "\(isa) \(bad): output differs from ReLULayer")
                expectClose(sx, reference(x, shape: shape), forward: true, "\(isa) \(bad) x")
                expectClose(sy, reference(y, shape: shape), forward: true, "\(isa) \(bad) relu(x)")
                if !bad.isFinite { #expect(sx.nonfiniteCount > 0 && sy.nonfiniteCount == sx.nonfiniteCount) }
            }
        }
    }

    @Test(arguments: [1, 7, 511, 512, 513, 65_536 * 2 + 77])
    func backwardMatchesLayerAndReference(count: Int) {
        let dy = values(count, seed: UInt32(count), offset: 0.1)
        let y = layerReLU(values(count, seed: UInt32(count) + 5, offset: -0.1), shape: [count])
        let dx = layerReLUBackward(dy: dy, y: y)
        withEachKernel { isa in
            var buffer = dy
            let (a, b) = buffer.withUnsafeMutableBufferPointer { p in
                y.withUnsafeBufferPointer {
                    BlobStatistics(threads: 2).computeReLUBackward(dy: p.baseAddress!, y: $0.baseAddress!, dx: p.baseAddress!,
                                                                   count: count)
                }
            }
            #expect(sameBits(buffer, dx), "\(isa) \(count): dx differs from ReLULayer")
            expectClose(a, reference(dy, shape: nil), forward: false, "\(isa) \(count) dy")
            expectClose(b, reference(dx, shape: nil), forward: false, "\(isa) \(count) dx")
        }
    }

    @Test func backwardWithNonFiniteAndHugeValues() {
        let count = 3 * 65_536 + 1000
        for (k, bad) in [Float.nan, .infinity, -.infinity, 3e18, -1e25].enumerated() {
            var dy = values(count, seed: 40 + UInt32(k), offset: 0)
            for i in stride(from: 1000 * (k + 1), to: count, by: 70_001) { dy[i] = bad }
            var y = layerReLU(values(count, seed: 50 + UInt32(k), offset: 0), shape: [count])
            y[5] = .nan  // a NaN activation masks its gradient to dy·0, as in ReLULayer
            let dx = layerReLUBackward(dy: dy, y: y)
            withEachKernel { isa in
                var buffer = dy
                let (a, b) = buffer.withUnsafeMutableBufferPointer { p in
                    y.withUnsafeBufferPointer {
                        BlobStatistics(threads: 2).computeReLUBackward(dy: p.baseAddress!, y: $0.baseAddress!,
                                                                       dx: p.baseAddress!, count: count)
                    }
                }
                #expect(zip(buffer, dx).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) },
                        "\(isa) \(bad): dx differs from ReLULayer")
                expectClose(a, reference(dy, shape: nil), forward: false, "\(isa) \(bad) dy")
                expectClose(b, reference(dx, shape: nil), forward: false, "\(isa) \(bad) dx")
            }
        }
    }

    /// The plain ReLU passes (ReLULayer without probes) give the scalar formula's bits for every
    /// slope and every special value, in both kernel copies.
    @Test(arguments: [Float(0), 0.1, -0.5])
    func plainReLUKernelsMatchTheScalarFormula(slope: Float) throws {
        var x = values(1003, seed: 77, offset: -0.1)
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
                                 .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        for (k, v) in specials.enumerated() { x[3 + 37 * k] = v }
        let dy = values(1003, seed: 78, offset: 0).enumerated().map { $0.offset == 500 ? Float.nan : $0.element }
        let expected = scalarReLU(x, slope: slope), expectedBack = scalarReLUBackward(dy: dy, x: x, slope: slope)
        func bitsMatch(_ a: [Float], _ b: [Float]) -> Bool {
            zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
        }
        var p = LayerParameter()
        p.reluParam = ReLUParameter()
        p.reluParam?.negativeSlope = slope
        withEachKernel { isa in
            let layer = try! ReLULayer(param: p, context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1)))
            let b = Blob(shape: [x.count]), t = Blob(shape: [x.count])
            b.setData(x)
            layer.forward(bottom: [b], top: [t])
            #expect(bitsMatch(t.dataArray, expected), "\(isa) slope \(slope): forward")
            t.setDiff(dy)
            layer.backward(top: [t], propagateDown: [true], bottom: [b])
            #expect(bitsMatch(b.diffArray, expectedBack), "\(isa) slope \(slope): backward")
            // In place.
            b.setData(x)
            layer.forward(bottom: [b], top: [b])
            #expect(bitsMatch(b.dataArray, expected), "\(isa) slope \(slope): in-place forward")
        }
    }

    /// Values so small that their Float squares underflow (found by the fuzz-statistics target):
    /// the exact Double path takes them, so std and l2 are not lost.
    @Test(arguments: [Float(1e-25), 1e-38, 3e-43, -1])
    func tinyValuesKeepTheirSpread(scale: Float) {
        let shape = [9, 3, 11]
        // scale −1: large negative values and tiny positive ones, so only max(x, 0) (and the
        // gradient the ReLU lets through) is tiny.
        let x = values(shape.reduce(1, *), seed: 5, offset: 0.2).map { v in
            scale > 0 ? v * scale : (v < 0 ? v * 1e3 : v * 1e-30)
        }
        let y = scalarReLU(x), dx = scalarReLUBackward(dy: x, x: y)
        withEachKernel { isa in
            let statistics = BlobStatistics(threads: 1)
            let flat = x.withUnsafeBufferPointer { statistics.compute($0) }
            expectClose(flat, reference(x, shape: nil), forward: false, "\(isa) \(scale) flat")
            #expect(flat.std > 0)
            var buffer = x
            let (sx, sy) = buffer.withUnsafeMutableBufferPointer {
                statistics.computeReLUForward(UnsafeBufferPointer($0), shape: shape, output: $0.baseAddress)
            }
            expectClose(sx, reference(x, shape: shape), forward: true, "\(isa) \(scale) x")
            expectClose(sy, reference(y, shape: shape), forward: true, "\(isa) \(scale) relu(x)")
            var grad = x
            let (a, b) = grad.withUnsafeMutableBufferPointer { g in
                y.withUnsafeBufferPointer { statistics.computeReLUBackward(dy: g.baseAddress!, y: $0.baseAddress!, dx: g.baseAddress!, count: x.count) }
            }
            #expect(sameBits(grad, dx))
            expectClose(a, reference(x, shape: nil), forward: false, "\(isa) \(scale) dy")
            expectClose(b, reference(dx, shape: nil), forward: false, "\(isa) \(scale) dx")
        }
    }

    @Test func kernelCopiesAgreeAndThreadCountsAreIdentical() {
        let shape = [128, 64, 8, 8]
        let x = values(shape.reduce(1, *), seed: 3, offset: 0.05)
        var results: [[UInt64]] = []
        withEachKernel { _ in
            for threads in [1, 2] {
                var buffer = x
                let (sx, sy) = buffer.withUnsafeMutableBufferPointer {
                    BlobStatistics(threads: threads).computeReLUForward(UnsafeBufferPointer($0), shape: shape,
                                                                        output: $0.baseAddress)
                }
                results.append((sx.forwardValues + sy.forwardValues).map(\.bitPattern))
            }
        }
        // Same kernel copy: bit-identical for 1 and 2 threads; the two copies agree to rounding.
        for k in stride(from: 0, to: results.count, by: 2) { #expect(results[k] == results[k + 1]) }
        let first = results[0].map(Double.init(bitPattern:)), last = results[results.count - 1].map(Double.init(bitPattern:))
        #expect(zip(first, last).allSatisfy { a, b in (a.isNaN && b.isNaN) || abs(a - b) <= 5e-5 * max(1, abs(b)) })
    }

    /// The same training run with the ReLUs recorded inside their pass and separately: identical
    /// losses and weights (the fused pass writes what the layer writes), statistics equal to
    /// rounding.
    @Test func traceMatchesUnfusedRecording() throws {
        func run(fused: Bool) throws -> (RunRecord, [[Float]]) {
            let setup = try RunSetup.load(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: nil,
                                          data: "synthetic", scheme: try Scheme(parsing: "w=as-declared,b=as-declared"),
                                          seed: nil, batchSize: nil)
            var options = TrainingOptions()
            options.iterations = 3
            options.testIterations = 0
            options.threads = 2
            options.fuseReLUStatistics = fused
            let trainer = try Trainer(setup: setup, options: options)
            let hooked = trainer.trainNet.layers.compactMap { $0 as? ReLULayer }.filter { $0.statisticsPass != nil }.count
            #expect(hooked == (fused ? 2 : 0))
            let record = try trainer.run().record
            return (record, trainer.trainNet.params.map { $0.blob.dataArray })
        }
        let (fused, fusedWeights) = try run(fused: true)
        let (plain, plainWeights) = try run(fused: false)
        #expect(fused.loss == plain.loss)
        #expect(zip(fusedWeights, plainWeights).allSatisfy { sameBits($0, $1) })
        var compared = 0
        for (a, b) in zip(fused.layers, plain.layers) {
            for (key, series) in b.series {
                let other = try #require(a.series[key], "\(a.name)/\(key) missing")
                for (u, v) in zip(other, series) {
                    let ok = (u.isNaN && v.isNaN) || abs(u - v) <= 1e-5 * max(1, abs(v))
                    #expect(ok, "\(a.name)/\(key): \(u) vs \(v)")
                    compared += 1
                }
            }
        }
        #expect(compared > 500)
        // relu1 and relu2 are recorded inside their pass: their series are there and finite.
        let relu = try #require(fused.layers.first { $0.name == "relu1" })
        #expect(relu.series["forward/std"]?.allSatisfy(\.isFinite) == true)
        #expect(relu.series["backward/l2"]?.allSatisfy(\.isFinite) == true)
    }
}
