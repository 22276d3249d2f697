import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The engine's GEMM split (`sgemm` over `Engine.threads`, single-threaded OpenBLAS per block).
@Suite struct ParallelGEMMTests {
    /// C = alpha·op(A)·op(B) + beta·C from the definition, in double.
    func reference(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
                   b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Double] {
        var out = c.map(Double.init)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(x) * Double(y)
                }
                out[i * ldc + j] = Double(alpha) * s + Double(beta) * Double(c[i * ldc + j])
            }
        }
        return out
    }

    func values(_ count: Int, seed: UInt32) -> [Float] {
        let rng = RandomSource(seed: seed)
        return (0..<count).map { _ in Float(rng.next()) / 4_294_967_296.0 * 2 - 1 }
    }

    /// Column split (n ≥ m) and row split (m > n), every transpose combination, leading
    /// dimensions wider than the matrices and beta ≠ 0: every split agrees with the double
    /// reference, and the same thread count gives the same bits twice.
    @Test(arguments: [(64, 400, 100), (400, 64, 100), (33, 129, 500)])
    func splitProductsAgreeWithReference(_ shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        #expect(GEMMSplit.parts(m: m, n: n, k: k, threads: 2) == 2, "shape \(shape) must be split")
        for transA in [false, true] {
            for transB in [false, true] {
                let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 7
                let a = values((transA ? k : m) * lda, seed: 1), b = values((transB ? n : k) * ldb, seed: 2)
                let c0 = values(m * ldc, seed: 3)
                let ref = reference(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda,
                                    b: b, ldb: ldb, beta: 0.25, c: c0, ldc: ldc)
                var results: [[Float]] = []
                for threads in [2, 2, 1] {
                    var c = c0
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                sgemmSplit(threads: threads, transA: transA, transB: transB, m: m, n: n, k: k,
                                           alpha: 0.5, a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                           beta: 0.25, c: pc.baseAddress!, ldc: ldc)
                            }
                        }
                    }
                    results.append(c)
                    // Sums of ≤ 500 products of values in [−1, 1): float error far below 1e-4.
                    let worst = zip(c, ref).map { abs(Double($0) - $1) }.max() ?? 0
                    #expect(worst < 1e-4, "\(shape) transA \(transA) transB \(transB) threads \(threads): \(worst)")
                }
                #expect(results[0] == results[1], "same thread count, different bits")
                // The padding columns of C (beyond n) are never written.
                for i in 0..<m { for j in n..<ldc { #expect(results[0][i * ldc + j] == c0[i * ldc + j]) } }
            }
        }
    }

    @Test func smallProductsAreNotSplit() {
        #expect(GEMMSplit.parts(m: 10, n: 10, k: 10, threads: 2) == 1)
        #expect(GEMMSplit.parts(m: 4096, n: 8, k: 4096, threads: 2) == 2)
        #expect(GEMMSplit.parts(m: 4096, n: 4096, k: 4096, threads: 1) == 1)
        #expect(GEMMSplit.step(100, parts: 2) == 64)
    }

    /// Winograd's transformed weights are computed by the forward pass and reused by backward:
    /// after the weights change, the next forward must see the new ones, and the input gradient
    /// read from the forward's U (transposed, ξ ↦ 15 − ξ) must equal im2col's.
    @Test func winogradTransformFollowsWeightChanges() throws {
        let cc = ConvCase(name: "winograd_cache", num: 2, channels: 6, height: 5, width: 6, numOutput: 8, pad: [1], group: 2)
        let (layer, bottom, top) = try makeConvolution(cc)
        #expect(layer.usesWinograd)
        #expect(layer.algorithmName == "winograd-f23")
        layer.forward(bottom: [bottom], top: [top])
        for round in 0..<2 {
            fillUniform(layer.blobs[0], seed: UInt32(100 + round))
            layer.forward(bottom: [bottom], top: [top])
            let ref = directConvolution(input: bottom.dataArray, n: cc.num, c: cc.channels, h: cc.height, w: cc.width,
                                        weight: layer.blobs[0].dataArray, bias: layer.blobs[1].dataArray,
                                        o: cc.numOutput, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, group: 2)
            let worst = zip(top.dataArray, ref.out).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5, "round \(round): forward after a weight change differs by \(worst)")
        }
        // Input gradient through the forward's U against im2col + GEMM with the same weights.
        fillUniform(top, seed: 7)
        top.setDiff(top.dataArray)
        bottom.zeroDiff()
        layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
        let viaWinograd = bottom.diffArray
        let (plain, bottom2, top2) = try makeConvolution(ConvCase(name: "plain", num: 2, channels: 6, height: 5, width: 6,
                                                                   numOutput: 8, pad: [1], group: 2))
        #expect(!plain.usesWinograd)
        plain.blobs[0].setData(layer.blobs[0].dataArray)
        bottom2.setData(bottom.dataArray)
        plain.forward(bottom: [bottom2], top: [top2])
        top2.setDiff(top.diffArray)
        plain.backward(top: [top2], propagateDown: [true], bottom: [bottom2])
        let worst = zip(viaWinograd, bottom2.diffArray).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5, "bottom diff Winograd vs im2col: \(worst)")
    }

    /// The tuning is a value in the layer context: two layers built side by side with different
    /// tunings choose differently, and the default is untouched.
    @Test func convolutionTuningComesFromTheContext() throws {
        var off = ConvolutionTuning.default
        off.winogradEnabled = false
        off.targetColumns = 64
        var built: [ConvolutionLayer] = []
        for tuning in [ConvolutionTuning.default, off] {
            let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1), convolutionTuning: tuning)
            let layer = try ConvolutionLayer(param: ConvCase(name: "tuned", numOutput: 32, pad: [1]).param, context: ctx)
            try layer.setUp(bottom: [Blob(name: "in", shape: [8, 32, 8, 8])], top: [Blob(name: "out")])
            built.append(layer)
        }
        #expect(built[0].usesWinograd && built[0].algorithmName == "winograd-f23")
        #expect(!built[1].usesWinograd && built[1].algorithmName == "im2col-gemm")
        // 64 target columns over 8×8 maps: one image per block; the default's 1024: all eight.
        #expect(built[1].imagesPerBlock == 1)
        #expect(built[0].imagesPerBlock == 8)
        #expect(ConvolutionTuning.default == ConvolutionTuning())
    }

    /// `.automatic` takes F(4×4, 3×3) from `winogradF43MinTiles` 4×4 output tiles per batch on
    /// (docs/toolchain.md): 16×16 planes have 16 tiles, so 127 images stay on F(2×2, 3×3) and 128
    /// take F(4×4); the result equals im2col's, and a weight change reaches the backward pass
    /// (F(4×4) transforms the flipped kernel per backward).
    @Test func automaticTakesF43FromTheTileThreshold() throws {
        var algorithms: [String] = []
        for images in [127, 128] {
            let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1))
            let layer = try ConvolutionLayer(param: ConvCase(name: "auto", numOutput: 32, pad: [1]).param, context: ctx)
            try layer.setUp(bottom: [Blob(name: "in", shape: [images, 32, 16, 16])], top: [Blob(name: "out")])
            #expect(ConvolutionTuning.default.winogradTile(images: images, outH: 16, outW: 16) == (images == 128 ? 4 : 2))
            algorithms.append(layer.algorithmName)
        }
        #expect(algorithms == ["winograd-f23", "winograd-f43"])
        #expect(ConvolutionTuning.default.winogradTile(images: 128, outH: 13, outW: 13) == 4)
        #expect(ConvolutionTuning.default.winogradTile(images: 16, outH: 32, outW: 32) == 2)
        #expect(ConvolutionTuning.default.winogradTile(images: Int.max, outH: 64, outW: 64) == 2)

        let cc = ConvCase(name: "winograd43_cache", num: 2, channels: 6, height: 9, width: 7, numOutput: 8, pad: [1], group: 2)
        let (layer, bottom, top) = try makeConvolution(cc)
        let (plain, bottom2, top2) = try makeConvolution(ConvCase(name: "plain", num: 2, channels: 6, height: 9, width: 7,
                                                                   numOutput: 8, pad: [1], group: 2))
        #expect(layer.algorithmName == "winograd-f43" && !plain.usesWinograd)
        for round in 0..<2 {
            fillUniform(layer.blobs[0], seed: UInt32(200 + round))
            plain.blobs[0].setData(layer.blobs[0].dataArray)
            plain.blobs[1].setData(layer.blobs[1].dataArray)
            bottom2.setData(bottom.dataArray)
            layer.forward(bottom: [bottom], top: [top])
            plain.forward(bottom: [bottom2], top: [top2])
            let y = top.dataArray
            fillUniform(top, seed: UInt32(7 + round))
            top.setDiff(top.dataArray)
            top2.setDiff(top.dataArray)
            for b in layer.blobs + plain.blobs { b.zeroDiff() }
            layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
            plain.backward(top: [top2], propagateDown: [true], bottom: [bottom2])
            for (what, a, b) in [("top", y, top2.dataArray),
                                 ("bottom diff", bottom.diffArray, bottom2.diffArray),
                                 ("weight diff", layer.blobs[0].diffArray, plain.blobs[0].diffArray)] {
                let scale = max(1, b.map(abs).max() ?? 1)
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= 4e-5 * scale, "round \(round) \(what): F(4×4) vs im2col differ by \(worst)")
            }
        }
    }
}
