import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// One convolution configuration for the parametrised tests.
struct ConvCase: CustomStringConvertible, Sendable {
    var name: String
    var num = 2, channels = 4, height = 7, width = 6
    var numOutput = 4
    var kernel: [UInt32] = [3]
    var kernelHW: (UInt32, UInt32)? = nil
    var stride: [UInt32] = []
    var strideHW: (UInt32, UInt32)? = nil
    var pad: [UInt32] = []
    var padHW: (UInt32, UInt32)? = nil
    var dilation: [UInt32] = []
    var group: UInt32 = 1
    var bias = true
    /// Images per block forced on the layer (nil: the layer's own choice).
    var block: Int? = nil
    var description: String { name }

    var param: LayerParameter {
        var lp = LayerParameter(name: "conv_\(name)", type: "Convolution")
        var p = ConvolutionParameter()
        p.numOutput = UInt32(numOutput)
        p.biasTerm = bias
        if let (h, w) = kernelHW { p.kernelH = h; p.kernelW = w } else { p.kernelSize = kernel }
        if let (h, w) = strideHW { p.strideH = h; p.strideW = w } else { p.stride = stride }
        if let (h, w) = padHW { p.padH = h; p.padW = w } else { p.pad = pad }
        p.dilation = dilation
        p.group = group
        lp.convolutionParam = p
        return lp
    }
}

let convCases: [ConvCase] = [
    ConvCase(name: "plain3x3"),
    ConvCase(name: "stride2_pad1", stride: [2], pad: [1]),
    ConvCase(name: "groups2", group: 2),
    ConvCase(name: "groups2_out6", numOutput: 6, group: 2),
    ConvCase(name: "dilation2_pad2", pad: [2], dilation: [2]),
    ConvCase(name: "rect_hw", kernelHW: (3, 2), strideHW: (2, 1), padHW: (1, 0)),
    ConvCase(name: "rect_repeated", kernel: [2, 3], stride: [1, 2], pad: [0, 1], dilation: [2, 1]),
    ConvCase(name: "no_bias", bias: false),
    ConvCase(name: "one_by_one", kernel: [1]),
    ConvCase(name: "one_by_one_blocked", num: 5, kernel: [1], block: 2),
    ConvCase(name: "one_by_one_single", num: 3, kernel: [1], block: 1),
    ConvCase(name: "blocked_remainder", num: 5, stride: [2], pad: [1], group: 2, block: 2),
    ConvCase(name: "single_image_blocks", num: 3, pad: [1], block: 1),
    ConvCase(name: "kernel_as_large_as_input", height: 3, width: 3, kernel: [3]),
    // Winograd F(2×2, 3×3) path (3×3, stride 1; forced with `.always`, so small channel counts do):
    // odd sizes clip the last tiles, pad 0 and 2 change the input-gradient pad to 2 and 0.
    ConvCase(name: "winograd_pad1", channels: 5, height: 7, width: 5, numOutput: 6, pad: [1]),
    ConvCase(name: "winograd_pad0", channels: 4, height: 6, width: 7, numOutput: 7, pad: [0]),
    ConvCase(name: "winograd_pad2_rect", channels: 4, height: 5, width: 6, numOutput: 4, padHW: (2, 1)),
    ConvCase(name: "winograd_groups2", channels: 6, height: 5, width: 5, numOutput: 6, pad: [1], group: 2),
    ConvCase(name: "winograd_groups2_more_out", channels: 4, height: 5, width: 4, numOutput: 10, pad: [1], group: 2),
    ConvCase(name: "winograd_blocked", num: 5, channels: 4, height: 4, width: 4, numOutput: 5, pad: [1], block: 2),
    ConvCase(name: "winograd_1x1_output", channels: 4, height: 3, width: 3, numOutput: 4, pad: [0]),
    ConvCase(name: "winograd_no_bias", channels: 3, height: 6, width: 6, numOutput: 4, pad: [1], bias: false),
    // F(4×4, 3×3): planes that are and are not multiples of the 4×4 tile, every pad, groups, blocks.
    ConvCase(name: "winograd43_pad1", channels: 5, height: 7, width: 5, numOutput: 6, pad: [1]),
    ConvCase(name: "winograd43_pad1_tiles", channels: 3, height: 9, width: 12, numOutput: 4, pad: [1]),
    ConvCase(name: "winograd43_pad0", channels: 4, height: 6, width: 7, numOutput: 7, pad: [0]),
    ConvCase(name: "winograd43_pad2_rect", channels: 4, height: 5, width: 6, numOutput: 4, padHW: (2, 1)),
    ConvCase(name: "winograd43_groups2", channels: 6, height: 5, width: 5, numOutput: 6, pad: [1], group: 2),
    ConvCase(name: "winograd43_groups2_more_out", channels: 4, height: 5, width: 4, numOutput: 10, pad: [1], group: 2),
    ConvCase(name: "winograd43_blocked", num: 5, channels: 4, height: 8, width: 8, numOutput: 5, pad: [1], block: 2),
    ConvCase(name: "winograd43_1x1_output", channels: 4, height: 3, width: 3, numOutput: 4, pad: [0]),
    ConvCase(name: "winograd43_no_bias", channels: 3, height: 6, width: 6, numOutput: 4, pad: [1], bias: false),
]

