import Foundation

// The one mean-field chain of initdiag (docs/mean-field.md): a step over plain numbers that maps
// a blob's mean-field state through one layer's `MeanFieldRule`. Both the live prediction
// (Probes/MeanField.swift, parameter moments from the fillers) and the diagnosis of a trace
// (Diagnosis/LayerSnapshot.swift, parameter moments measured at the recorded step) call it, so the
// two cannot disagree on which layers pass the moments through or how a ReLU maps them.

/// The mean-field state of a blob over the ensemble of random weights: m = E[x²] and the cross
/// moment C = E[x_a·x_b] between two different inputs a ≠ b; the correlation is c = C/m.
public struct MeanFieldState: Sendable, Equatable {
    public var secondMoment: Double
    public var cross: Double
    public init(secondMoment: Double, cross: Double) {
        self.secondMoment = secondMoment; self.cross = cross
    }
    /// c = C/m (0 for m = 0).
    public var correlation: Double { secondMoment > 0 ? cross / secondMoment : 0 }
}

/// The parameter moments a `.linear` or `.affine` rule needs, from the fillers (live) or measured
/// (trace).
public struct MeanFieldParameterMoments: Sendable, Equatable {
    /// `.linear`: σ_w² = Var(w)·fan_in (E[w²]·fan_in measured); `.affine`: E[γ²]. nil: unknown
    /// (`.linear` then restarts; `.affine` without a γ blob, as Bias, uses 1).
    public var multiplier: Double?
    /// `.linear`: σ_b² = E[b²]; `.affine`: E[β²]. nil: no such blob (0).
    public var offset: Double?
    public init(multiplier: Double? = nil, offset: Double? = nil) {
        self.multiplier = multiplier; self.offset = offset
    }
}

/// Which of a layer's blobs hold the multiplier (weight W or scale γ) and the offset (bias b or
/// shift β) that `.linear` and `.affine` read; nil where the layer has no such blob. Written to
/// the trace as the `mean_field_blobs` layer attribute ("0,1", "-,0").
public struct MeanFieldBlobs: Sendable, Equatable {
    public var multiplier: Int?
    public var offset: Int?
    public init(multiplier: Int? = 0, offset: Int? = 1) {
        self.multiplier = multiplier; self.offset = offset
    }

    public var attribute: String {
        "\(multiplier.map(String.init) ?? "-"),\(offset.map(String.init) ?? "-")"
    }

    /// Parses `attribute`; nil for other text.
    public init?(attribute text: String) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return nil }
        func index(_ s: String) -> Int?? {
            if s == "-" { return .some(nil) }
            guard let v = Int(s), v >= 0 else { return nil }
            return .some(v)
        }
        guard let m = index(parts[0]), let o = index(parts[1]) else { return nil }
        self.init(multiplier: m, offset: o)
    }
}

/// One layer's step of the chain: the state of its first top.
public struct MeanFieldStep: Sendable, Equatable {
    public var state: MeanFieldState
    /// The rule is only roughly right here (max/average pooling, a standardisation without a
    /// measurement to restart from).
    public var approximate: Bool
    /// The state is the measurement at this top (`.source`, `.restart`, or a rule that could not
    /// be applied), not a prediction.
    public var restarted: Bool
}

public enum MeanFieldChain {
    /// f(c) of the ReLU correlation map: for zero-mean jointly Gaussian (u, v) with variance q and
    /// correlation c, E[relu(u)·relu(v)] = q/2·f(c), f(c) = (√(1−c²) + (π − arccos c)·c)/π (Cho &
    /// Saul 2009, the arc-cosine kernel of degree 1). f(1) = 1, f(0) = 1/π, f(−1) = 0.
    public static func reluCorrelationKernel(_ c: Double) -> Double {
        let cc = min(1, max(-1, c))
        return ((1 - cc * cc).squareRoot() + (Double.pi - acos(cc)) * cc) / Double.pi
    }

