import InitDiagCore
import InitDiagTrace
/// Caffe's Deconvolution (BVLC/caffe src/caffe/layers/deconv_layer.cpp, base_conv_layer.cpp):
/// the forward pass is the backward-data pass of a convolution. Parameters are
/// ConvolutionParameter's (num_output, kernel, stride, pad, dilation, group, bias_term, fillers);
/// weight (C_in, num_output/group, kh, kw) — Caffe's reversed dimensions, the layout of PyTorch's
/// ConvTranspose2d — and bias (num_output). Output size per spatial axis:
///   out = stride·(in − 1) + dilation·(k − 1) + 1 − 2·pad.
/// top[n, o, y, x] = b[o] + Σ_{c in group(o), i, j, (h, w): h·s − p + i·d = y, w·s − p + j·d = x}
///                   W[c, o', i, j] · bottom[n, c, h, w].
/// Computed as in Caffe: col_g = W_gᵀ · bottom_g (GEMM), then col2im onto the top; backward:
/// dW_g += bottom_g · im2col(dtop)_gᵀ, dbottom_g = W_g · im2col(dtop)_g, db = Σ dtop. Like
/// Convolution, a block of images is lowered at once (batch folded into the GEMM's N).
///
/// Fans: Caffe's fillers take fan_in = count/shape(0) = (num_output/group)·kh·kw and fan_out =
/// count/shape(1) = C_in·kh·kw of this blob. PyTorch's ConvTranspose2d default init
/// (kaiming_uniform_(a=√5) via _calculate_fan_in_and_fan_out) reads the same tensor layout and
/// also gets fan_in = size(1)·kh·kw = (num_output/group)·kh·kw, so the schemes use the blob's
/// shape as it is. Not in place.
public final class DeconvolutionLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    /// The parsed convolution parameters (kernel, stride, pad, dilation, group, bias_term).
    private let spec: ConvolutionLayer
    public var numOutput: Int { spec.numOutput }
    public var group: Int { spec.group }
    public var biasTerm: Bool { spec.biasTerm }
    /// The convolution whose backward-data pass this layer's forward is: num_output channels on
    /// the top's plane, its output plane the bottom's.
    public private(set) var geometry = ConvGeometry(channels: 0, height: 0, width: 0, kernelH: 1, kernelW: 1)
    private var num = 0, inChannels = 0
    private var imagesPerBlock = 1

    public static var minBottoms: Int { 1 }
    public static var minTops: Int { 1 }
    public static var role: LayerRole { .weighted }
    public var meanField: MeanFieldRule { .linear }
    public var declaredFillers: [FillerParameter] {
        let p = param.convolutionParam ?? ConvolutionParameter(), zero = FillerParameter(type: "constant")
        return Array([p.weightFiller ?? zero, p.biasFiller ?? zero].prefix(blobs.count))
    }
    public var schemeTargets: SchemeTargets? {
        guard let w = blobs.first else { return nil }
        return SchemeTargets(weight: 0, bias: biasTerm ? 1 : nil, fanShape: w.shape)
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        spec = try ConvolutionLayer(param: param, context: context)
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
        blobs = [Blob(name: "\(param.name).weight", shape: [channels, numOutput / group, spec.kernelH, spec.kernelW])]
        if biasTerm { blobs.append(Blob(name: "\(param.name).bias", shape: [numOutput])) }
        try reshape(bottom: bottom, top: top)
    }

    private func checkAxes(_ b: Blob) throws {
        let axis = Int((param.convolutionParam ?? ConvolutionParameter()).axis)
        guard axis >= -b.numAxes, axis < b.numAxes else {
            throw shapeError(param, "axis \(axis) out of range for bottom \(b.shapeString)")
        }
        guard (axis < 0 ? axis + b.numAxes : axis) == 1 else {
            throw shapeError(param, "deconvolution over channel axis \(axis) is not implemented (only axis 1; bottom \(b.shapeString))")
        }
        guard b.numAxes == 4 else {
            throw shapeError(param, "\(b.numAxes - 2)-D deconvolution is not implemented, only 2-D (bottom \(b.shapeString) must have 4 axes)")
        }
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        try checkAxes(b)
        for (i, other) in bottom.enumerated() where other.shape != b.shape {
            throw shapeError(param, "all bottoms must have the same shape (bottom 0 \(b.shapeString), bottom \(i) \(other.shapeString))")
        }
        for (i, t) in top.enumerated() where bottom.contains(where: { $0 === t }) {
            throw shapeError(param, "top \(i) '\(t.name)' is also a bottom: in-place deconvolution is not supported")
        }
        let channels = b.shape[1]
        guard channels == blobs[0].shape[0] else {
            throw shapeError(param, "input channels \(channels) (bottom \(b.shapeString)) do not fit weight \(blobs[0].shapeString)")
        }
        let extentH = spec.dilationH * (spec.kernelH - 1) + 1, extentW = spec.dilationW * (spec.kernelW - 1) + 1
        // Caffe deconv_layer.cpp compute_output_shape.
        let (sh, o1) = spec.strideH.multipliedReportingOverflow(by: b.shape[2] - 1)
        let (sw, o2) = spec.strideW.multipliedReportingOverflow(by: b.shape[3] - 1)
        let outH = sh + extentH - 2 * spec.padH, outW = sw + extentW - 2 * spec.padW
        guard !o1, !o2, b.shape[2] > 0, b.shape[3] > 0, outH > 0, outW > 0 else {
            throw shapeError(param, "output size \(outH)×\(outW) is not positive (bottom \(b.shapeString), kernel extent \(extentH)×\(extentW), stride \(spec.strideH)×\(spec.strideW), pad \(spec.padH)×\(spec.padW))")
        }
        let g = ConvGeometry(channels: numOutput, height: outH, width: outW, kernelH: spec.kernelH, kernelW: spec.kernelW,
                             padH: spec.padH, padW: spec.padW, strideH: spec.strideH, strideW: spec.strideW,
                             dilationH: spec.dilationH, dilationW: spec.dilationW)
        // The column matrix of one image: (num_output·kh·kw + C_in) × H·W floats.
        let (perImage, o3) = (g.colRows + channels).multipliedReportingOverflow(by: g.outSpatial)
        if o3 || perImage > spec.tuning.maxScratchBytes / MemoryLayout<Float>.stride {
            try MemoryGuard().check(estimatedBytes: o3 ? Int.max : perImage * MemoryLayout<Float>.stride,
                                    what: "layer '\(param.name)' (Deconvolution): the column buffer of one image (\(g.colRows + channels)×\(g.outSpatial) floats)")
        }
        geometry = g
        num = b.shape[0]
        inChannels = channels
        for t in top { t.reshape([num, numOutput, outH, outW]) }
        imagesPerBlock = ConvolutionLayer.blockImages(num: num, colRows: g.colRows, outChannels: channels,
                                                      outSpatial: g.outSpatial)
        ConvScratchPool.shared.reserve(floats: scratchFloats)
    }

    private var scratchFloats: Int { (geometry.colRows + inChannels) * imagesPerBlock * geometry.outSpatial }

    /// Overrides the block size chosen at reshape (tests; until the next reshape).
    public func useImagesPerBlock(_ n: Int) {
        imagesPerBlock = max(1, min(n, max(num, 1)))
        ConvScratchPool.shared.reserve(floats: scratchFloats)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let g = geometry, C = inChannels, O = numOutput
        let inSpatial = g.outSpatial, outSpatial = g.inSpatial
        let groupIn = C / group, groupK = g.colRows / group
        let scratch = ConvScratchPool.shared.acquire(floats: scratchFloats)
        defer { ConvScratchPool.shared.release(scratch) }
        let weight = UnsafePointer(blobs[0].data)
        for (b, t) in zip(bottom, top) {
            var first = 0
            while first < num {
                let n = min(imagesPerBlock, num - first)
                let columns = n * inSpatial
                let col = scratch.pointer, xcm = scratch.pointer + g.colRows * columns
                let input = UnsafePointer(b.data + first * C * inSpatial)
                let x: UnsafePointer<Float>
                if n == 1 { x = input } else {
                    reorderBlock(channels: C, spatial: inSpatial, count: n, toChannelMajor: true, src: input, dst: xcm)
                    x = UnsafePointer(xcm)
                }
                // base_conv_layer.cpp backward_cpu_gemm: col_g = W_gᵀ · x_g.
                for grp in 0..<group {
                    sgemm(transA: true, transB: false, m: groupK, n: columns, k: groupIn, alpha: 1,
                          a: weight + grp * groupIn * groupK, lda: groupK,
                          b: x + grp * groupIn * columns, ldb: columns,
                          beta: 0, c: col + grp * groupK * columns, ldc: columns)
                }
                let topBlock = t.data + first * O * outSpatial
                col2imBlock(g, col: col, count: n, output: topBlock)
                if biasTerm {
                    let bias = UnsafePointer(blobs[1].data)
                    parallelChunks(n * O, minChunk: max(1, 32_768 / max(outSpatial, 1))) { range in
                        for row in range {
                            let v = bias[row % O], r = topBlock + row * outSpatial
                            for p in 0..<outSpatial { r[p] += v }
                        }
                    }
                }
                first += n
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let g = geometry, C = inChannels, O = numOutput
        let inSpatial = g.outSpatial, outSpatial = g.inSpatial
        let groupIn = C / group, groupK = g.colRows / group
        let scratch = ConvScratchPool.shared.acquire(floats: scratchFloats)
        defer { ConvScratchPool.shared.release(scratch) }
        let weight = UnsafePointer(blobs[0].data), weightDiff = blobs[0].diff
        for (i, (b, t)) in zip(bottom, top).enumerated() {
            let topDiff = UnsafePointer(t.diff)
            if biasTerm {
                let biasDiff = blobs[1].diff, images = num
                parallelFor(O) { o in
                    var acc = biasDiff[o]
                    for img in 0..<images {
                        let r = topDiff + (img * O + o) * outSpatial
                        var s: Float = 0
                        for p in 0..<outSpatial { s += r[p] }
                        acc += s
                    }
                    biasDiff[o] = acc
                }
            }
            let down = i < propagateDown.count && propagateDown[i]
            var first = 0
            while first < num {
                let n = min(imagesPerBlock, num - first)
                let columns = n * inSpatial
                let col = scratch.pointer, xcm = scratch.pointer + g.colRows * columns
                im2colBlock(g, input: topDiff + first * O * outSpatial, count: n, col: col)
                let input = UnsafePointer(b.data + first * C * inSpatial)
                let x: UnsafePointer<Float>
                if n == 1 { x = input } else {
                    reorderBlock(channels: C, spatial: inSpatial, count: n, toChannelMajor: true, src: input, dst: xcm)
                    x = UnsafePointer(xcm)
                }
                // weight_cpu_gemm with the roles swapped: dW_g += x_g · col_gᵀ.
                for grp in 0..<group {
                    sgemm(transA: false, transB: true, m: groupIn, n: groupK, k: columns, alpha: 1,
                          a: x + grp * groupIn * columns, lda: columns,
                          b: col + grp * groupK * columns, ldb: columns,
                          beta: 1, c: weightDiff + grp * groupIn * groupK, ldc: groupK)
                }
                if down {
                    // forward_cpu_gemm: dx_g = W_g · col_g (overwrites).
                    let bottomDiffBlock = b.diff + first * C * inSpatial
                    let dx = n == 1 ? bottomDiffBlock : xcm
                    for grp in 0..<group {
                        sgemm(transA: false, transB: false, m: groupIn, n: columns, k: groupK, alpha: 1,
                              a: weight + grp * groupIn * groupK, lda: groupK,
                              b: col + grp * groupK * columns, ldb: columns,
                              beta: 0, c: dx + grp * groupIn * columns, ldc: columns)
                    }
                    if n > 1 {
                        reorderBlock(channels: C, spatial: inSpatial, count: n, toChannelMajor: false,
                                     src: xcm, dst: bottomDiffBlock)
                    }
                }
                first += n
            }
        }
    }
}
