import InitDiagCore
import InitDiagTrace
import Foundation

/// Caffe's Convolution layer, 2-D (BVLC/caffe src/caffe/layers/base_conv_layer.cpp, conv_layer.cpp).
///
/// Semantics: cross-correlation with zero padding, stride, dilation and groups; weight
/// (O, C/g, kh, kw), bias (O) when bias_term. Several bottom/top pairs share the weights (Caffe's
/// EqualNumBottomTopBlobs), every bottom must have the same shape.
///
/// Lowering: instead of Caffe's one im2col + one GEMM per image, a *block* of images is lowered at
/// once (batch folded into the GEMM's N), so each GEMM is large enough for OpenBLAS to run near
/// peak while the column matrix stays bounded (`tuning.maxScratchBytes`). The GEMM output
/// is (O × images·OH·OW) and is reordered into NCHW. 1×1 stride-1 unpadded convolutions need no
/// im2col: the input block only changes from NCHW to channel-major (or is used as is for one image).
/// 3×3 stride-1 undilated layers with ≥ 32 channels per group run forward, weight gradient and
/// input gradient through Winograd F(2×2, 3×3) instead (Winograd.swift): 2.25× fewer FLOPs, results
/// equal to the direct convolution up to float rounding. `ConvolutionTuning.winogradEnabled = false`
/// (in the layer context) or `winogradChoice = .never` keeps Caffe's im2col + GEMM formulation.
public final class ConvolutionLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public let numOutput: Int
    public let group: Int
    public let biasTerm: Bool
    public let kernelH: Int, kernelW: Int
    public let strideH: Int, strideW: Int
    public let padH: Int, padW: Int
    public let dilationH: Int, dilationW: Int
    /// Caffe's is_1x1_: kernel 1, stride 1, pad 0 (dilation is then irrelevant).
    public let is1x1: Bool

    /// Geometry of the current bottom shape (set by setUp/reshape).
    public private(set) var geometry = ConvGeometry(channels: 0, height: 0, width: 0, kernelH: 1, kernelW: 1)
    public private(set) var num = 0
    /// Images lowered together into one column matrix.
    public private(set) var imagesPerBlock = 1

    /// Whether forward and the input gradient run through Winograd (set at reshape).
    public private(set) var usesWinograd = false
    /// The Winograd output tile when `usesWinograd`: 2 for F(2×2, 3×3), 4 for F(4×4, 3×3).
    public private(set) var winogradTile = 2
    /// Images per Winograd block (forward and input-gradient transforms).
    public private(set) var winogradImagesPerBlock = 1
    /// The tuning this layer was built with (`LayerContext.convolutionTuning`).
    public let tuning: ConvolutionTuning

    /// Whether a depthwise layer (group = C_in = C_out) runs the direct kernel of
    /// DepthwiseConvolution.swift (default) instead of grouped im2col + GEMM; set at reshape.
    public var depthwiseKernelEnabled = true
    public private(set) var usesDepthwiseKernel = false

    /// `.always`: F(2×2, 3×3); `.f43`: F(4×4, 3×3); `.never`: im2col + GEMM.
    public enum WinogradChoice: Sendable { case automatic, always, f43, never }
    /// Per-layer override of the automatic choice (takes effect at the next reshape); `.always`
    /// and `.f43` still require an eligible geometry.
    public var winogradChoice: WinogradChoice = .automatic
    public static var minBottoms: Int { 1 }
    public static var minTops: Int { 1 }

    // Per-type knowledge (Core/LayerTraits.swift).
    public static var role: LayerRole { .weighted }
    /// z = W∗x + b with zero-mean i.i.d. weights: m' = σ_w²·m + σ_b² (docs/mean-field.md).
    public var meanField: MeanFieldRule { .linear }
    /// weight_filler, then bias_filler when bias_term; an omitted filler is Caffe's constant 0.
    public var declaredFillers: [FillerParameter] {
        let p = param.convolutionParam ?? ConvolutionParameter()
        let zero = FillerParameter(type: "constant")
        return Array([p.weightFiller ?? zero, p.biasFiller ?? zero].prefix(blobs.count))
    }
    /// The schemes replace the weight and the bias; fans from the (out, in/group, kh, kw) weight.
    public var schemeTargets: SchemeTargets? {
        guard let w = blobs.first else { return nil }
        return SchemeTargets(weight: 0, bias: blobs.count > 1 ? 1 : nil, fanShape: w.shape)
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        self.tuning = context.convolutionTuning
        let p = param.convolutionParam ?? ConvolutionParameter()
        func fail(_ what: String) -> InputError { shapeError(param, what) }

        // Caffe base_conv_layer.cpp LayerSetUp: num_output > 0, group divides both channel counts.
        guard p.numOutput > 0 else { throw fail("num_output must be positive") }
        guard p.group > 0 else { throw fail("group must be positive") }
        numOutput = Int(p.numOutput)
        group = Int(p.group)
        biasTerm = p.biasTerm
        guard numOutput % group == 0 else {
            throw fail("num_output \(numOutput) is not a multiple of group \(group)")
        }

        // More than two values of a repeated field is an N-D (3-D or more) convolution.
        for (name, values) in [("kernel_size", p.kernelSize), ("stride", p.stride), ("pad", p.pad),
                               ("dilation", p.dilation)] where values.count > 2 {
            throw fail("\(values.count)-D convolution (\(name) given \(values.count) times) is not implemented; only 2-D")
        }
        // The _h/_w forms are 2-D only and exclusive with the repeated forms; a single repeated value
        // applies to both dimensions (base_conv_layer.cpp LayerSetUp).
        if p.kernelH != nil || p.kernelW != nil {
            guard p.kernelSize.isEmpty else {
                throw fail("either kernel_size or kernel_h/kernel_w should be given, not both")
            }
            guard let h = p.kernelH, let w = p.kernelW else {
                throw fail("kernel_h and kernel_w must both be given")
            }
            (kernelH, kernelW) = (Int(h), Int(w))
        } else {
            guard !p.kernelSize.isEmpty else { throw fail("kernel_size (or kernel_h and kernel_w) is required") }
            kernelH = Int(p.kernelSize[0]); kernelW = Int(p.kernelSize[p.kernelSize.count - 1])
        }
        guard kernelH > 0, kernelW > 0 else { throw fail("kernel dimensions must be nonzero") }

        if p.strideH != nil || p.strideW != nil {
            guard p.stride.isEmpty else { throw fail("either stride or stride_h/stride_w should be given, not both") }
            guard let h = p.strideH, let w = p.strideW else { throw fail("stride_h and stride_w must both be given") }
            (strideH, strideW) = (Int(h), Int(w))
        } else if p.stride.isEmpty {
            (strideH, strideW) = (1, 1)
        } else {
            strideH = Int(p.stride[0]); strideW = Int(p.stride[p.stride.count - 1])
        }
        guard strideH > 0, strideW > 0 else { throw fail("stride dimensions must be nonzero") }

        if p.padH != nil || p.padW != nil {
            guard p.pad.isEmpty else { throw fail("either pad or pad_h/pad_w should be given, not both") }
            // Caffe reads both; an unset one is the proto default 0.
            (padH, padW) = (Int(p.padH ?? 0), Int(p.padW ?? 0))
        } else if p.pad.isEmpty {
            (padH, padW) = (0, 0)
        } else {
            padH = Int(p.pad[0]); padW = Int(p.pad[p.pad.count - 1])
        }

        if p.dilation.isEmpty {
            (dilationH, dilationW) = (1, 1)
        } else {
            dilationH = Int(p.dilation[0]); dilationW = Int(p.dilation[p.dilation.count - 1])
        }
        guard dilationH > 0, dilationW > 0 else { throw fail("dilation must be nonzero") }

        is1x1 = kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard bottom.count == top.count else {
            throw shapeError(param, "needs as many tops as bottoms (\(bottom.count) bottoms, \(top.count) tops)")
        }
        let b = bottom[0]
        try checkAxes(b)
        let channels = b.shape[1]
        guard channels % group == 0 else {
            throw shapeError(param, "input channels \(channels) (bottom \(b.shapeString)) are not a multiple of group \(group)")
        }
        let weight = Blob(name: "\(param.name).weight", shape: [numOutput, channels / group, kernelH, kernelW])
        blobs = [weight]
        if biasTerm { blobs.append(Blob(name: "\(param.name).bias", shape: [numOutput])) }
        try reshape(bottom: bottom, top: top)
    }

    private func checkAxes(_ b: Blob) throws {
        let p = param.convolutionParam ?? ConvolutionParameter()
        let axis = Int(p.axis)
        guard axis >= -b.numAxes, axis < b.numAxes else {
            throw shapeError(param, "axis \(axis) out of range for bottom \(b.shapeString)")
        }
        let channelAxis = axis < 0 ? axis + b.numAxes : axis
        guard channelAxis == 1 else {
            throw shapeError(param, "convolution over channel axis \(channelAxis) is not implemented (only axis 1; bottom \(b.shapeString))")
        }
        guard b.numAxes == 4 else {
            throw shapeError(param, "\(b.numAxes - 2)-D convolution is not implemented, only 2-D (bottom \(b.shapeString) must have 4 axes)")
        }
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        try checkAxes(b)
        for (i, other) in bottom.enumerated() where other.shape != b.shape {
            throw shapeError(param, "all bottoms must have the same shape (bottom 0 \(b.shapeString), bottom \(i) \(other.shapeString))")
        }
        for (i, t) in top.enumerated() where bottom.contains(where: { $0 === t }) {
            throw shapeError(param, "top \(i) '\(t.name)' is also a bottom: in-place convolution is not supported")
        }
        let weight = blobs[0]
        let channels = b.shape[1]
        guard channels == weight.shape[1] * group else {
            throw shapeError(param, "input channels \(channels) (bottom \(b.shapeString)) do not fit weight \(weight.shapeString) with group \(group)")
        }
        let g = ConvGeometry(channels: channels, height: b.shape[2], width: b.shape[3],
                             kernelH: kernelH, kernelW: kernelW, padH: padH, padW: padW,
                             strideH: strideH, strideW: strideW, dilationH: dilationH, dilationW: dilationW)
        let extentH = dilationH * (kernelH - 1) + 1, extentW = dilationW * (kernelW - 1) + 1
        guard b.shape[2] + 2 * padH >= extentH, b.shape[3] + 2 * padW >= extentW else {
            throw shapeError(param, "kernel extent \(extentH)×\(extentW) is larger than the padded input \(b.shape[2] + 2 * padH)×\(b.shape[3] + 2 * padW) (bottom \(b.shapeString), pad \(padH)×\(padW))")
        }
        // Hostile sizes (a pad or dilation near 2^32) give an output plane or a column matrix
        // ((C·kh·kw + O) × OH·OW floats per image) beyond Int: refuse them before a product traps.
        let (kernelArea, o1) = kernelH.multipliedReportingOverflow(by: kernelW)
        let (colRows, o2) = channels.multipliedReportingOverflow(by: kernelArea)
        let (outSpatial, o3) = g.outH.multipliedReportingOverflow(by: g.outW)
        let (rowsPerImage, o4) = colRows.addingReportingOverflow(numOutput)
        let (perImageFloats, o5) = rowsPerImage.multipliedReportingOverflow(by: outSpatial)
        let (perImageBytes, o6) = perImageFloats.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        let what = "layer '\(param.name)' (\(param.type)): the column buffer of one image (\(rowsPerImage)×\(outSpatial) floats, output \(g.outH)×\(g.outW))"
        if o1 || o2 || o3 || o4 || o5 || o6 {
            try MemoryGuard().check(estimatedBytes: Int.max, what: "layer '\(param.name)' (\(param.type)): the column buffer of one image (\(channels) channels, kernel \(kernelH)×\(kernelW), output \(g.outH)×\(g.outW))")
        }
        // The scratch is allocated here, before the net's own memory check: a buffer larger than
        // the block bound (one image does not fit) is checked against the machine first.
        if perImageBytes > tuning.maxScratchBytes {
            try MemoryGuard().check(estimatedBytes: perImageBytes, what: what)
        }
        geometry = g
        num = b.shape[0]
        for t in top { t.reshape([num, numOutput, g.outH, g.outW]) }
        imagesPerBlock = ConvolutionLayer.blockImages(num: num, colRows: g.colRows, outChannels: numOutput,
                                                      outSpatial: g.outSpatial, tuning: tuning)
        let eligible = kernelH == 3 && kernelW == 3 && strideH == 1 && strideW == 1
            && dilationH == 1 && dilationW == 1 && padH <= 2 && padW <= 2
        winogradTile = 2
        switch winogradChoice {
        case .never: usesWinograd = false
        case .always: usesWinograd = eligible
        case .f43: usesWinograd = eligible; winogradTile = 4
        case .automatic:
            usesWinograd = eligible && tuning.winogradEnabled
                && channels / group >= tuning.winogradMinChannels
                && numOutput / group >= tuning.winogradMinChannels
            if usesWinograd { winogradTile = tuning.winogradTile(images: num, outH: g.outH, outW: g.outW) }
        }
        usesDepthwiseKernel = depthwiseKernelEnabled
            && DepthwiseConvolution.applies(channels: channels, numOutput: numOutput, group: group)
        if usesDepthwiseKernel { usesWinograd = false }
        if usesWinograd {
            // V and M of one block: α²·(C + O) floats per tile, for the larger of the two directions.
            let tiles = winogradTile == 4
                ? max(forwardWinogradF43.tilesPerImage, inputGradientWinogradF43.tilesPerImage)
                : max(forwardWinograd.tilesPerImage, inputGradientWinograd.tilesPerImage)
            let positions = winogradTile == 4 ? WinogradF43.positions : 16
            let perImage = positions * (channels + numOutput) * tiles * MemoryLayout<Float>.stride
            let byMemory = max(1, tuning.maxScratchBytes / max(perImage, 1))
            let byTiles = max(1, (tuning.winogradTargetTiles + tiles - 1) / tiles)
            let most = min(num, byMemory, byTiles)
            let blocks = (num + most - 1) / max(most, 1)
            winogradImagesPerBlock = max(1, (num + blocks - 1) / max(blocks, 1))
        }
        winogradUValid = false
        ConvScratchPool.shared.reserve(floats: scratchFloats)
    }

    /// The algorithm the current shape runs through (benchmarks print it).
    public var algorithmName: String {
        usesWinograd ? (winogradTile == 4 ? "winograd-f43" : "winograd-f23") : is1x1 ? "1x1-gemm" : "im2col-gemm"
    }

    /// Forward as a Winograd problem: C → O over the padded input.
    var forwardWinograd: WinogradF23 {
        WinogradF23(inChannels: geometry.channels, outChannels: numOutput, group: group,
                    height: geometry.height, width: geometry.width, padH: padH, padW: padW)
    }

    /// The input gradient as a Winograd problem: O → C over the top diff, pad 2 − pad.
    var inputGradientWinograd: WinogradF23 {
        WinogradF23(inChannels: numOutput, outChannels: geometry.channels, group: group,
                    height: geometry.outH, width: geometry.outW, padH: 2 - padH, padW: 2 - padW)
    }

    /// Forward as an F(4×4, 3×3) problem.
    var forwardWinogradF43: WinogradF43 {
        WinogradF43(inChannels: geometry.channels, outChannels: numOutput, group: group,
                    height: geometry.height, width: geometry.width, padH: padH, padW: padW)
    }

    /// The input gradient as an F(4×4, 3×3) problem: O → C over the top diff, pad 2 − pad.
    var inputGradientWinogradF43: WinogradF43 {
        WinogradF43(inChannels: numOutput, outChannels: geometry.channels, group: group,
                    height: geometry.outH, width: geometry.outW, padH: 2 - padH, padW: 2 - padW)
    }

    /// Overrides the block size chosen at reshape (tests and benchmarks; until the next reshape).
    public func useImagesPerBlock(_ n: Int) {
        imagesPerBlock = max(1, min(n, max(num, 1)))
        winogradImagesPerBlock = imagesPerBlock
        ConvScratchPool.shared.reserve(floats: scratchFloats)
    }

    /// Column matrix + GEMM-layout output of one block.
    var scratchFloats: Int {
        let lowering = (geometry.colRows + numOutput) * imagesPerBlock * geometry.outSpatial
        guard usesWinograd else { return lowering }
        if winogradTile == 4 {
            return max(lowering, forwardWinogradF43.scratchFloats(images: winogradImagesPerBlock),
                       inputGradientWinogradF43.scratchFloats(images: winogradImagesPerBlock))
        }
        return max(lowering, forwardWinograd.scratchFloats(images: winogradImagesPerBlock),
                   inputGradientWinograd.scratchFloats(images: winogradImagesPerBlock))
    }

    /// dW += Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)]G: the weight gradient of Winograd's forward, as 16
    /// GEMMs dU_ξ += dM_ξ·V_ξᵀ accumulated over the blocks (no im2col). Scratch: dU, V, dM.
    private func winogradWeightGradient(input: UnsafePointer<Float>, topDiff: UnsafePointer<Float>,
                                        scratch: UnsafeMutablePointer<Float>) {
        if winogradTile == 4 { winogradF43WeightGradient(input: input, topDiff: topDiff, scratch: scratch); return }
        let w = forwardWinograd
        let du = scratch
        let duFloats = 16 * w.uStride
        let v = du + duFloats
        let nb = winogradImagesPerBlock
        let dm = v + 16 * w.vStride(images: nb)
        du.update(repeating: 0, count: duFloats)
        let inPlane = w.inChannels * w.height * w.width, outPlane = w.outChannels * w.outH * w.outW
        var first = 0
        while first < num {
            let n = min(nb, num - first)
            w.transformInput(input + first * inPlane, images: n, into: v)
            w.transformOutputGradient(topDiff + first * outPlane, images: n, into: dm)
            w.multiplyWeightGradient(dm: dm, v: v, images: n, into: du)
            first += n
        }
        w.addWeightGradient(du, into: blobs[0].diff)
    }

    /// `winogradWeightGradient` for F(4×4, 3×3): 36 planes.
    private func winogradF43WeightGradient(input: UnsafePointer<Float>, topDiff: UnsafePointer<Float>,
                                           scratch: UnsafeMutablePointer<Float>) {
        let w = forwardWinogradF43
        let du = scratch
        let duFloats = 36 * w.uStride
        let v = du + duFloats
        let nb = winogradImagesPerBlock
        let dm = v + 36 * w.vStride(images: nb)
        du.update(repeating: 0, count: duFloats)
        let inPlane = w.inChannels * w.height * w.width, outPlane = w.outChannels * w.outH * w.outW
        var first = 0
        while first < num {
            let n = min(nb, num - first)
            w.transformInput(input + first * inPlane, images: n, into: v)
            w.transformOutputGradient(topDiff + first * outPlane, images: n, into: dm)
            w.multiplyWeightGradient(dm: dm, v: v, images: n, into: du)
            first += n
        }
        w.addWeightGradient(du, into: blobs[0].diff)
    }

    /// Runs an F(4×4, 3×3) convolution over all images in blocks (scratch: V, then M) with the
    /// transformed weights `u` of that problem.
    private func runWinogradF43(_ w: WinogradF43, u: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>) {
        let v = scratch
        let nb = winogradImagesPerBlock
        let m = v + 36 * w.vStride(images: nb)
        let inPlane = w.inChannels * w.height * w.width, outPlane = w.outChannels * w.outH * w.outW
        var first = 0
        while first < num {
            let n = min(nb, num - first)
            w.transformInput(input + first * inPlane, images: n, into: v)
            w.multiply(u: u, v: v, images: n, into: m)
            w.transformOutput(m, images: n, bias: bias, into: output + first * outPlane)
            first += n
        }
    }

    /// F(4×4, 3×3)'s input gradient needs the flipped kernel's own transform (WinogradF43.swift):
    /// computed once per backward pass into this buffer.
    private var winogradUBackward: UnsafeMutablePointer<Float>?
    private var winogradUBackwardCapacity = 0

    private func backwardTransformedWeightsF43() -> UnsafeMutablePointer<Float> {
        let w = inputGradientWinogradF43
        let need = 36 * w.uStride
        if winogradUBackward == nil || winogradUBackwardCapacity < need {
            free(winogradUBackward)
            winogradUBackward = Blob.allocate(need)
            winogradUBackwardCapacity = need
        }
        w.transformWeights(blobs[0].data, flipTranspose: true, into: winogradUBackward!)
        return winogradUBackward!
    }

    /// The transformed weights U of the forward problem (16·uStride floats), owned by the layer:
    /// computed once per forward pass and reused by that pass's backward (the input gradient reads
    /// it transposed, `WinogradF23.multiply(forwardTransposed:)`), so an iteration transforms its
    /// weights once. Allocated at the first forward that needs it, grown on reshape.
    private var winogradU: UnsafeMutablePointer<Float>?
    private var winogradUCapacity = 0
    /// Whether `winogradU` holds the transform of the weights the last forward used.
    private var winogradUValid = false

    deinit { free(winogradU); free(winogradUBackward) }

    /// The layer's U buffer, of at least the forward problem's size.
    private func transformedWeightsBuffer() -> UnsafeMutablePointer<Float> {
        let need = winogradTile == 4 ? 36 * forwardWinogradF43.uStride : 16 * forwardWinograd.uStride
        if let u = winogradU, winogradUCapacity >= need { return u }
        free(winogradU)
        let u = Blob.allocate(need)
        winogradU = u
        winogradUCapacity = need
        return u
    }

    /// Transforms the current weights into the layer's U (forward pass).
    private func refreshTransformedWeights() -> UnsafeMutablePointer<Float> {
        let u = transformedWeightsBuffer()
        if winogradTile == 4 {
            forwardWinogradF43.transformWeights(blobs[0].data, flipTranspose: false, into: u)
        } else {
            forwardWinograd.transformWeights(blobs[0].data, flipTranspose: false, into: u)
        }
        winogradUValid = true
        return u
    }

    /// U for the backward pass: the forward's, or (a backward without a forward since the last
    /// reshape) the current weights' transform.
    private func transformedWeightsForBackward() -> UnsafeMutablePointer<Float> {
        if winogradUValid, let u = winogradU { return u }
        return refreshTransformedWeights()
    }

    /// Runs a Winograd convolution over all images in blocks: `weightsFlipped` selects the
    /// input-gradient form (U is then the forward problem's, read transposed). Scratch layout: V,
    /// then M.
    private func runWinograd(_ w: WinogradF23, weightsFlipped: Bool, u: UnsafePointer<Float>,
                             input: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                             scratch: UnsafeMutablePointer<Float>) {
        let v = scratch
        let nb = winogradImagesPerBlock
        let m = v + 16 * w.vStride(images: nb)
        let inPlane = w.inChannels * w.height * w.width, outPlane = w.outChannels * w.outH * w.outW
        var first = 0
        while first < num {
            let n = min(nb, num - first)
            w.transformInput(input + first * inPlane, images: n, into: v)
            w.multiply(u: u, v: v, images: n, into: m, forwardTransposed: weightsFlipped)
            w.transformOutput(m, images: n, bias: bias, into: output + first * outPlane)
            first += n
        }
    }

    /// Images per block: as many as reach `targetColumns` GEMM columns without the block's scratch
    /// exceeding `maxScratchBytes` (at least one), then evened out over the blocks of the batch.
    public static func blockImages(num: Int, colRows: Int, outChannels: Int, outSpatial: Int,
                                   tuning: ConvolutionTuning = .default) -> Int {
        guard num > 0, outSpatial > 0 else { return 1 }
        let perImage = (colRows + outChannels) * outSpatial * MemoryLayout<Float>.stride
        let byMemory = max(1, tuning.maxScratchBytes / max(perImage, 1))
        let byColumns = max(1, (tuning.targetColumns + outSpatial - 1) / outSpatial)
        let most = min(num, byMemory, byColumns)
        let blocks = (num + most - 1) / most
        return (num + blocks - 1) / blocks
    }

    /// Multiply-adds ×2 of one forward pass (the backward pass costs twice that with bottom diff).
    public var forwardFLOPs: Double {
        2 * Double(num) * Double(numOutput) * Double(geometry.colRows / group) * Double(geometry.outSpatial)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let g = geometry
        let outChannels = numOutput, outSpatial = g.outSpatial, inSpatial = g.inSpatial
        let groupOut = numOutput / group, groupK = g.colRows / group
        let scratch = ConvScratchPool.shared.acquire(floats: scratchFloats)
        defer { ConvScratchPool.shared.release(scratch) }
        let weight = UnsafePointer(blobs[0].data)
        let bias: UnsafePointer<Float>? = biasTerm ? UnsafePointer(blobs[1].data) : nil
        if usesDepthwiseKernel { depthwiseForward(bottom: bottom, top: top); return }

        if usesWinograd { _ = refreshTransformedWeights() }
        for (b, t) in zip(bottom, top) {
            if usesWinograd && winogradTile == 4 {
                runWinogradF43(forwardWinogradF43, u: winogradU!, input: b.data, bias: bias, output: t.data,
                               scratch: scratch.pointer)
                continue
            }
            if usesWinograd {
                runWinograd(forwardWinograd, weightsFlipped: false, u: winogradU!,
                            input: b.data, bias: bias, output: t.data, scratch: scratch.pointer)
                continue
            }
            var first = 0
            while first < num {
                let n = min(imagesPerBlock, num - first)
                let columns = n * outSpatial
                let input = UnsafePointer(b.data + first * g.channels * inSpatial)
                let col = scratch.pointer
                let gemmOut = scratch.pointer + g.colRows * columns
                let topBlock = t.data + first * outChannels * outSpatial

                let colMatrix = columnMatrix(g, input: input, count: n, inSpatial: inSpatial, col: col)
                // One image: the (O × OH·OW) GEMM output already is its NCHW slice.
                let out = n == 1 ? topBlock : gemmOut
                // Caffe conv_layer.cpp forward_cpu_gemm: top_g = W_g · col_g per group.
                for grp in 0..<group {
                    sgemm(transA: false, transB: false, m: groupOut, n: columns, k: groupK, alpha: 1,
                          a: weight + grp * groupOut * groupK, lda: groupK,
                          b: colMatrix + grp * groupK * columns, ldb: columns,
                          beta: 0, c: out + grp * groupOut * columns, ldc: columns)
                }
                if n > 1 {
                    reorderBlock(channels: outChannels, spatial: outSpatial, count: n, toChannelMajor: false,
                                 src: gemmOut, dst: topBlock)
                }
                // Caffe forward_cpu_bias: top += bias·1ᵀ after the product (one float add each).
                if let bias {
                    parallelChunks(n * outChannels, minChunk: max(1, 32_768 / max(outSpatial, 1))) { range in
                        for row in range {
                            let v = bias[row % outChannels]
                            let r = topBlock + row * outSpatial
                            for p in 0..<outSpatial { r[p] += v }
                        }
                    }
                }
                first += n
            }
        }
    }

    /// The block's column matrix (K × n·OH·OW): im2col, or for a 1×1 stride-1 unpadded
    /// convolution the input itself (one image) or its channel-major reordering (several).
    private func columnMatrix(_ g: ConvGeometry, input: UnsafePointer<Float>, count n: Int, inSpatial: Int,
                              col: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        if is1x1 {
            if n == 1 { return input }
            reorderBlock(channels: g.channels, spatial: inSpatial, count: n, toChannelMajor: true, src: input, dst: col)
        } else {
            im2colBlock(g, input: input, count: n, col: col)
        }
        return UnsafePointer(col)
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let g = geometry
        let outChannels = numOutput, outSpatial = g.outSpatial, inSpatial = g.inSpatial
        let groupOut = numOutput / group, groupK = g.colRows / group
        let scratch = ConvScratchPool.shared.acquire(floats: scratchFloats)
        defer { ConvScratchPool.shared.release(scratch) }
        let weight = UnsafePointer(blobs[0].data)
        let weightDiff = blobs[0].diff
        // F(4×4, 3×3): the flipped kernel's transform, made at the first bottom that needs it.
        var backwardU: UnsafeMutablePointer<Float>? = nil

        for (i, (b, t)) in zip(bottom, top).enumerated() {
            let topDiff = UnsafePointer(t.diff)
            // Caffe backward_cpu_bias, per image: dbias[o] += Σ_p dtop[img, o, p] (accumulates).
            if biasTerm {
                let biasDiff = blobs[1].diff
                let images = num
                parallelFor(outChannels) { o in
                    var acc = biasDiff[o]
                    for img in 0..<images {
                        let r = topDiff + (img * outChannels + o) * outSpatial
                        var s: Float = 0
                        for p in 0..<outSpatial { s += r[p] }
                        acc += s
                    }
                    biasDiff[o] = acc
                }
            }
            let down = i < propagateDown.count && propagateDown[i]
            if usesDepthwiseKernel { depthwiseBackward(bottom: b, top: t, propagateDown: down); continue }
            if usesWinograd {
                winogradWeightGradient(input: b.data, topDiff: topDiff, scratch: scratch.pointer)
                if down && winogradTile == 4 {
                    if backwardU == nil { backwardU = backwardTransformedWeightsF43() }
                    runWinogradF43(inputGradientWinogradF43, u: backwardU!, input: topDiff, bias: nil,
                                   output: b.diff, scratch: scratch.pointer)
                } else if down {
                    // The same result as W_gᵀ·dtop + col2im, as a 3×3 convolution of the top diff.
                    runWinograd(inputGradientWinograd, weightsFlipped: true, u: transformedWeightsForBackward(),
                                input: topDiff, bias: nil, output: b.diff, scratch: scratch.pointer)
                }
                continue
            }
            var first = 0
            while first < num {
                let n = min(imagesPerBlock, num - first)
                let columns = n * outSpatial
                let input = UnsafePointer(b.data + first * g.channels * inSpatial)
                let col = scratch.pointer
                let gemmTop = scratch.pointer + g.colRows * columns
                let topBlock = topDiff + first * outChannels * outSpatial
                let bottomDiffBlock = b.diff + first * g.channels * inSpatial

                let dtop: UnsafePointer<Float>
                if n == 1 { dtop = topBlock } else {
                    reorderBlock(channels: outChannels, spatial: outSpatial, count: n, toChannelMajor: true,
                                 src: topBlock, dst: gemmTop)
                    dtop = UnsafePointer(gemmTop)
                }
                let colMatrix = columnMatrix(g, input: input, count: n, inSpatial: inSpatial, col: col)
                // Caffe weight_cpu_gemm: dW_g += dtop_g · col_gᵀ (beta 1: parameter diffs accumulate).
                for grp in 0..<group {
                    sgemm(transA: false, transB: true, m: groupOut, n: groupK, k: columns, alpha: 1,
                          a: dtop + grp * groupOut * columns, lda: columns,
                          b: colMatrix + grp * groupK * columns, ldb: columns,
                          beta: 1, c: weightDiff + grp * groupOut * groupK, ldc: groupK)
                }
                if down {
                    // Caffe backward_cpu_gemm: dcol_g = W_gᵀ · dtop_g, then col2im (overwrites).
                    // The column matrix is dead after dW, so dcol reuses its space.
                    let direct = is1x1 && n == 1
                    let dcol = direct ? bottomDiffBlock : col
                    for grp in 0..<group {
                        sgemm(transA: true, transB: false, m: groupK, n: columns, k: groupOut, alpha: 1,
                              a: weight + grp * groupOut * groupK, lda: groupK,
                              b: dtop + grp * groupOut * columns, ldb: columns,
                              beta: 0, c: dcol + grp * groupK * columns, ldc: columns)
                    }
                    if is1x1 {
                        if !direct {
                            reorderBlock(channels: g.channels, spatial: inSpatial, count: n, toChannelMajor: false,
                                         src: col, dst: bottomDiffBlock)
                        }
                    } else {
                        col2imBlock(g, col: col, count: n, output: bottomDiffBlock)
                    }
                }
                first += n
            }
        }
    }
}