    /// A pointwise nonlinearity on a zero-mean Gaussian pre-activation with the state `input`:
    /// m' = E[φ(z)²] and C' = E[φ(z_a)φ(z_b)] for (z_a, z_b) jointly Gaussian with variance q = m
    /// and correlation c = C/m. nil where the expectation is not finite (a log or fractional power
    /// of a negative value, an overflowing exp).
    ///
    /// Plain ReLU (slope 0) in closed form: E[relu(z)²] = q/2, E[relu(z_a)relu(z_b)] = q/2·f(c)
    /// with the arc-cosine kernel f (`reluCorrelationKernel`).
    ///
    /// Leaky ReLU φ(z) = relu(z) − s·relu(−z) (s = negative_slope, PReLU at its initial slope):
    /// since (−u, −v) has the law of (u, v) and (u, −v) has correlation −c,
    /// E[φ(u)φ(v)] = q/2·((1 + s²)·f(c) − 2s·f(−c)) = q/2·((1 − s)²·f(c) + 2s·c), using
    /// f(c) − f(−c) = c; at c = 1: E[φ(z)²] = q(1 + s²)/2.
    ///
    /// Every other nonlinearity (sigmoid, tanh, ELU, BNLL, swish, absval, clip, power, exp, log,
    /// threshold) by quadrature over the Gaussian (`GaussianQuadrature`, `gaussianExpectation`,
    /// `gaussianCrossExpectation`): exact to ~1e-14 for the smooth ones at any q of real nets,
    /// saturated or not; ~1e-7 for ELU's kink in φ''; ~1e-4 for a kink (absval, clip) or a step
    /// (threshold).
    public static func pointwise(_ f: MeanFieldNonlinearity, input: MeanFieldState) -> MeanFieldState? {
        let q = max(0, input.secondMoment)
        let c = q > 0 ? min(1, max(-1, input.cross / q)) : 1
        if case .relu(let s) = f {
            if s == 0 { return MeanFieldState(secondMoment: q / 2, cross: q / 2 * reluCorrelationKernel(c)) }
            return MeanFieldState(secondMoment: q * (1 + s * s) / 2,
                                  cross: q / 2 * ((1 - s) * (1 - s) * reluCorrelationKernel(c) + 2 * s * c))
        }
        let m = gaussianExpectation(q: q) { let y = f.apply($0); return y * y }
        let cross = gaussianCrossExpectation(q: q, c: c, f.apply)
        guard m.isFinite, cross.isFinite else { return nil }
        return MeanFieldState(secondMoment: m, cross: cross)
    }

    /// χ₁ = σ_w²·E[φ'(z)²] for z ~ N(0, q) (Poole et al. 2016, eq. 7; Schoenholz et al. 2017): the
    /// slope of the correlation map at c = 1 after a linear layer of weight scale σ_w². χ₁ < 1:
    /// nearby inputs are pulled together (ordered phase), χ₁ > 1: pushed apart (chaotic phase),
    /// and gradients shrink or grow by about χ₁ per layer. ReLU (any slope) in closed form,
    /// σ_w²·(1 + s²)/2; the rest by the same quadrature as `pointwise`. nil where φ has no
    /// derivative almost everywhere (threshold: 0 a.e., but its gradient is not a derivative) or
    /// the expectation is not finite.
    public static func chi1(_ f: MeanFieldNonlinearity, q: Double, sigmaW2: Double) -> Double? {
        if case .relu(let s) = f { return sigmaW2 * (1 + s * s) / 2 }
        if case .threshold = f { return nil }
        let e = gaussianExpectation(q: max(0, q)) { x in
            guard let d = f.derivative(x) else { return .nan }
            return d * d
        }
        return e.isFinite ? sigmaW2 * e : nil
    }

