import Foundation

// What the rest of initdiag needs to know about a layer type, declared by the type itself next to
// its forward and backward (docs/architecture.md "Per-type knowledge"). The net, the mean-field
// chain, the trace attributes, the diagnosis and exact resume read these declarations — never
// type-name strings. The vocabulary here is plain data (no Blob, no Net) so that the diagnosis,
// which reads traces and never a live net, can use it too: the probes write `role` and
// `mean_field` as layer attributes, and the diagnosis parses them back.

/// The part a layer plays in the data flow.
public enum LayerRole: String, Sendable, CaseIterable, Codable {
    /// Produces the input (Data, Input, HDF5Data, ImageData, …): the chain starts from it.
    case data
    /// z = Wx (+ b) with learnable W: Convolution, InnerProduct, Deconvolution, Embed.
    case weighted
    /// Elementwise y = f(x): ReLU, PReLU, Sigmoid, TanH, Dropout, Power, …
    case neuron
    /// Spatial aggregation: Pooling.
    case pooling
    /// Normalisation across samples or channels: BatchNorm, LRN, MVN.
    case normalization
    /// Affine per-channel maps with learnable blobs that are not a weight matrix: Scale, Bias.
    case affine
    /// Moves or combines values without arithmetic that changes their statistics in a modelled
    /// way: Split, Flatten, Reshape, Concat, Slice, Crop, Eltwise, Tile, Silence, …
    case structural
    /// Produces a loss (a top with loss weight by default).
    case loss
    /// Measures without a gradient: Accuracy, ArgMax.
    case metric
}

/// A pointwise nonlinearity the mean-field maps know: E[φ(z)²] and E[φ(z_a)φ(z_b)] for Gaussian z
/// (closed forms for ReLU, Gaussian quadrature for the rest; docs/mean-field.md).
public enum MeanFieldNonlinearity: Sendable, Equatable {
    /// max(x, 0) + slope·min(x, 0).
    case relu(slope: Double)
    case sigmoid
    case tanh
    /// x for x > 0, α(eˣ − 1) otherwise.
    case elu(alpha: Double)
    /// log(1 + eˣ).
    case bnll
    case absval
    /// x·sigmoid(βx).
    case swish(beta: Double)
    /// min(max(x, lo), hi).
    case clip(min: Double, max: Double)
    /// (shift + scale·x)^power.
    case power(power: Double, scale: Double, shift: Double)
    /// base^(shift + scale·x) (base e when base = −1, as Caffe's ExpParameter).
    case exp(base: Double, scale: Double, shift: Double)
    /// log_base(shift + scale·x).
    case log(base: Double, scale: Double, shift: Double)
    /// 1[x > threshold].
    case threshold(Double)

