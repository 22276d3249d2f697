import InitDiagCore
import InitDiagTrace
/// Caffe's Pooling layer, MAX and AVE (BVLC/caffe src/caffe/layers/pooling_layer.cpp).
///
/// Output size: CEIL (default) out = int(ceil(float(in + 2·pad − k) / stride)) + 1, FLOOR the
/// same with floor; then, only when a pad is nonzero, the last window must start inside the image
/// or padding-start: if (out − 1)·stride ≥ in + pad, out −= 1. MAX keeps the argmax (index into its
/// H×W plane, first maximum in row-major order, −1 for a window that holds no input element, whose
/// output stays −FLT_MAX); with a second top that index is written there as a float, as Caffe does.
/// AVE divides by the window size clipped to the padded input, taken before clipping to the image.
public final class PoolingLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public let method: PoolingParameter.PoolMethod
    public let roundMode: PoolingParameter.RoundMode
    public let globalPooling: Bool
    /// Kernel of the current bottom (global pooling: its H×W).
    public private(set) var kernelH: Int, kernelW: Int
    public let strideH: Int, strideW: Int
    public let padH: Int, padW: Int
    public private(set) var height = 0, width = 0, pooledH = 0, pooledW = 0, planes = 0

    /// MAX argmax per output when there is no mask top (Caffe's max_idx_).
    private var argmax: [Int32] = []

    public static var exactBottoms: Int? { 1 }
    public static var minTops: Int { 1 }

    // Per-type knowledge (Core/LayerTraits.swift).
    public static var role: LayerRole { .pooling }
    /// Both methods pass the moments through approximately: MAX raises E[x²] of an
    /// input-dependent signal (a constant pattern passes exactly); AVE averages correlated
    /// neighbours, which keeps E[x²] only as far as they are correlated.
    public var meanField: MeanFieldRule { .identity(approximate: true) }
    public static var maxTops: Int? { 2 }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.poolingParam ?? PoolingParameter()
        func fail(_ what: String) -> InputError { shapeError(param, what) }
        method = p.pool
        roundMode = p.roundMode
        globalPooling = p.globalPooling
        // Caffe pooling_layer.cu is the only STOCHASTIC implementation; Forward_cpu is NOT_IMPLEMENTED.
        guard method != .STOCHASTIC else {
            throw fail("STOCHASTIC pooling has no CPU implementation in Caffe; use MAX or AVE")
        }
        // LayerSetUp checks, in Caffe's order.
        if globalPooling {
            guard p.kernelSize == nil, p.kernelH == nil, p.kernelW == nil else {
                throw fail("with global_pooling the kernel size cannot be given")
            }
            (kernelH, kernelW) = (0, 0)
        } else if let k = p.kernelSize {
            guard p.kernelH == nil, p.kernelW == nil else {
                throw fail("kernel size is kernel_size OR kernel_h and kernel_w, not both")
            }
            (kernelH, kernelW) = (Int(k), Int(k))
        } else {
            guard let h = p.kernelH, let w = p.kernelW else {
                throw fail("kernel_size, or both kernel_h and kernel_w, are required")
            }
            (kernelH, kernelW) = (Int(h), Int(w))
        }
        if !globalPooling { guard kernelH > 0, kernelW > 0 else { throw fail("kernel dimensions cannot be zero") } }
        // `pad`/`stride` carry their defaults here, so "pad given" is read as pad ≠ 0 (stride ≠ 1).
        if p.padH != nil || p.padW != nil {
            guard let h = p.padH, let w = p.padW, p.pad == 0 else {
                throw fail("pad is pad OR pad_h and pad_w (both required)")
            }
            (padH, padW) = (Int(h), Int(w))
        } else {
            (padH, padW) = (Int(p.pad), Int(p.pad))
        }
        if p.strideH != nil || p.strideW != nil {
            guard let h = p.strideH, let w = p.strideW, p.stride == 1 else {
                throw fail("stride is stride OR stride_h and stride_w (both required)")
            }
            (strideH, strideW) = (Int(h), Int(w))
        } else {
            (strideH, strideW) = (Int(p.stride), Int(p.stride))
        }
        guard strideH > 0, strideW > 0 else { throw fail("stride must be nonzero") }
        if globalPooling {
            guard padH == 0, padW == 0, strideH == 1, strideW == 1 else {
                throw fail("with global_pooling only pad = 0 and stride = 1 are allowed")
            }
        }
        if padH != 0 || padW != 0 {
            guard padH < kernelH, padW < kernelW else {
                throw fail("pad \(padH)×\(padW) must be smaller than the kernel \(kernelH)×\(kernelW)")
            }
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        if top.count > 1 && method != .MAX {
            throw shapeError(param, "only MAX pooling has a second (mask) top")
        }
        try reshape(bottom: bottom, top: top)
    }

    /// Caffe's pooled size for one dimension (Reshape), nil when it is not positive.
    public static func pooledSize(input: Int, kernel: Int, pad: Int, stride: Int,
                                  roundMode: PoolingParameter.RoundMode, anyPad: Bool) -> Int {
        let q = Float(input + 2 * pad - kernel) / Float(stride)
        var out = Int(roundMode == .CEIL ? q.rounded(.up) : q.rounded(.down)) + 1
        // "If we have padding, ensure that the last pooling starts strictly inside the image
        // (instead of at the padding); otherwise clip the last." (either pad nonzero)
        if anyPad && (out - 1) * stride >= input + pad { out -= 1 }
        return out
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        guard b.numAxes == 4 else {
            throw shapeError(param, "input must have 4 axes (num, channels, height, width), got \(b.shapeString)")
        }
        for (i, t) in top.enumerated() where t === b {
            throw shapeError(param, "top \(i) '\(t.name)' is its bottom: in-place pooling is not supported")
        }
        height = b.shape[2]; width = b.shape[3]
        if globalPooling { kernelH = height; kernelW = width }
        let anyPad = padH != 0 || padW != 0
        pooledH = PoolingLayer.pooledSize(input: height, kernel: kernelH, pad: padH, stride: strideH,
                                          roundMode: roundMode, anyPad: anyPad)
        pooledW = PoolingLayer.pooledSize(input: width, kernel: kernelW, pad: padW, stride: strideW,
                                          roundMode: roundMode, anyPad: anyPad)
        guard pooledH > 0, pooledW > 0, height > 0, width > 0 else {
            throw shapeError(param, "kernel \(kernelH)×\(kernelW) with pad \(padH)×\(padW) and stride \(strideH)×\(strideW) gives an empty output \(pooledH)×\(pooledW) for bottom \(b.shapeString)")
        }
        if anyPad {
            // Caffe CHECK_LT((pooled − 1)·stride, in + pad) after the clip.
            guard (pooledH - 1) * strideH < height + padH, (pooledW - 1) * strideW < width + padW else {
                throw shapeError(param, "the last pooling window starts in the padding (bottom \(b.shapeString), output \(pooledH)×\(pooledW))")
            }
        }
        planes = b.shape[0] * b.shape[1]
        // A pad and kernel near 2^32 give an output whose element count overflows Int, and the
        // argmax mask below is allocated now, before the net's memory check: check it first.
        let (outPlane, o1) = pooledH.multipliedReportingOverflow(by: pooledW)
        let (outCount, o2) = planes.multipliedReportingOverflow(by: outPlane)
        // Top data + diff (8 bytes per value) and the Int32 argmax mask (4).
        let (outBytes, o3) = outCount.multipliedReportingOverflow(by: 12)
        if o1 || o2 || o3 || outBytes > 64 << 20 {
            try MemoryGuard().check(estimatedBytes: o1 || o2 || o3 ? Int.max : outBytes,
                                    what: "layer '\(param.name)' (\(param.type)): output \(b.shape[0])×\(b.shape[1])×\(pooledH)×\(pooledW)")
        }
        let shape = [b.shape[0], b.shape[1], pooledH, pooledW]
        for t in top { t.reshape(shape) }
        if method == .MAX && top.count == 1 && argmax.count < planes * pooledH * pooledW {
            argmax = [Int32](repeating: -1, count: planes * pooledH * pooledW)
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let h = height, w = width, ph = pooledH, pw = pooledW
        let kh = kernelH, kw = kernelW, sh = strideH, sw = strideW, padH = padH, padW = padW
        let inPlane = h * w, outPlane = ph * pw
        let x = UnsafePointer(bottom[0].data), y = top[0].data
        let minChunk = max(1, 16_384 / max(1, inPlane))
        switch method {
        case .MAX:
            let maskTop: UnsafeMutablePointer<Float>? = top.count > 1 ? top[1].data : nil
            let evenTwoByTwo = kh == 2 && kw == 2 && sh == 2 && sw == 2 && padH == 0 && padW == 0
                && h % 2 == 0 && w % 2 == 0
            argmax.withUnsafeMutableBufferPointer { maskBuf in
                let mask = maskBuf.baseAddress
                parallelChunks(planes, minChunk: minChunk) { range in
                    for plane in range {
                        let src = x + plane * inPlane
                        if evenTwoByTwo {
                            // k2 s2 pad 0 on even sizes (the seed net's pools): every window is
                            // full; the same row-major strict-greater scan from −FLT_MAX.
                            let out = y + plane * outPlane
                            for oy in 0..<ph {
                                let top = 2 * oy * w
                                for ox in 0..<pw {
                                    let i0 = top + 2 * ox
                                    var best = -Float.greatestFiniteMagnitude
                                    var index = -1
                                    for step in 0..<4 {
                                        let i = i0 + (step >> 1) * w + (step & 1)
                                        let v = src[i]
                                        let greater = v > best
                                        best = greater ? v : best
                                        index = greater ? i : index
                                    }
                                    let o = oy * pw + ox
                                    out[o] = best
                                    if let maskTop { maskTop[plane * outPlane + o] = Float(index) }
                                    else if let mask { mask[plane * outPlane + o] = Int32(index) }
                                }
                            }
                            continue
                        }
                        for oy in 0..<ph {
                            let hs = oy * sh - padH
                            let he = min(hs + kh, h), h0 = max(hs, 0)
                            for ox in 0..<pw {
                                let ws = ox * sw - padW
                                let we = min(ws + kw, w), w0 = max(ws, 0)
                                // Start at −FLT_MAX, index −1; replace only on strictly greater.
                                var best = -Float.greatestFiniteMagnitude
                                var index = -1
                                if kh == 2 && kw == 2 && hs >= 0 && ws >= 0 && hs + 2 <= h && ws + 2 <= w {
                                    // A full 2×2 window (the seed net's pools): the same row-major
                                    // scan, unrolled.
                                    let i0 = hs * w + ws
                                    for step in 0..<4 {
                                        let i = i0 + (step >> 1) * w + (step & 1)
                                        let v = src[i]
                                        let greater = v > best
                                        best = greater ? v : best
                                        index = greater ? i : index
                                    }
                                } else {
                                    var yy = h0
                                    while yy < he {
                                        var xx = w0
                                        while xx < we {
                                            // Select rather than branch: random data mispredicts half
                                            // the comparisons. Same strict-greater rule.
                                            let v = src[yy * w + xx]
                                            let greater = v > best
                                            best = greater ? v : best
                                            index = greater ? yy * w + xx : index
                                            xx += 1
                                        }
                                        yy += 1
                                    }
                                }
                                let o = plane * outPlane + oy * pw + ox
                                y[o] = best
                                if let maskTop { maskTop[o] = Float(index) } else if let mask { mask[o] = Int32(index) }
                            }
                        }
                    }
                }
            }
        case .AVE:
            parallelChunks(planes, minChunk: minChunk) { range in
                for plane in range {
                    let src = x + plane * inPlane
                    for oy in 0..<ph {
                        let hs = oy * sh - padH
                        let he = min(hs + kh, h + padH)
                        for ox in 0..<pw {
                            var ws = ox * sw - padW
                            var we = min(ws + kw, w + padW)
                            // pool_size is taken before clipping to the image (padding counts).
                            let poolSize = (he - hs) * (we - ws)
                            let h0 = max(hs, 0), h1 = min(he, h)
                            ws = max(ws, 0); we = min(we, w)
                            var s: Float = 0
                            var yy = h0
                            while yy < h1 {
                                var xx = ws
                                while xx < we { s += src[yy * w + xx]; xx += 1 }
                                yy += 1
                            }
                            y[plane * outPlane + oy * pw + ox] = s / Float(poolSize)
                        }
                    }
                }
            }
        case .STOCHASTIC:
            break // rejected in init
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first ?? false else { return }
        let h = height, w = width, ph = pooledH, pw = pooledW
        let kh = kernelH, kw = kernelW, sh = strideH, sw = strideW, padH = padH, padW = padW
        let inPlane = h * w, outPlane = ph * pw
        let dy = UnsafePointer(top[0].diff), dx = bottom[0].diff
        let minChunk = max(1, 16_384 / max(1, inPlane))
        switch method {
        case .MAX:
            let maskTop: UnsafePointer<Float>? = top.count > 1 ? UnsafePointer(top[1].data) : nil
            argmax.withUnsafeBufferPointer { maskBuf in
                let mask = maskBuf.baseAddress
                parallelChunks(planes, minChunk: minChunk) { range in
                    for plane in range {
                        let d = dx + plane * inPlane
                        d.update(repeating: 0, count: inPlane)
                        let g = dy + plane * outPlane
                        for o in 0..<outPlane {
                            let o2 = plane * outPlane + o
                            let index: Int
                            if let maskTop { index = Int(maskTop[o2]) } else if let mask { index = Int(mask[o2]) } else { index = -1 }
                            // An empty window (index −1) has no input to route to (Caffe would write
                            // out of bounds here).
                            if index >= 0 { d[index] += g[o] }
                        }
                    }
                }
            }
        case .AVE:
            parallelChunks(planes, minChunk: minChunk) { range in
                for plane in range {
                    let d = dx + plane * inPlane
                    d.update(repeating: 0, count: inPlane)
                    let g = dy + plane * outPlane
                    for oy in 0..<ph {
                        let hs = oy * sh - padH
                        let he = min(hs + kh, h + padH)
                        let h0 = max(hs, 0), h1 = min(he, h)
                        for ox in 0..<pw {
                            let ws = ox * sw - padW
                            let we = min(ws + kw, w + padW)
                            let poolSize = (he - hs) * (we - ws)
                            let w0 = max(ws, 0), w1 = min(we, w)
                            let share = g[oy * pw + ox] / Float(poolSize)
                            var yy = h0
                            while yy < h1 {
                                var xx = w0
                                while xx < w1 { d[yy * w + xx] += share; xx += 1 }
                                yy += 1
                            }
                        }
                    }
                }
            }
        case .STOCHASTIC:
            break
        }
    }
}