    /// E[g(z)] for z ~ N(0, q) by `GaussianQuadrature`: Σ_i w_i·g(√q·x_i).
    public static func gaussianExpectation(q: Double, _ g: (Double) -> Double) -> Double {
        let r = GaussianQuadrature.rule, s = max(0, q).squareRoot()
        var sum = 0.0
        for i in 0..<r.nodes.count { sum += r.weights[i] * g(s * r.nodes[i]) }
        return sum
    }

    /// E[φ(z_a)φ(z_b)] for zero-mean jointly Gaussian (z_a, z_b) with variance q and correlation
    /// c, as the iterated rule of `GaussianQuadrature`: z_a = √q·u, z_b = √q·(c·u + √(1 − c²)·ε)
    /// with u, ε independent standard normals (so Cov(z_a, z_b) = q·c); n² evaluations of φ(z_b).
    public static func gaussianCrossExpectation(q: Double, c: Double, _ phi: (Double) -> Double) -> Double {
        let r = GaussianQuadrature.rule, n = r.nodes.count
        let sq = max(0, q).squareRoot(), cc = min(1, max(-1, c)), sc = max(0, 1 - cc * cc).squareRoot()
        var total = 0.0
        for i in 0..<n {
            let u = r.nodes[i]
            let a = phi(sq * u)
            var inner = 0.0
            if sc == 0 {
                inner = phi(sq * cc * u)
            } else {
                for j in 0..<n { inner += r.weights[j] * phi(sq * (cc * u + sc * r.nodes[j])) }
            }
            total += r.weights[i] * a * inner
        }
        return total
    }

    /// The state of a layer's first top from the state of its first bottom.
    ///
    /// - `input`: the chained state of the first bottom (nil: the chain is broken there).
    /// - `parameters`: the layer's parameter moments for `.linear` / `.affine`.
    /// - `measured`: what was measured at the top, where known (a trace; the data layer live).
    ///
    /// Rules: `.source` and `.restart` give the measurement (restarted); `.stop` gives nil (the
    /// chain ends; the top has no state). `.standardize` (BatchNorm with batch statistics) gives
    /// the measurement when there is one — mean field over random weights does not describe what
    /// follows a standardisation — and otherwise m' = 1 with the component common to all inputs
    /// removed, C' = 0, flagged approximate. `.linear`: m' = σ_w²·m + σ_b², C' = σ_w²·C + σ_b².
    /// `.affine`: m' = E[γ²]·m + E[β²], C' = E[γ²]·C + E[β²]. `.identity`: unchanged (approximate
    /// when the rule says so). `.independentNoise(f)`: m' = f·m, C' = C. `.pointwise`: see
    /// `pointwise(_:input:)`. Where a rule cannot be applied (no input state, an unknown σ_w², a
    /// nonlinearity whose expectation is not finite) the chain restarts from the measurement, or has no
    /// state without one.
    public static func step(_ rule: MeanFieldRule, input: MeanFieldState?,
                            parameters: MeanFieldParameterMoments = MeanFieldParameterMoments(),
                            measured: MeanFieldState?) -> MeanFieldStep? {
        let restart = measured.map { MeanFieldStep(state: $0, approximate: false, restarted: true) }
        func predicted(_ s: MeanFieldState, approximate: Bool = false) -> MeanFieldStep {
            MeanFieldStep(state: s, approximate: approximate, restarted: false)
        }
        switch rule {
        case .stop:
            return nil
        case .source, .restart:
            return restart
        case .standardize:
            if let restart { return restart }
            guard input != nil else { return nil }
            return predicted(MeanFieldState(secondMoment: 1, cross: 0), approximate: true)
        default:
            break
        }
        guard let x = input else { return restart }
        switch rule {
        case .linear:
            guard let sw = parameters.multiplier else { return restart }
            let sb = parameters.offset ?? 0
            return predicted(MeanFieldState(secondMoment: sw * x.secondMoment + sb, cross: sw * x.cross + sb))
        case .affine:
            let g2 = parameters.multiplier ?? 1, b2 = parameters.offset ?? 0
            return predicted(MeanFieldState(secondMoment: g2 * x.secondMoment + b2, cross: g2 * x.cross + b2))
        case .identity(let approximate):
            return predicted(x, approximate: approximate)
        case .independentNoise(let factor):
            return predicted(MeanFieldState(secondMoment: factor * x.secondMoment, cross: x.cross))
        case .pointwise(let f):
            guard let s = pointwise(f, input: x) else { return restart }
            return predicted(s)
        case .source, .restart, .stop, .standardize:
            return restart   // handled above
        }
    }
}

