import InitDiagCore
import InitDiagTrace
import CBLAS

/// Caffe's BatchNorm (BVLC/caffe src/caffe/layers/batch_norm_layer.cpp). No affine part: nets
/// follow it with a Scale layer (bias_term: true).
///
/// Blobs (state, never learned): [0] mean accumulator (C), [1] variance accumulator (C),
/// [2] scale factor s (1), all zero at setUp. Caffe adds a ParamSpec with lr_mult 0 for each of
/// the three blobs that has none and rejects a given lr_mult ≠ 0; `param` here carries those
/// added specs.
///
/// Batch statistics (use_global_stats false, default in TRAIN): mean and the biased variance
/// E[(x − mean)²] over N·(spatial) per channel; then s ← maf·s + 1,
/// A_mean ← mean + maf·A_mean, A_var ← (m/(m − 1))·var + maf·A_var with m = count/C (factor 1
/// if m ≤ 1). Global statistics (default in TEST): mean = A_mean·(1/s), var = A_var·(1/s), with
/// 1/s replaced by 0 when s = 0. y = (x − mean)/sqrt(var + eps).
///
/// Backward, batch stats: dx = (dy − (Σdy + y·Σ(dy·y))/(N·spatial))/sqrt(var + eps), sums per
/// channel; global stats: dx = dy/sqrt(var + eps). Both are correct in place: the per-channel sums
/// are taken from the top diff before any bottom diff is written, and y is cached (Caffe's
/// x_norm_) because a later in-place layer may overwrite the top.
public final class BatchNormLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob]
    public let useGlobalStats: Bool
    public let movingAverageFraction: Float
    public let eps: Float
    public private(set) var channels = 0

    /// Per-channel statistics of the last forward (mean, and sqrt(var + eps) used to divide).
    public let mean = Blob(name: "bn_mean")
    public let variance = Blob(name: "bn_variance")
    public let stdDev = Blob(name: "bn_std")
    /// y of the last forward (Caffe's x_norm_).
    private let normalized = Blob(name: "bn_x_norm")
    /// Caffe's num_by_chans_ (N·C partial sums) and its all-ones multipliers (spatial, batch):
    /// the per-channel sums go through the same two sgemv calls as in Caffe.
    private let numByChans = Blob(name: "bn_num_by_chans")
    private let spatialOnes = Blob(name: "bn_spatial_ones"), batchOnes = Blob(name: "bn_batch_ones")
    private let channelSumDy = Blob(name: "bn_sum_dy"), channelSumDyY = Blob(name: "bn_sum_dy_y")
    private var num = 0, spatial = 0

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    public static var hasStateBlobs: Bool { true }

    // Per-type knowledge (Core/LayerTraits.swift).
    public static var role: LayerRole { .normalization }
    /// Batch statistics: `.standardize` (m' = 1, the part common to all inputs removed; the chain
    /// restarts from the measurement where there is one). Global statistics: y = (x − mean)/σ with
    /// the stored averages is a fixed affine map whose coefficients are state, not a learned
    /// blob with a filler, so the chain honestly restarts from the measurement.
    public var meanField: MeanFieldRule { useGlobalStats ? .restart : .standardize }

    public init(param: LayerParameter, context: LayerContext) throws {
        var p = param
        let bn = param.batchNormParam ?? BatchNormParameter()
        useGlobalStats = bn.useGlobalStats ?? (context.phase == .TEST)
        movingAverageFraction = bn.movingAverageFraction
        eps = bn.eps
        guard eps.isFinite, eps >= 0 else {
            throw InputError("layer '\(param.name)' (BatchNorm): eps must be finite and ≥ 0, got \(eps)")
        }
        guard movingAverageFraction.isFinite else {
            throw InputError("layer '\(param.name)' (BatchNorm): moving_average_fraction must be finite")
        }
        // Caffe: "Cannot configure batch normalization statistics as layer parameters."
        for (i, spec) in param.param.enumerated() where i < 3 && spec.lrMult != 0 {
            throw InputError("layer '\(param.name)' (BatchNorm): param \(i) has lr_mult \(spec.lrMult); "
                + "batch normalization statistics cannot be learned (lr_mult must be 0)")
        }
        while p.param.count < 3 {
            var spec = ParamSpec()
            spec.lrMult = 0
            p.param.append(spec)
        }
        self.param = p
        blobs = [Blob(name: "\(param.name)_mean"), Blob(name: "\(param.name)_variance"),
                 Blob(name: "\(param.name)_scale_factor")]
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        // Caffe: channels_ = num_axes == 1 ? 1 : shape(1).
        channels = bottom[0].numAxes == 1 ? 1 : (bottom[0].numAxes == 0 ? 1 : bottom[0].shape[1])
        blobs[0].reshape([channels])
        blobs[1].reshape([channels])
        blobs[2].reshape([1])
        for b in blobs { b.zeroData(); b.zeroDiff() }
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        if b.numAxes >= 1 {
            let c = b.numAxes == 1 ? 1 : b.shape[1]
            guard c == channels else {
                throw shapeError(param, "bottom \(b.shapeString) has \(c) channels but the layer was set up for \(channels)")
            }
        }
        if top[0] !== b { top[0].reshape(like: b) }
        num = b.numAxes >= 1 ? b.shape[0] : 1
        spatial = channels == 0 || num == 0 ? 0 : b.count / (num * channels)
        mean.reshape([channels])
        variance.reshape([channels])
        stdDev.reshape([channels])
        channelSumDy.reshape([channels])
        channelSumDyY.reshape([channels])
        normalized.reshape(like: b)
        numByChans.reshape([num * channels])
        spatialOnes.reshape([spatial])
        spatialOnes.data.update(repeating: 1, count: spatial)
        batchOnes.reshape([num])
        batchOnes.data.update(repeating: 1, count: num)
    }

    /// out[c] = Σ_n Σ_s alpha·v[n, c, s]: Caffe's gemv over the (N·C × S) view with alpha, then
    /// the transposed gemv over the (N × C) partial sums with alpha 1.
    private func channelSums(_ v: UnsafePointer<Float>, alpha: Float, into out: UnsafeMutablePointer<Float>) {
        let n = num, c = channels, s = spatial
        guard c > 0 else { return }
        guard n > 0, s > 0 else { out.update(repeating: 0, count: c); return }
        sgemv(transA: false, m: n * c, n: s, alpha: alpha, a: v, x: spatialOnes.data, beta: 0, y: numByChans.data)
        sgemv(transA: true, m: n, n: c, alpha: 1, a: numByChans.data, x: batchOnes.data, beta: 0, y: out)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data
        let n = num, c = channels, s = spatial
        let mu = mean.data, v = variance.data, sd = stdDev.data
        // 1/(N·spatial) is a double in Caffe, rounded to float as the gemv alpha.
        let inv = n * s == 0 ? 0 : Float(1.0 / Double(n * s))
        if useGlobalStats {
            // Caffe: scale_factor = s == 0 ? 0 : 1/s; mean = factor·A_mean (caffe_cpu_scale).
            let sf = blobs[2].data[0]
            let factor: Float = sf == 0 ? 0 : 1 / sf
            for ch in 0..<c {
                mu[ch] = factor * blobs[0].data[ch]
                v[ch] = factor * blobs[1].data[ch]
            }
        } else {
            channelSums(x, alpha: inv, into: mu)
        }
        // y ← x − mean (in top; bottom may be the same blob).
        layerRowChunks(n * c, rowLength: s) { rowIndex in
            let m = mu[rowIndex % c]
            let src = x + rowIndex * s, dst = y + rowIndex * s
            for k in 0..<s { dst[k] = src[k] - m }
        }
        if !useGlobalStats {
            // var = E[(x − mean)²] (biased); the squares go to scratch (Caffe's temp_).
            let sq = normalized.diff
            parallelChunks(n * c * s) { r in for i in r { sq[i] = y[i] * y[i] } }
            channelSums(sq, alpha: inv, into: v)
            let maf = movingAverageFraction
            let scaleFactor = blobs[2].data
            scaleFactor[0] *= maf
            scaleFactor[0] += 1
            // Caffe: m = count/channels; bias_correction_factor = m > 1 ? Dtype(m)/(m − 1) : 1.
            let m = c == 0 ? 0 : bottom[0].count / c
            let correction: Float = m > 1 ? Float(m) / Float(m - 1) : 1
            // caffe_cpu_axpby(alpha, X, beta, Y): Y = alpha·X + beta·Y (cblas_saxpby).
            cblas_saxpby(blasint(c), 1, mu, 1, maf, blobs[0].data, 1)
            cblas_saxpby(blasint(c), correction, v, 1, maf, blobs[1].data, 1)
        }
        for ch in 0..<c { sd[ch] = (v[ch] + eps).squareRoot() }
        let xn = normalized.data
        layerRowChunks(n * c, rowLength: s) { rowIndex in
            let d = sd[rowIndex % c]
            let row = y + rowIndex * s, cache = xn + rowIndex * s
            for k in 0..<s {
                let val = row[k] / d
                row[k] = val
                cache[k] = val
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let dy = top[0].diff, dx = bottom[0].diff
        let n = num, c = channels, s = spatial
        let sd = stdDev.data
        if useGlobalStats {
            layerRowChunks(n * c, rowLength: s) { rowIndex in
                let d = sd[rowIndex % c]
                let src = dy + rowIndex * s, dst = dx + rowIndex * s
                for k in 0..<s { dst[k] = src[k] / d }
            }
            return
        }
        // Per-channel Σ(dy·y) and Σdy, taken before dx is written (dx may alias dy in place);
        // the product goes to scratch (Caffe uses the bottom diff, after saving an in-place top
        // diff).
        let sumDy = channelSumDy.data, sumDyY = channelSumDyY.data
        let y = normalized.data, product = normalized.diff
        parallelChunks(n * c * s) { r in for i in r { product[i] = y[i] * dy[i] } }
        channelSums(product, alpha: 1, into: sumDyY)
        channelSums(dy, alpha: 1, into: sumDy)
        // Caffe: dx = y·Σ(dy·y) + Σdy; dx = 1·dy + (−1/(N·spatial))·dx through cblas_saxpby
        // (same BLAS, same rounding); dx /= sqrt(var + eps). In place dx is dy, so dy is first
        // saved in the scratch (Caffe saves it in x_norm_'s diff).
        var topDiff = UnsafePointer(dy)
        if dx == dy {
            product.update(from: dy, count: n * c * s)
            topDiff = UnsafePointer(product)
        }
        layerRowChunks(n * c, rowLength: s) { rowIndex in
            let ch = rowIndex % c
            let a = sumDy[ch], b = sumDyY[ch]
            let off = rowIndex * s
            for k in 0..<s { dx[off + k] = y[off + k] * b + a }
        }
        let negInv = n * s == 0 ? 0 : Float(-1.0 / Double(n * s))
        cblas_saxpby(blasint(n * c * s), 1, topDiff, 1, negInv, dx, 1)
        layerRowChunks(n * c, rowLength: s) { rowIndex in
            let d = sd[rowIndex % c]
            let row = dx + rowIndex * s
            for k in 0..<s { row[k] /= d }
        }
    }
}