/// Direct convolution written from the definition (cross-correlation, zero padding), in double:
/// top[n,o,y,x] = b[o] + Σ_{c in group(o), i, j} W[o, c', i, j] · in[n, c, y·s − p + i·d, x·s − p + j·d].
func directConvolution(input: [Float], n: Int, c: Int, h: Int, w: Int, weight: [Float], bias: [Float]?,
                       o: Int, kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int, dh: Int, dw: Int,
                       group: Int) -> (out: [Float], oh: Int, ow: Int) {
    let oh = (h + 2 * ph - (dh * (kh - 1) + 1)) / sh + 1
    let ow = (w + 2 * pw - (dw * (kw - 1) + 1)) / sw + 1
    let cg = c / group, og = o / group
    var out = [Float](repeating: 0, count: n * o * oh * ow)
    for img in 0..<n {
        for oc in 0..<o {
            let g = oc / og
            for y in 0..<oh {
                for x in 0..<ow {
                    var s = Double(bias?[oc] ?? 0)
                    for ci in 0..<cg {
                        let ch = g * cg + ci
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let iy = y * sh - ph + i * dh, ix = x * sw - pw + j * dw
                                if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                                s += Double(weight[((oc * cg + ci) * kh + i) * kw + j])
                                    * Double(input[((img * c + ch) * h + iy) * w + ix])
                            }
                        }
                    }
                    out[((img * o + oc) * oh + y) * ow + x] = Float(s)
                }
            }
        }
    }
    return (out, oh, ow)
}

/// Builds, sets up and fills a convolution for a case: random input, weights and bias.
func makeConvolution(_ cc: ConvCase) throws -> (ConvolutionLayer, Blob, Blob) {
    let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1))
    let layer = try ConvolutionLayer(param: cc.param, context: ctx)
    if cc.name.hasPrefix("winograd43") { layer.winogradChoice = .f43 }
    else if cc.name.hasPrefix("winograd") { layer.winogradChoice = .always }
    let bottom = Blob(name: "in", shape: [cc.num, cc.channels, cc.height, cc.width])
    let top = Blob(name: "out")
    fillUniform(bottom, seed: 3)
    try layer.setUp(bottom: [bottom], top: [top])
    if let b = cc.block { layer.useImagesPerBlock(b) }
    fillUniform(layer.blobs[0], seed: 5)
    if layer.blobs.count > 1 { fillUniform(layer.blobs[1], seed: 9) }
    return (layer, bottom, top)
}