    /// The pointwise function itself.
    public func apply(_ x: Double) -> Double {
        switch self {
        case .relu(let s): return x > 0 ? x : s * x
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .tanh: return Foundation.tanh(x)
        case .elu(let a): return x > 0 ? x : a * (Foundation.exp(x) - 1)
        case .bnll: return x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))
        case .absval: return Swift.abs(x)
        case .swish(let b): return x / (1 + Foundation.exp(-b * x))
        case .clip(let lo, let hi): return Swift.min(Swift.max(x, lo), hi)
        case .power(let p, let a, let b): return Foundation.pow(b + a * x, p)
        case .exp(let base, let a, let b):
            let lnBase = base == -1 ? 1 : Foundation.log(base)
            return Foundation.exp((b + a * x) * lnBase)
        case .log(let base, let a, let b):
            let lnBase = base == -1 ? 1 : Foundation.log(base)
            return Foundation.log(b + a * x) / lnBase
        case .threshold(let t): return x > t ? 1 : 0
        }
    }

    /// The outputs y = φ(x) at which a bounded nonlinearity is saturated: φ'(x) below 1% of its
    /// maximum, written through y as |y − center| > halfWidth; nil for the others (the probes
    /// record `forward/saturated_fraction` where it is not nil; docs/trace-format.md).
    /// * sigmoid: φ' = y(1 − y) ≤ 1/4, so y(1 − y) < 0.0025 ⇔ |y − 1/2| > √(1/4 − 0.0025) ≈ 0.497494
    ///   (|x| > 5.29);
    /// * tanh: φ' = 1 − y² ≤ 1, so 1 − y² < 0.01 ⇔ |y| > √0.99 ≈ 0.994987 (|x| > 2.99).
    public var saturationBand: (center: Double, halfWidth: Double)? {
        switch self {
        case .sigmoid: return (0.5, (0.25 - 0.01 * 0.25).squareRoot())
        case .tanh: return (0, (1 - 0.01).squareRoot())
        default: return nil
        }
    }

    /// The closed range of a bounded nonlinearity's output (sigmoid [0, 1], tanh [−1, 1]), nil for
    /// the others: the probes' histogram of such a top spans exactly this range
    /// (docs/trace-format.md "Histograms").
    public var outputRange: (lo: Double, hi: Double)? {
        switch self {
        case .sigmoid: return (0, 1)
        case .tanh: return (-1, 1)
        default: return nil
        }
    }

    /// φ'(x), where defined (nil for the step of Threshold); used for χ₁ and for saturation.
    public func derivative(_ x: Double) -> Double? {
        switch self {
        case .relu(let s): return x > 0 ? 1 : s
        case .sigmoid: let y = 1 / (1 + Foundation.exp(-x)); return y * (1 - y)
        case .tanh: let y = Foundation.tanh(x); return 1 - y * y
        case .elu(let a): return x > 0 ? 1 : a * Foundation.exp(x)
        case .bnll: return 1 / (1 + Foundation.exp(-x))
        case .absval: return x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .swish(let b):
            let s = 1 / (1 + Foundation.exp(-b * x))
            return s + b * x * s * (1 - s)
        case .clip(let lo, let hi): return x > lo && x < hi ? 1 : 0
        case .power(let p, let a, let b): return p == 0 ? 0 : p * a * Foundation.pow(b + a * x, p - 1)
        case .exp(let base, let a, _):
            let lnBase = base == -1 ? 1 : Foundation.log(base)
            return apply(x) * a * lnBase
        case .log(let base, let a, let b):
            let lnBase = base == -1 ? 1 : Foundation.log(base)
            return a / ((b + a * x) * lnBase)
        case .threshold: return nil
        }
    }
}

/// How a layer maps the mean-field moments of its first bottom to its first top
/// (docs/mean-field.md). A layer declares one; the chain applies it.
public enum MeanFieldRule: Sendable, Equatable {
    /// The data: the chain starts from what was measured at this top.
    case source
    /// z = Wx + b with zero-mean i.i.d. weights: m' = σ_w²·m + σ_b², C' = σ_w²·C + σ_b², σ_w² and
    /// σ_b² from the layer's weight and bias blobs (filler moments, or measured ones in a trace).
    case linear
    /// y = γ·x + β per channel: m' = E[γ²]·m + E[β²], C' = E[γ²]·C + E[β²].
    case affine
    /// The moments pass unchanged (Split, Flatten, Reshape, Concat of like inputs); `approximate`
    /// where that is only roughly so (max pooling raises E[x²] of an input-dependent signal).
    case identity(approximate: Bool)
    /// m' = factor·m, C' = C: independent per-sample masks (Dropout in TRAIN: factor 1/(1 − r)).
    case independentNoise(factor: Double)
    /// A pointwise nonlinearity on a Gaussian pre-activation.
    case pointwise(MeanFieldNonlinearity)
    /// Standardisation over the batch (BatchNorm with batch statistics): m' = 1, the component
    /// common to all inputs removed. Mean field over random weights does not describe what follows
    /// it; the chain restarts from the measurement after it.
    case standardize
    /// Not modelled: the chain restarts from what was measured at this top.
    case restart
    /// The chain ends here (losses, metrics, layers whose top is not a signal).
    case stop

    /// The output range of a `.pointwise` rule's nonlinearity (`MeanFieldNonlinearity.outputRange`).
    public var outputRange: (lo: Double, hi: Double)? {
        if case .pointwise(let f) = self { return f.outputRange }
        return nil
    }

