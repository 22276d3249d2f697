import InitDiagCore
import InitDiagTrace

/// PyTorch's BatchNorm2d/BatchNorm1d in one layer (pytorch/pytorch torch/nn/modules/batchnorm.py,
/// aten/src/ATen/native/Normalization.cpp; docs/semantics.md §9). Not a Caffe type: the ONNX
/// importer emits it for a training-mode `BatchNormalization` node, whose semantics differ from
/// Caffe's BatchNorm + Scale in the running statistics (a moving average, not bias-corrected
/// sums) and in keeping the affine part inside.
///
/// Blobs: [0] γ (C, learned, filler constant 1), [1] β (C, learned, constant 0), [2] running mean
/// (C, state, constant 0), [3] running variance (C, state, constant 1). The running ones are state,
/// not learned: the layer adds ParamSpecs with lr_mult 0 and decay_mult 0 for them and rejects a
/// given lr_mult ≠ 0; it never writes their diffs.
///
/// Parameters (`batch_norm_param`): `eps` (PyTorch's default 1e-5; the importer takes the node's
/// `epsilon`), `moving_average_fraction` = the fraction of the running statistics kept per
/// forward, i.e. 1 − PyTorch's momentum = ONNX's `momentum` (PyTorch's default 0.9 here, not
/// Caffe's 0.999 — the importer always sets it), `use_global_stats` (default: false in TRAIN,
/// true in TEST, as `model.train()` / `model.eval()`).
///
/// Batch statistics (TRAIN): per channel over m = N·spatial values, μ = Σx/m and the biased
/// σ² = Σ(x − μ)²/m; x̂ = (x − μ)/√(σ² + eps); y = γ·x̂ + β; then running_mean ← f·running_mean
/// + (1 − f)·μ and running_var ← f·running_var + (1 − f)·σ²·m/(m − 1) (the UNBIASED variance,
/// as PyTorch; the ONNX specification uses the population one). m ≤ 1 is an error, as in PyTorch
/// ("Expected more than 1 value per channel when training").
/// Global statistics (TEST): x̂ = (x − running_mean)/√(running_var + eps), y = γ·x̂ + β.
///
/// Backward: dβ += Σdy, dγ += Σdy·x̂ (per channel); batch statistics:
/// dx = γ/√(σ² + eps)·(dy − Σdy/m − x̂·Σ(dy·x̂)/m); global statistics: dx = γ/√(σ² + eps)·dy.
/// Per-channel sums are accumulated in double. In place is supported: x̂ is cached at forward,
/// and the sums are taken from dy before dx (which may be dy) is written.
public final class TorchBatchNormLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob]
    public let useGlobalStats: Bool
    public let movingAverageFraction: Float
    public let eps: Float
    public private(set) var channels = 0
    private var num = 0, spatial = 0
    /// x̂ of the last forward, and per channel 1/√(var + eps) used by it.
    private let normalized = Blob(name: "torch_bn_x_hat")
    private var invStd: [Float] = []

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    public static var role: LayerRole { .normalization }
    public var meanField: MeanFieldRule { useGlobalStats ? .restart : .standardize }

    public var declaredFillers: [FillerParameter] {
        var one = FillerParameter(type: "constant")
        one.value = 1
        let zero = FillerParameter(type: "constant")
        return [one, zero, zero, one]
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        let bn = param.batchNormParam ?? {
            var b = BatchNormParameter()
            b.movingAverageFraction = 0.9
            return b
        }()
        useGlobalStats = bn.useGlobalStats ?? (context.phase == .TEST)
        movingAverageFraction = bn.movingAverageFraction
        eps = bn.eps
        guard eps.isFinite, eps > 0 else {
            throw InputError("layer '\(param.name)' (TorchBatchNorm): eps must be finite and > 0, got \(eps)")
        }
        guard movingAverageFraction.isFinite, movingAverageFraction >= 0, movingAverageFraction <= 1 else {
            throw InputError("layer '\(param.name)' (TorchBatchNorm): moving_average_fraction must be in [0, 1], got \(movingAverageFraction)")
        }
        var p = param
        for (i, spec) in param.param.enumerated() where i >= 2 && spec.lrMult != 0 {
            throw InputError("layer '\(param.name)' (TorchBatchNorm): param \(i) has lr_mult \(spec.lrMult); "
                + "the running statistics are state, not learned (lr_mult must be 0)")
        }
        if p.param.count > 4 {
            throw InputError("layer '\(param.name)' (TorchBatchNorm): \(p.param.count) param specs for 4 blobs")
        }
        while p.param.count < 2 { p.param.append(ParamSpec()) }
        while p.param.count < 4 {
            var spec = ParamSpec()
            spec.lrMult = 0
            spec.decayMult = 0
            p.param.append(spec)
        }
        self.param = p
        blobs = [Blob(name: "\(param.name)_gamma"), Blob(name: "\(param.name)_beta"),
                 Blob(name: "\(param.name)_running_mean"), Blob(name: "\(param.name)_running_var")]
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        guard b.numAxes >= 2 else {
            throw shapeError(param, "bottom \(b.shapeString) needs at least 2 axes (N, C, …)")
        }
        channels = b.shape[1]
        for blob in blobs { blob.reshape([channels]) }
        blobs[0].data.update(repeating: 1, count: channels)
        blobs[1].zeroData()
        blobs[2].zeroData()
        blobs[3].data.update(repeating: 1, count: channels)
        for blob in blobs { blob.zeroDiff() }
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        guard b.numAxes >= 2, b.shape[1] == channels else {
            throw shapeError(param, "bottom \(b.shapeString) does not have the \(channels) channels the layer was set up for")
        }
        num = b.shape[0]
        spatial = channels == 0 || num == 0 ? 0 : b.count / (num * channels)
        if !useGlobalStats && num * spatial <= 1 && b.count > 0 {
            throw shapeError(param, "bottom \(b.shapeString): batch statistics need more than 1 value per channel (PyTorch: \"Expected more than 1 value per channel when training\")")
        }
        if top[0] !== b { top[0].reshape(like: b) }
        normalized.reshape(like: b)
        invStd = [Float](repeating: 0, count: channels)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, xh = normalized.data
        let n = num, c = channels, s = spatial
        let gamma = blobs[0].data, beta = blobs[1].data
        let runMean = blobs[2].data, runVar = blobs[3].data
        let m = n * s
        let f = movingAverageFraction
        let useGlobal = useGlobalStats
        let epsD = Double(eps)
        invStd.withUnsafeMutableBufferPointer { inv in
            let inv = inv.baseAddress!
            parallelFor(c) { ch in
                var mean: Double, variance: Double
                if useGlobal {
                    mean = Double(runMean[ch])
                    variance = Double(runVar[ch])
                } else {
                    var sum = 0.0
                    for i in 0..<n {
                        let row = x + (i * c + ch) * s
                        for k in 0..<s { sum += Double(row[k]) }
                    }
                    mean = m == 0 ? 0 : sum / Double(m)
                    var sq = 0.0
                    for i in 0..<n {
                        let row = x + (i * c + ch) * s
                        for k in 0..<s { let d = Double(row[k]) - mean; sq += d * d }
                    }
                    variance = m == 0 ? 0 : sq / Double(m)
                    let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                    runMean[ch] = f * runMean[ch] + (1 - f) * Float(mean)
                    runVar[ch] = f * runVar[ch] + (1 - f) * Float(unbiased)
                }
                let invD = 1 / (variance + epsD).squareRoot()
                inv[ch] = Float(invD)
                let meanF = Float(mean), invF = Float(invD), g = gamma[ch], bt = beta[ch]
                for i in 0..<n {
                    let off = (i * c + ch) * s
                    for k in 0..<s {
                        let v = (x[off + k] - meanF) * invF
                        xh[off + k] = v
                        y[off + k] = g * v + bt
                    }
                }
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let dy = top[0].diff, dx = bottom[0].diff, xh = normalized.data
        let n = num, c = channels, s = spatial
        let gamma = blobs[0].data
        let dGamma = blobs[0].diff, dBeta = blobs[1].diff
        let m = n * s
        let useGlobal = useGlobalStats
        let down = propagateDown.first == true
        invStd.withUnsafeBufferPointer { inv in
            let inv = inv.baseAddress!
            parallelFor(c) { ch in
                var sumDy = 0.0, sumDyXh = 0.0
                for i in 0..<n {
                    let off = (i * c + ch) * s
                    for k in 0..<s {
                        let g = Double(dy[off + k])
                        sumDy += g
                        sumDyXh += g * Double(xh[off + k])
                    }
                }
                dBeta[ch] += Float(sumDy)
                dGamma[ch] += Float(sumDyXh)
                guard down else { return }
                let scale = gamma[ch] * inv[ch]
                if useGlobal || m == 0 {
                    for i in 0..<n {
                        let off = (i * c + ch) * s
                        for k in 0..<s { dx[off + k] = scale * dy[off + k] }
                    }
                } else {
                    let meanDy = Float(sumDy / Double(m)), meanDyXh = Float(sumDyXh / Double(m))
                    for i in 0..<n {
                        let off = (i * c + ch) * s
                        for k in 0..<s { dx[off + k] = scale * (dy[off + k] - meanDy - xh[off + k] * meanDyXh) }
                    }
                }
            }
        }
    }
}