/// The quadrature rule the mean-field chain integrates Gaussian expectations with: for a standard
/// normal u, E[g(u)] ≈ Σ_i w_i·g(x_i) with the trapezoidal rule on u itself, 401 fixed nodes
/// x_i = −10 + 0.05·i and weights w_i = 0.05·e^(−x_i²/2)/√(2π) (halved at the two ends), computed
/// once. For an integrand analytic in a strip |Im u| < d the trapezoidal rule on the whole line
/// converges like e^(−2πd/h) (Trefethen & Weideman, "The exponentially convergent trapezoidal
/// rule", SIAM Review 56, 2014, §5); the tails beyond ±10 hold e^(−50).
///
/// Why not Gauss–Hermite: its nodes spread as √n, so a saturating φ — tanh(√q·u) with poles at
/// u = ±iπ/(2√q), i.e. a strip that narrows as q grows — defeats it exactly where saturation
/// matters. Relative error of E[φ(z)²] against a 200 001-point reference (numpy hermgauss):
///
/// | φ, q | GH 64 | GH 128 | GH 200 | this rule |
/// |---|---|---|---|---|
/// | tanh, 4 | 1.4e-4 | 1.1e-6 | 1.6e-8 | 1.4e-14 |
/// | tanh, 25 | 2.5e-2 | 4.5e-3 | 9.6e-4 | 1.4e-14 |
/// | tanh, 100 | 6.1e-2 | 3.3e-2 | 1.8e-2 | 1.9e-8 |
/// | sigmoid, 100 | 1.1e-2 | 2.1e-3 | 4.4e-4 | 1.4e-14 |
/// | ELU (α = 1), 4 | 2.3e-4 | 6.0e-5 | 2.5e-5 | 7.4e-8 |
///
/// Beyond q ≈ 100 the strip narrows below the step (tanh at q = 400, std 20: 8.5e-5; sigmoid 9e-9).
/// A kink (absval, clip) or a step (threshold) in φ leaves an O(h²) ≈ 1e-4 error. The 2-D cross
/// expectation is the iterated rule (401² evaluations of φ), agreeing with a direct 2-D
/// integration of the bivariate density to 4e-16 (tanh, sigmoid, BNLL, swish) and 2e-8 (ELU).
/// Checks (MeanFieldQuadratureTests): Σ w_i = 1 and E[u^(2k)] = (2k − 1)!! to 1e-11 for k ≤ 10.
public struct GaussianQuadrature: Sendable {
    /// The standard-normal nodes x_i.
    public let nodes: [Double]
    /// Their weights (Σ w_i = 1).
    public let weights: [Double]

    public static let step = 0.05
    public static let halfRange = 10.0
    public static let rule = GaussianQuadrature()

    public init() {
        let h = GaussianQuadrature.step
        let n = Int((2 * GaussianQuadrature.halfRange / h).rounded())
        var x = [Double](), w = [Double]()
        for i in 0...n {
            let u = -GaussianQuadrature.halfRange + Double(i) * h
            x.append(u)
            w.append((i == 0 || i == n ? 0.5 : 1) * h * exp(-u * u / 2) / (2 * Double.pi).squareRoot())
        }
        nodes = x; weights = w
    }
}
