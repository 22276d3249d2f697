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

    /// A pointwise nonlinearity on a zero-mean Gaussian pre-activation with the state `input`, or
    /// nil where no closed form is implemented.
    ///
    /// Leaky ReLU φ(z) = relu(z) − s·relu(−z) (s = negative_slope): since (−u, −v) has the law of
    /// (u, v) and (u, −v) has correlation −c,
    /// E[φ(u)φ(v)] = q/2·((1 + s²)·f(c) − 2s·f(−c)) = q/2·((1 − s)²·f(c) + 2s·c), using
    /// f(c) − f(−c) = c; at c = 1: E[φ(z)²] = q(1 + s²)/2. s = 0 is the plain ReLU (q/2, q/2·f(c)).
    /// The other nonlinearities of `MeanFieldNonlinearity` need Gaussian quadrature, which is not
    /// implemented yet: they return nil and the chain restarts from the measurement after them.
    public static func pointwise(_ f: MeanFieldNonlinearity, input: MeanFieldState) -> MeanFieldState? {
        switch f {
        case .relu(let s):
            let q = input.secondMoment
            let c = q > 0 ? input.cross / q : 1
            if s == 0 { return MeanFieldState(secondMoment: q / 2, cross: q / 2 * reluCorrelationKernel(c)) }
            let cc = min(1, max(-1, c))
            return MeanFieldState(secondMoment: q * (1 + s * s) / 2,
                                  cross: q / 2 * ((1 - s) * (1 - s) * reluCorrelationKernel(cc) + 2 * s * cc))
        default:
            return nil
        }
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
    /// nonlinearity without a closed form) the chain restarts from the measurement, or has no
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