    /// The saturation band of a `.pointwise` rule's nonlinearity (`MeanFieldNonlinearity.saturationBand`).
    public var saturationBand: (center: Double, halfWidth: Double)? {
        if case .pointwise(let f) = self { return f.saturationBand }
        return nil
    }

    /// The form written as the `mean_field` layer attribute of a trace: "source", "linear",
    /// "affine", "identity", "identity~", "noise:2", "relu:0", "sigmoid", "tanh", "elu:1", "bnll",
    /// "absval", "swish:1", "clip:0:6", "power:p:scale:shift", "exp:base:scale:shift",
    /// "log:base:scale:shift", "threshold:t", "standardize", "restart", "stop".
    public var attribute: String {
        func n(_ v: Double) -> String { v == v.rounded() && Swift.abs(v) < 1e15 ? String(Int64(v)) : String(v) }
        switch self {
        case .source: return "source"
        case .linear: return "linear"
        case .affine: return "affine"
        case .identity(let a): return a ? "identity~" : "identity"
        case .independentNoise(let f): return "noise:\(n(f))"
        case .standardize: return "standardize"
        case .restart: return "restart"
        case .stop: return "stop"
        case .pointwise(let f):
            switch f {
            case .relu(let s): return "relu:\(n(s))"
            case .sigmoid: return "sigmoid"
            case .tanh: return "tanh"
            case .elu(let a): return "elu:\(n(a))"
            case .bnll: return "bnll"
            case .absval: return "absval"
            case .swish(let b): return "swish:\(n(b))"
            case .clip(let lo, let hi): return "clip:\(n(lo)):\(n(hi))"
            case .power(let p, let a, let b): return "power:\(n(p)):\(n(a)):\(n(b))"
            case .exp(let base, let a, let b): return "exp:\(n(base)):\(n(a)):\(n(b))"
            case .log(let base, let a, let b): return "log:\(n(base)):\(n(a)):\(n(b))"
            case .threshold(let t): return "threshold:\(n(t))"
            }
        }
    }

    /// Parses `attribute`; nil for text that is not one of its forms.
    public init?(attribute text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let nums = parts.dropFirst().map { Double($0) }
        if nums.contains(where: { $0 == nil }) { return nil }
        let v = nums.map { $0! }
        switch (parts[0], v.count) {
        case ("source", 0): self = .source
        case ("linear", 0): self = .linear
        case ("affine", 0): self = .affine
        case ("identity", 0): self = .identity(approximate: false)
        case ("identity~", 0): self = .identity(approximate: true)
        case ("noise", 1): self = .independentNoise(factor: v[0])
        case ("standardize", 0): self = .standardize
        case ("restart", 0): self = .restart
        case ("stop", 0): self = .stop
        case ("relu", 1): self = .pointwise(.relu(slope: v[0]))
        case ("sigmoid", 0): self = .pointwise(.sigmoid)
        case ("tanh", 0): self = .pointwise(.tanh)
        case ("elu", 1): self = .pointwise(.elu(alpha: v[0]))
        case ("bnll", 0): self = .pointwise(.bnll)
        case ("absval", 0): self = .pointwise(.absval)
        case ("swish", 1): self = .pointwise(.swish(beta: v[0]))
        case ("clip", 2): self = .pointwise(.clip(min: v[0], max: v[1]))
        case ("power", 3): self = .pointwise(.power(power: v[0], scale: v[1], shift: v[2]))
        case ("exp", 3): self = .pointwise(.exp(base: v[0], scale: v[1], shift: v[2]))
        case ("log", 3): self = .pointwise(.log(base: v[0], scale: v[1], shift: v[2]))
        case ("threshold", 1): self = .pointwise(.threshold(v[0]))
        default: return nil
        }
    }
}

/// Which blobs of a layer the initialisation schemes (`w=…,b=…`) replace, and the (out, in, …)
/// shape their fans are taken from (a transposed InnerProduct stores (in, out)).
public struct SchemeTargets: Sendable, Equatable {
    public var weight: Int
    public var bias: Int?
    public var fanShape: [Int]
    public init(weight: Int = 0, bias: Int? = nil, fanShape: [Int]) {
        self.weight = weight; self.bias = bias; self.fanShape = fanShape
    }
}