/// How convolution layers choose and size their algorithms: an immutable value in the layer
/// context (`LayerContext.convolutionTuning`), so benchmarks can vary it per net without global
/// mutable state. Runs use `.default`, the measured choices below.
public struct ConvolutionTuning: Sendable, Equatable {
    /// Winograd F(2×2, 3×3) for eligible layers (3×3, stride 1, dilation 1, pad ≤ 2). With
    /// im2col + GEMM alone the seed net's 16 convolutions need ≈ 3.2 s of pure GEMM per
    /// iteration on one core at 98 GFLOP/s (measured with ConvBench), over the 1.7 s bar even with
    /// perfect two-core scaling; Winograd cuts the FLOPs of all three products by 2.25×.
    public var winogradEnabled = true
    /// With `.automatic`, Winograd is used only when both channel counts (per group) reach this.
    /// Measured with ConvBench (one core, CPU time, batch 128, seed-net shapes): Winograd beats
    /// im2col + GEMM from 64 channels on (conv1_2 forward + backward 221 ms vs 404 ms; conv4_2
    /// 170 ms vs 363 ms); the 3-channel first layer stays on im2col (its GEMM has K = 27 anyway).
    public var winogradMinChannels = 32
    /// Tiles (GEMM columns) a Winograd block aims for; 256 measured best over 128, 512 and 1024
    /// (whole-iteration conv time on one core 1987 ms vs 2063 and 2015 ms): V and M stay in cache.
    public var winogradTargetTiles = 256
    /// F(4×4, 3×3) instead of F(2×2, 3×3) when the batch has at least this many 4×4 output
    /// tiles (images × ⌈OH/4⌉·⌈OW/4⌉; `winogradTile`). F(4×4, 3×3) needs 44% fewer products but
    /// its transformed weights are 36/9 the weights' size: with few tiles the 36 GEMMs only stream
    /// U. Measured with `initdiag bench --convolutions` (2 threads, Zen 4, seed-net shapes,
    /// forward + backward; Reports/BENCHMARKS.md): a clear gain from 2048 tiles on (conv1_2 at
    /// batch 128, 8192 tiles: 193 vs 255 ms; conv2_x at batch 128, 2048 tiles: 86 vs 90 and 132
    /// vs 144 ms); mixed from 256 to 1024 (conv3_x at batch 128, 512 tiles: −10%; conv1_2 and
    /// conv2_x at batch 16, 1024 and 256 tiles: ±10% between runs, a tie); a loss below (conv4_x
    /// at batch 16: 16 tiles, 2.4× slower). F(4×4) also rounds ≈ 3× more, and runs whose outcome
    /// hangs on rounding change with it (the demo's batch-16 BatchNorm variants diverged at other
    /// iterations or not at all with F(4×4) in conv1_2 and conv2_x): where it is not clearly
    /// faster it is not worth that, hence 2048. `Int.max` keeps F(2×2, 3×3) everywhere.
    public var winogradF43MinTiles = 2048

    /// The Winograd output tile `.automatic` picks for `images` output planes of OH × OW (2 or 4).
    public func winogradTile(images: Int, outH: Int, outW: Int) -> Int {
        let (tiles, overflow) = images.multipliedReportingOverflow(by: ((outH + 3) / 4) * ((outW + 3) / 4))
        return !overflow && tiles >= winogradF43MinTiles ? 4 : 2
    }
    /// Upper bound of the scratch of one block: column matrix + GEMM output, or for Winograd the
    /// transformed input and product matrices (the transformed weights, 16·O·C/g floats, are held
    /// by the layer). All layers share one scratch buffer (`ConvScratchPool`).
    public var maxScratchBytes = 32 << 20
    /// GEMM columns (images·OH·OW) a block aims for: OpenBLAS is near its peak from N ≈ 1k–4k on, and
    /// larger N only streams the output through memory (docs/toolchain.md: conv1_x at N = 131072 runs at
    /// half the speed of N = 1k–8k).
    public var targetColumns = 1024

    public init() {}
    public static let `default` = ConvolutionTuning()
}