@Suite struct ConvolutionTests {
    @Test(arguments: convCases)
    func forwardMatchesDirectConvolution(_ cc: ConvCase) throws {
        let (layer, bottom, top) = try makeConvolution(cc)
        layer.forward(bottom: [bottom], top: [top])
        let ref = directConvolution(
            input: bottom.dataArray, n: cc.num, c: cc.channels, h: cc.height, w: cc.width,
            weight: layer.blobs[0].dataArray, bias: cc.bias ? layer.blobs[1].dataArray : nil,
            o: cc.numOutput, kh: layer.kernelH, kw: layer.kernelW, sh: layer.strideH, sw: layer.strideW,
            ph: layer.padH, pw: layer.padW, dh: layer.dilationH, dw: layer.dilationW, group: Int(cc.group))
        #expect(top.shape == [cc.num, cc.numOutput, ref.oh, ref.ow])
        #expect(layer.usesWinograd == cc.name.hasPrefix("winograd"))
        #expect(layer.algorithmName == (cc.name.hasPrefix("winograd43") ? "winograd-f43"
                                        : cc.name.hasPrefix("winograd") ? "winograd-f23" : layer.algorithmName))
        let got = top.dataArray
        var worst: Float = 0
        for i in got.indices { worst = max(worst, abs(got[i] - ref.out[i])) }
        // Sums of ≤ 36 products of values in [−1, 1): float rounding stays far below 1e-5; F(4×4, 3×3)'s
        // larger transform coefficients (8 in Aᵀ, 5 in Bᵀ) round ≈ 3× more (measured ≤ 1.5e-5).
        let bound: Float = cc.name.hasPrefix("winograd43") ? 4e-5 : 1e-5
        #expect(worst <= bound, "max |conv − direct| = \(worst)")
    }

    @Test(arguments: convCases)
    func gradientsMatchFiniteDifferences(_ cc: ConvCase) throws {
        var small = cc
        small.num = min(cc.num, 3)
        if let b = cc.block { small.block = min(b, small.num) }
        let (layer, bottom, top) = try makeConvolution(small)
        let checked = GradientChecker().check(layer, bottom: [bottom], top: [top])
        #expect(checked == bottom.count + layer.blobs.reduce(0) { $0 + $1.count })
    }

    /// A seed-net-like layer (128 → 128, 6×6, pad 1) through Winograd and through im2col + GEMM:
    /// top, weight and bias gradients and bottom gradient agree to float rounding.
    @Test func winogradAgreesWithIm2col() throws {
        var results: [[[Float]]] = []
        for choice in [ConvolutionLayer.WinogradChoice.always, .f43, .never] {
            let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1))
            let layer = try ConvolutionLayer(param: ConvCase(name: "agree", numOutput: 128, pad: [1]).param, context: ctx)
            layer.winogradChoice = choice
            let bottom = Blob(name: "in", shape: [3, 128, 6, 6]), top = Blob(name: "out")
            fillUniform(bottom, seed: 31)
            try layer.setUp(bottom: [bottom], top: [top])
            #expect(layer.usesWinograd == (choice != .never))
            fillUniform(layer.blobs[0], -0.05, 0.05, seed: 37)
            fillUniform(layer.blobs[1], seed: 41)
            layer.forward(bottom: [bottom], top: [top])
            let y = top.dataArray
            fillUniform(top, seed: 43)
            top.setDiff(top.dataArray)
            layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
            results.append([y, layer.blobs[0].diffArray, layer.blobs[1].diffArray, bottom.diffArray])
        }
        for (w, name, bound) in [(0, "F(2×2, 3×3)", Float(1e-5)), (1, "F(4×4, 3×3)", 4e-5)] {
            for (k, what) in ["top", "weight diff", "bias diff", "bottom diff"].enumerated() {
                let a = results[w][k], b = results[2][k]
                let scale = b.map(abs).max() ?? 1
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                // Magnitudes: top ≈ 1, dW sums 3·36 products ≈ 10, dx ≈ 1; relative to the largest
                // (F(4×4, 3×3) rounds ≈ 3× more, see forwardMatchesDirectConvolution).
                #expect(worst <= bound * max(scale, 1), "\(name) \(what): max difference \(worst), scale \(scale)")
            }
        }
    }

    @Test func parameterDiffsAccumulateAndBottomDiffIsOverwritten() throws {
        for cc in [ConvCase(name: "accumulate", num: 3, stride: [2], pad: [1], group: 2, block: 2),
                   ConvCase(name: "winograd_accumulate", num: 3, channels: 4, numOutput: 6, pad: [1], block: 2),
                   ConvCase(name: "winograd43_accumulate", num: 3, channels: 4, numOutput: 6, pad: [1], block: 2)] {
        let (layer, bottom, top) = try makeConvolution(cc)
        layer.forward(bottom: [bottom], top: [top])
        fillUniform(top, seed: 11)
        top.setDiff(top.dataArray)
        for b in layer.blobs { b.zeroDiff() }
        layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
        let w1 = layer.blobs[0].diffArray, b1 = layer.blobs[1].diffArray, x1 = bottom.diffArray
        #expect(w1.contains { $0 != 0 } && b1.contains { $0 != 0 } && x1.contains { $0 != 0 })
        // Garbage in the bottom diff must be overwritten, parameter diffs must double.
        bottom.setDiff([Float](repeating: 1e6, count: bottom.count))
        layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
        for (a, b) in zip(layer.blobs[0].diffArray, w1) { #expect(abs(a - 2 * b) <= 1e-5 * max(1, abs(b))) }
        for (a, b) in zip(layer.blobs[1].diffArray, b1) { #expect(abs(a - 2 * b) <= 1e-5 * max(1, abs(b))) }
        #expect(bottom.diffArray == x1)
        }
    }

    @Test func noPropagateDownLeavesBottomDiffButComputesParameterDiffs() throws {
        let (layer, bottom, top) = try makeConvolution(ConvCase(name: "nodown", pad: [1]))
        layer.forward(bottom: [bottom], top: [top])
        top.setDiff([Float](repeating: 0.5, count: top.count))
        bottom.setDiff([Float](repeating: 7, count: bottom.count))
        for b in layer.blobs { b.zeroDiff() }
        layer.backward(top: [top], propagateDown: [false], bottom: [bottom])
        #expect(bottom.diffArray.allSatisfy { $0 == 7 })
        // dbias[o] = Σ over N·OH·OW of 0.5 = 0.5 · 2 · 7 · 6.
        #expect(layer.blobs[1].diffArray.allSatisfy { abs($0 - 42) <= 1e-4 })
        #expect(layer.blobs[0].diffArray.contains { $0 != 0 })
    }

    @Test func twoBottomsShareWeights() throws {
        let cc = ConvCase(name: "pairs", pad: [1])
        let (layer, b0, t0) = try makeConvolution(cc)
        let b1 = Blob(name: "in1", shape: b0.shape), t1 = Blob(name: "out1")
        fillUniform(b1, seed: 21)
        try layer.reshape(bottom: [b0, b1], top: [t0, t1])
        layer.forward(bottom: [b0, b1], top: [t0, t1])
        let ref = directConvolution(input: b1.dataArray, n: 2, c: 4, h: 7, w: 6,
                                    weight: layer.blobs[0].dataArray, bias: layer.blobs[1].dataArray,
                                    o: 4, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, group: 1)
        #expect(zip(t1.dataArray, ref.out).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    @Test func blobShapes() throws {
        let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1))
        var cc = ConvCase(name: "shapes", channels: 6, numOutput: 9, kernelHW: (3, 2), group: 3)
        var layer = try ConvolutionLayer(param: cc.param, context: ctx)
        try layer.setUp(bottom: [Blob(shape: [2, 6, 8, 8])], top: [Blob()])
        #expect(layer.blobs.map(\.shape) == [[9, 2, 3, 2], [9]])
        #expect(layer.blobs.allSatisfy { $0.dataArray.allSatisfy { $0 == 0 } })
        cc.bias = false
        layer = try ConvolutionLayer(param: cc.param, context: ctx)
        try layer.setUp(bottom: [Blob(shape: [2, 6, 8, 8])], top: [Blob()])
        #expect(layer.blobs.map(\.shape) == [[9, 2, 3, 2]])
    }

    /// out = (in + 2p − (d(k − 1) + 1))/s + 1, and the seed VGG19 conv stack keeps 32×32 → 32×32.
    @Test func outputSizeTable() throws {
        let table: [(input: Int, k: Int, p: Int, s: Int, d: Int, out: Int)] = [
            (32, 3, 1, 1, 1, 32), (32, 5, 2, 1, 1, 32), (32, 3, 0, 2, 1, 15), (7, 3, 1, 2, 1, 4),
            (8, 3, 1, 2, 1, 4), (9, 3, 2, 1, 2, 9), (10, 3, 0, 1, 3, 4), (6, 1, 0, 1, 1, 6),
            (224, 7, 3, 2, 1, 112), (227, 11, 0, 4, 1, 55), (5, 2, 0, 2, 1, 2),
        ]
        for r in table {
            #expect(ConvGeometry.outputSize(input: r.input, kernel: r.k, pad: r.p, stride: r.s, dilation: r.d) == r.out,
                    "in \(r.input) k \(r.k) p \(r.p) s \(r.s) d \(r.d)")
        }
        let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1))
        var lp = LayerParameter(name: "c", type: "Convolution")
        var p = ConvolutionParameter(); p.numOutput = 8; p.kernelSize = [3]; p.pad = [1]; p.stride = [2]; p.dilation = [2]
        lp.convolutionParam = p
        let layer = try ConvolutionLayer(param: lp, context: ctx)
        let top = Blob()
        try layer.setUp(bottom: [Blob(shape: [1, 2, 11, 9])], top: [top])
        // (11 + 2 − 5)/2 + 1 = 5, (9 + 2 − 5)/2 + 1 = 4
        #expect(top.shape == [1, 8, 5, 4])
    }

    @Test func blockSizeChoice() {
        // Blocks aim at 1024 GEMM columns (ConvolutionTuning.targetColumns, measured best).
        #expect(ConvolutionTuning.default.targetColumns == 1024)
        // conv1_2 of the seed net at batch 128: 1024 positions per image → one image per block.
        #expect(ConvolutionLayer.blockImages(num: 128, colRows: 576, outChannels: 64, outSpatial: 1024) == 1)
        // conv3_x (8×8 maps): 16 images → N = 1024.
        #expect(ConvolutionLayer.blockImages(num: 128, colRows: 2304, outChannels: 256, outSpatial: 64) == 16)
        // Tiny maps: the whole batch, as long as the scratch stays under the bound.
        #expect(ConvolutionLayer.blockImages(num: 128, colRows: 4608, outChannels: 512, outSpatial: 4) == 128)
        // Blocks are evened out: 10 images with at most 4 per block → 3 blocks of ≤ 4.
        #expect(ConvolutionLayer.blockImages(num: 10, colRows: 9, outChannels: 1, outSpatial: 256) == 4)
        // The memory bound wins over the column target (16 images): 32 MiB / ((18432 + 512)·64·4 B)
        // = 6 images, then 22 blocks of ≤ 6.
        #expect(ConvolutionLayer.blockImages(num: 128, colRows: 18432, outChannels: 512, outSpatial: 64) == 6)
        #expect(ConvolutionLayer.blockImages(num: 1, colRows: 27, outChannels: 64, outSpatial: 1024) == 1)
    }

    func expectError(_ param: LayerParameter, bottom: [Int], _ fragments: [String],
                     sourceLocation: SourceLocation = #_sourceLocation) {
        let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1))
        do {
            let layer = try ConvolutionLayer(param: param, context: ctx)
            try layer.setUp(bottom: [Blob(name: "x", shape: bottom)], top: [Blob(name: "y")])
            Issue.record("no error for \(param.convolutionParam!)", sourceLocation: sourceLocation)
        } catch let e as InputError {
            #expect(e.message.contains("'\(param.name)'"), sourceLocation: sourceLocation)
            for f in fragments {
                #expect(e.message.contains(f), "\(e.message) lacks \(f)", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func badParametersAndShapesThrowNamingTheLayer() {
        func param(_ edit: (inout ConvolutionParameter) -> Void) -> LayerParameter {
            var lp = LayerParameter(name: "bad_conv", type: "Convolution")
            var p = ConvolutionParameter(); p.numOutput = 4; p.kernelSize = [3]
            edit(&p); lp.convolutionParam = p
            return lp
        }
        expectError(param { $0.group = 2 }, bottom: [1, 3, 8, 8], ["3", "group 2", "1×3×8×8"])
        expectError(param { $0.group = 3; $0.numOutput = 4 }, bottom: [1, 3, 8, 8], ["num_output 4", "group 3"])
        expectError(param { $0.kernelSize = [5] }, bottom: [1, 3, 4, 4], ["5×5", "4×4", "1×3×4×4"])
        expectError(param { $0.kernelSize = [3]; $0.dilation = [3] }, bottom: [1, 3, 6, 6], ["7×7", "6×6"])
        expectError(param { $0.kernelH = 3; $0.kernelW = 3 }, bottom: [1, 3, 8, 8], ["not both"])
        expectError(param { $0.kernelSize = []; $0.kernelH = 3 }, bottom: [1, 3, 8, 8], ["kernel_h and kernel_w"])
        expectError(param { $0.kernelSize = [3, 3, 3] }, bottom: [1, 3, 8, 8, 8], ["not implemented"])
        expectError(param { _ in }, bottom: [1, 3, 8, 8, 8], ["not implemented", "1×3×8×8×8"])
        expectError(param { $0.axis = 2 }, bottom: [1, 3, 8, 8], ["not implemented", "axis 2"])
        expectError(param { $0.axis = 4 }, bottom: [1, 3, 8, 8], ["axis 4"])
        expectError(param { $0.stride = [2]; $0.strideH = 1; $0.strideW = 1 }, bottom: [1, 3, 8, 8], ["not both"])
        expectError(param { $0.pad = [1]; $0.padH = 1 }, bottom: [1, 3, 8, 8], ["not both"])
        expectError(param { $0.numOutput = 0 }, bottom: [1, 3, 8, 8], ["num_output"])
        expectError(param { $0.stride = [0] }, bottom: [1, 3, 8, 8], ["stride"])
        expectError(param { $0.kernelSize = [0] }, bottom: [1, 3, 8, 8], ["kernel"])
        // axis −3 on a 4-D blob is axis 1: accepted.
        let ctx = LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1))
        #expect(throws: Never.self) {
            let l = try ConvolutionLayer(param: param { $0.axis = -3 }, context: ctx)
            try l.setUp(bottom: [Blob(shape: [1, 3, 8, 8])], top: [Blob()])
        }
    }
}
