import InitDiagCore
import InitDiagTrace
import Foundation

/// Caffe's local response normalisation (BVLC/caffe src/caffe/layers/lrn_layer.cpp).
///
/// ACROSS_CHANNELS (default): with n = local_size (odd) and the channel window padded by
/// (n − 1)/2 zeros on each side,
///   scale[c] = k + α/n · Σ_{c' = c − (n−1)/2}^{c + (n−1)/2} x[c']²,   y = x · scale^(−β);
///   dx[c] = dy[c]·scale[c]^(−β) − (2αβ/n) · x[c] · Σ_{c' window of c} dy[c']·y[c']/scale[c']
/// (CrossChannelForward_cpu / CrossChannelBackward_cpu, with Caffe's running window sum: the
/// scale of channel c is that of c − 1 plus the head square minus the tail square, in float).
///
/// WITHIN_CHANNEL: Caffe builds it from Split → Power(x²) → Pooling(AVE, kernel n, pad (n−1)/2,
/// stride 1) → Power(power −β, scale α, shift 1) → Eltwise PROD. Here it is computed directly with
/// the same float operations: a = (Σ_{n×n window, clipped to the image} x²) / n² (Caffe's AVE pool
/// divides by the window size clipped to the *padded* plane, which at stride 1 with this pad is
/// always n²), y = x · (1 + α·a)^(−β); k is not used (Caffe's shift is 1). The gradient is that of
/// the chain: dx = dy·(1 + αa)^(−β) + 2x · Σ_{windows ∋ x} [dy·x·(−βα)·(1 + αa)^(−β)/(1 + αa)] / n².
///
/// Parameters (LRNParameter): local_size 5, alpha 1, beta 0.75, norm_region ACROSS_CHANNELS, k 1.
/// Bottom must be 4-D (N, C, H, W). Not in place: the backward pass needs both x and y (Caffe
/// would silently compute garbage in place).
public final class LRNLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public let size: Int
    public let alpha: Float, beta: Float, k: Float
    public let region: LRNParameter.NormRegion
    private var num = 0, channels = 0, height = 0, width = 0
    /// ACROSS: Caffe's scale_ (N, C, H, W). WITHIN: the pooled squares a (pool_output_).
    private let scale = Blob(name: "lrn_scale")
    /// WITHIN: (1 + αa)^(−β) (power_output_).
    private let power = Blob(name: "lrn_power")
    /// Backward scratch: ACROSS the running ratio sum per spatial position (N·H·W), WITHIN the
    /// gradient of the pooled squares (N, C, H, W).
    private let scratch = Blob(name: "lrn_scratch")

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    public static var role: LayerRole { .normalization }
    public var meanField: MeanFieldRule { .restart }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.lrnParam ?? LRNParameter()
        size = Int(p.localSize)
        alpha = p.alpha; beta = p.beta; k = p.k
        region = p.normRegion
        // lrn_layer.cpp LayerSetUp: CHECK_EQ(size_ % 2, 1) "LRN only supports odd values for local_size".
        guard size % 2 == 1 else { throw shapeError(param, "LRN only supports odd values for local_size (got \(size))") }
        guard alpha.isFinite, beta.isFinite, k.isFinite else {
            throw shapeError(param, "alpha, beta and k must be finite (alpha \(alpha), beta \(beta), k \(k))")
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        guard b.numAxes == 4 else {
            throw shapeError(param, "input must have 4 axes, corresponding to (num, channels, height, width); bottom is \(b.shapeString)")
        }
        guard top[0] !== b else { throw shapeError(param, "LRN does not compute in place (its backward needs input and output)") }
        (num, channels, height, width) = (b.shape[0], b.shape[1], b.shape[2], b.shape[3])
        top[0].reshape(b.shape)
        scale.reshape(b.shape)
        if region == .WITHIN_CHANNEL {
            power.reshape(b.shape)
            scratch.reshape(b.shape)
        } else {
            scratch.reshape([num, height * width])
        }
    }

    /// (image, first position, end position) jobs: images × spatial chunks of ≥ 1024 positions.
    private func spatialJobs(_ body: (_ n: Int, _ lo: Int, _ hi: Int) -> Void) {
        let spatial = height * width
        let chunk = max(1024, spatial / max(1, Engine.threads))
        let perImage = max(1, (spatial + chunk - 1) / chunk)
        parallelFor(num * perImage) { job in
            let n = job / perImage, part = job % perImage
            let lo = part * chunk, hi = min(spatial, lo + chunk)
            if lo < hi { body(n, lo, hi) }
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        switch region {
        case .ACROSS_CHANNELS: crossChannelForward(bottom[0], top[0])
        case .WITHIN_CHANNEL: withinChannelForward(bottom[0], top[0])
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        switch region {
        case .ACROSS_CHANNELS: crossChannelBackward(top[0], bottom[0])
        case .WITHIN_CHANNEL: withinChannelBackward(top[0], bottom[0])
        }
    }

    // MARK: ACROSS_CHANNELS

    private func crossChannelForward(_ bottom: Blob, _ top: Blob) {
        let x = UnsafePointer(bottom.data), y = top.data, s = scale.data
        let C = channels, spatial = height * width, n = size, prePad = (size - 1) / 2
        let a = alpha / Float(size), k = self.k, negBeta = -beta
        spatialJobs { img, lo, hi in
            let base = img * C * spatial
            // Padded square channel j holds x[j − prePad]²; outside [0, C) it is 0, and adding
            // α/n·0 leaves a finite sum unchanged, so those terms are skipped.
            @inline(__always) func addSquare(_ dst: UnsafeMutablePointer<Float>, channel: Int, _ coeff: Float) {
                guard channel >= 0, channel < C else { return }
                let src = x + base + channel * spatial
                for p in lo..<hi { let v = src[p] * src[p]; dst[p] = dst[p] + coeff * v }
            }
            let s0 = s + base
            for p in lo..<hi { s0[p] = k }
            for j in 0..<n { addSquare(s0, channel: j - prePad, a) }
            for c in 1..<max(C, 1) {
                let sc = s + base + c * spatial, prev = sc - spatial
                for p in lo..<hi { sc[p] = prev[p] }
                addSquare(sc, channel: c + n - 1 - prePad, a)     // head
                addSquare(sc, channel: c - 1 - prePad, -a)        // tail
            }
            // y = scale^(−β) · x (caffe_powx, then caffe_mul).
            for c in 0..<C {
                let o = base + c * spatial
                for p in lo..<hi { y[o + p] = powf(s[o + p], negBeta) * x[o + p] }
            }
        }
    }

    private func crossChannelBackward(_ top: Blob, _ bottom: Blob) {
        let dy = UnsafePointer(top.diff), y = UnsafePointer(top.data), x = UnsafePointer(bottom.data)
        let s = UnsafePointer(scale.data), dx = bottom.diff, acc = scratch.data
        let C = channels, spatial = height * width, n = size, inversePrePad = size - (size + 1) / 2
        let cacheRatio = Float(2) * alpha * beta / Float(size), negBeta = -beta
        spatialJobs { img, lo, hi in
            let base = img * C * spatial
            for c in 0..<C {
                let o = base + c * spatial
                for p in lo..<hi { dx[o + p] = dy[o + p] * powf(s[o + p], negBeta) }
            }
            // padded_ratio channel j = dy·y/scale of channel j − inverse_pre_pad (0 outside).
            let ac = acc + img * spatial
            @inline(__always) func addRatio(channel j: Int, _ sign: Float) {
                let c = j - inversePrePad
                guard c >= 0, c < C else { return }
                let o = base + c * spatial
                if sign > 0 {
                    for p in lo..<hi { ac[p] = ac[p] + (dy[o + p] * y[o + p]) / s[o + p] }
                } else {
                    for p in lo..<hi { ac[p] = ac[p] - (dy[o + p] * y[o + p]) / s[o + p] }
                }
            }
            for p in lo..<hi { ac[p] = 0 }
            for j in 0..<(n - 1) { addRatio(channel: j, 1) }
            for c in 0..<C {
                addRatio(channel: c + n - 1, 1)
                let o = base + c * spatial
                for p in lo..<hi { dx[o + p] = dx[o + p] + (-cacheRatio) * (x[o + p] * ac[p]) }
                addRatio(channel: c, -1)
            }
        }
    }

    // MARK: WITHIN_CHANNEL

    private func withinChannelForward(_ bottom: Blob, _ top: Blob) {
        let x = UnsafePointer(bottom.data), y = top.data, pooled = scale.data, pw = power.data
        let H = height, W = width, spatial = H * W, pad = (size - 1) / 2, n = size
        let poolSize = Float(size * size), alpha = self.alpha, negBeta = -beta
        parallelFor(num * channels) { plane in
            let o = plane * spatial
            let xp = x + o, ap = pooled + o, pp = pw + o, yp = y + o
            for oy in 0..<H {
                let h0 = max(oy - pad, 0), h1 = min(oy - pad + n, H)
                for ox in 0..<W {
                    let w0 = max(ox - pad, 0), w1 = min(ox - pad + n, W)
                    var sum: Float = 0
                    for h in h0..<h1 { for w in w0..<w1 { let v = xp[h * W + w]; sum += v * v } }
                    ap[oy * W + ox] = sum / poolSize
                }
            }
            for i in 0..<spatial {
                let t = ap[i] * alpha + 1                      // Power: scale α, shift 1
                pp[i] = powf(t, negBeta)
                yp[i] = xp[i] * pp[i]                          // Eltwise PROD
            }
        }
    }

    private func withinChannelBackward(_ top: Blob, _ bottom: Blob) {
        let dy = UnsafePointer(top.diff), x = UnsafePointer(bottom.data), dx = bottom.diff
        let pooled = UnsafePointer(scale.data), pw = UnsafePointer(power.data), dPooled = scratch.data
        let H = height, W = width, spatial = H * W, pad = (size - 1) / 2, n = size
        let poolSize = Float(size * size), alpha = self.alpha
        let diffScale = -beta * alpha                          // Power's diff_scale_ = power·scale
        parallelFor(num * channels) { plane in
            let o = plane * spatial
            let dyp = dy + o, xp = x + o, ap = pooled + o, pp = pw + o, dap = dPooled + o, dxp = dx + o
            // Eltwise PROD backward → d(power) = x·dy; Power backward → d(pooled).
            for i in 0..<spatial {
                let dPower = xp[i] * dyp[i]
                let base = ap[i] * alpha + 1
                dap[i] = dPower * ((pp[i] / base) * diffScale)
            }
            // AVE pooling backward: each window spreads its gradient / pool_size.
            for i in 0..<spatial { dxp[i] = 0 }
            for oy in 0..<H {
                let h0 = max(oy - pad, 0), h1 = min(oy - pad + n, H)
                for ox in 0..<W {
                    let w0 = max(ox - pad, 0), w1 = min(ox - pad + n, W)
                    let share = dap[oy * W + ox] / poolSize
                    for h in h0..<h1 { for w in w0..<w1 { dxp[h * W + w] += share } }
                }
            }
            // Square backward (2x · d) and Split backward (product branch + square branch).
            for i in 0..<spatial {
                let dSquare = dxp[i] * (2 * xp[i])
                dxp[i] = pp[i] * dyp[i] + dSquare
            }
        }
    }
}
