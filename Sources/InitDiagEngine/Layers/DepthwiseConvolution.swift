import InitDiagCore
import InitDiagTrace
/// Direct depthwise convolution: the kernel ConvolutionLayer uses when group = C_in = C_out
/// (MobileNet's depthwise layers, channel multiplier 1). Each (image, channel) plane is convolved
/// with its own kh×kw filter; Caffe's grouped im2col + GEMM would run C tiny GEMMs with K = kh·kw
/// and M = 1 per block instead.
///
///   top[n, c, y, x] = b[c] + Σ_{i, j} W[c, 0, i, j] · in[n, c, y·s − p + i·d, x·s − p + j·d]
///   dW[c, 0, i, j] += Σ_{n, y, x} dtop[n, c, y, x] · in[n, c, y·s − p + i·d, x·s − p + j·d]
///   dbottom[n, c, h, w] = Σ over the (y, x, i, j) that read (h, w) of W[c, 0, i, j]·dtop[n, c, y, x]
///
/// Forward and backward-data run in parallel over the (n, c) planes, the weight gradient over the
/// channels (each thread owns its channels' kh·kw weights and runs the images in order, so the
/// sums do not depend on the thread count). The inner loops run along an output row over the
/// columns whose input falls inside the image (`ConvGeometry.validColumns`), contiguous for
/// stride 1. The kernel-tap order of the sums differs from the GEMM's, so results agree with the
/// im2col path to float rounding, not bit for bit.
enum DepthwiseConvolution {
    /// Whether a layer's shapes are depthwise: every group has one input and one output channel.
    static func applies(channels: Int, numOutput: Int, group: Int) -> Bool {
        group > 1 && channels == group && numOutput == group
    }

    static func forward(_ g: ConvGeometry, num: Int, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
        let oh = g.outH, ow = g.outW, inSpatial = g.inSpatial, outSpatial = oh * ow
        let kh = g.kernelH, kw = g.kernelW, C = g.channels
        parallelFor(num * C) { plane in
            let c = plane % C
            let src = input + plane * inSpatial, dst = output + plane * outSpatial
            let w = weight + c * kh * kw
            let b0 = bias?[c] ?? 0
            for p in 0..<outSpatial { dst[p] = 0 }
            for y in 0..<oh {
                let row = dst + y * ow
                for i in 0..<kh {
                    let ih = y * g.strideH - g.padH + i * g.dilationH
                    if ih < 0 || ih >= g.height { continue }
                    let srcRow = src + ih * g.width
                    for j in 0..<kw {
                        let (lo, hi) = g.validColumns(kj: j, outW: ow)
                        if hi <= lo { continue }
                        let wv = w[i * kw + j]
                        let s = srcRow + (j * g.dilationW - g.padW)
                        if g.strideW == 1 {
                            for x in lo..<hi { row[x] += wv * s[x] }
                        } else {
                            let st = g.strideW
                            for x in lo..<hi { row[x] += wv * s[x * st] }
                        }
                    }
                }
            }
            if bias != nil { for p in 0..<outSpatial { dst[p] += b0 } }
        }
    }

    /// dW += Σ dtop ⊗ input (accumulates, as Caffe's parameter diffs do).
    static func weightGradient(_ g: ConvGeometry, num: Int, input: UnsafePointer<Float>,
                               topDiff: UnsafePointer<Float>, weightDiff: UnsafeMutablePointer<Float>) {
        let oh = g.outH, ow = g.outW, inSpatial = g.inSpatial, outSpatial = oh * ow
        let kh = g.kernelH, kw = g.kernelW, C = g.channels
        parallelFor(C) { c in
            let dw = weightDiff + c * kh * kw
            // One accumulator per output column: the products of a tap are added elementwise
            // (vectorised, no dependency chain) over all images and rows, then the columns are
            // summed in order. The order is fixed, so the result does not depend on the threads.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(ow, 1)) { buffer in
                let acc = buffer.baseAddress!
                for i in 0..<kh {
                    for j in 0..<kw {
                        let (lo, hi) = g.validColumns(kj: j, outW: ow)
                        var total: Float = 0
                        if hi > lo {
                            for x in 0..<ow { acc[x] = 0 }
                            let offset = j * g.dilationW - g.padW, st = g.strideW
                            for n in 0..<num {
                                let plane = n * C + c
                                let src = input + plane * inSpatial, dy = topDiff + plane * outSpatial
                                for y in 0..<oh {
                                    let ih = y * g.strideH - g.padH + i * g.dilationH
                                    if ih < 0 || ih >= g.height { continue }
                                    let r = src + ih * g.width + offset, d = dy + y * ow
                                    if st == 1 {
                                        for x in lo..<hi { acc[x] += d[x] * r[x] }
                                    } else {
                                        for x in lo..<hi { acc[x] += d[x] * r[x * st] }
                                    }
                                }
                            }
                            for x in lo..<hi { total += acc[x] }
                        }
                        dw[i * kw + j] += total
                    }
                }
            }
        }
    }

    /// dbottom = the adjoint of `forward` applied to dtop (overwrites).
    static func inputGradient(_ g: ConvGeometry, num: Int, topDiff: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              bottomDiff: UnsafeMutablePointer<Float>) {
        let oh = g.outH, ow = g.outW, inSpatial = g.inSpatial, outSpatial = oh * ow
        let kh = g.kernelH, kw = g.kernelW, C = g.channels
        parallelFor(num * C) { plane in
            let c = plane % C
            let dx = bottomDiff + plane * inSpatial, dy = topDiff + plane * outSpatial
            let w = weight + c * kh * kw
            for p in 0..<inSpatial { dx[p] = 0 }
            for y in 0..<oh {
                let d = dy + y * ow
                for i in 0..<kh {
                    let ih = y * g.strideH - g.padH + i * g.dilationH
                    if ih < 0 || ih >= g.height { continue }
                    let dstRow = dx + ih * g.width
                    for j in 0..<kw {
                        let (lo, hi) = g.validColumns(kj: j, outW: ow)
                        if hi <= lo { continue }
                        let wv = w[i * kw + j]
                        let t = dstRow + (j * g.dilationW - g.padW)
                        if g.strideW == 1 {
                            for x in lo..<hi { t[x] += wv * d[x] }
                        } else {
                            let st = g.strideW
                            for x in lo..<hi { t[x * st] += wv * d[x] }
                        }
                    }
                }
            }
        }
    }
}

extension ConvolutionLayer {
    /// Forward of every bottom/top pair through the depthwise kernel.
    func depthwiseForward(bottom: [Blob], top: [Blob]) {
        let bias: UnsafePointer<Float>? = biasTerm ? UnsafePointer(blobs[1].data) : nil
        for (b, t) in zip(bottom, top) {
            DepthwiseConvolution.forward(geometry, num: num, input: b.data, weight: blobs[0].data, bias: bias, output: t.data)
        }
    }

    /// Weight gradient and (where requested) input gradient of one pair; the bias gradient is
    /// the generic one in `backward`.
    func depthwiseBackward(bottom b: Blob, top t: Blob, propagateDown down: Bool) {
        DepthwiseConvolution.weightGradient(geometry, num: num, input: b.data, topDiff: t.diff, weightDiff: blobs[0].diff)
        if down {
            DepthwiseConvolution.inputGradient(geometry, num: num, topDiff: t.diff, weight: blobs[0].data, bottomDiff: b.diff)
        }
    }
}
