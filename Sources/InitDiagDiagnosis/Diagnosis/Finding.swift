import InitDiagCore
import InitDiagTrace
/// The verdict on one run (docs/verdicts.md). The raw values are the contract's spelling.
public enum Verdict: String, Codable, Sendable, CaseIterable {
    /// The loss fell clearly below ln C (or test accuracy is clearly above chance).
    case learning
    /// The loss stays in a small band around ln C and the logits do not change from one input to
    /// another (their between-sample std is tiny).
    case stuckAtChance = "stuck-at-chance"
    /// A non-finite value appeared (or the trace's status says so).
    case diverged
    /// Too few recorded steps to tell, or the evidence points neither way.
    case inconclusive
    /// The loss sits at ln C with the logits' spread tiny, as for `stuckAtChance`, but because
    /// bounded units (sigmoid, tanh) are saturated, while the input still reaches the logits (no
    /// layer has collapsed): such a net may leave the plateau after many iterations, a collapsed
    /// one cannot (`saturatedPlateau`; RULES.md "Saturation and plateaus").
    case plateau
}

/// What a finding is about. The raw values are written into traces (`/diagnosis` findings) and
/// `summary.json`; docs/verdicts.md names the first seven, the others extend it.
public enum FindingKind: String, Codable, Sendable, CaseIterable {
    /// The first layer (in net order) from which the blob stops depending on the input:
    /// `input_dependence` below `DiagnosisThresholds.collapseInputDependence` there and in every
    /// later layer that records it.
    case inputCollapse = "input-collapse"
    /// The gradient reaching the first layers is orders of magnitude smaller than at the loss.
    case vanishingGradient = "vanishing-gradient"
    /// The gradient reaching the first layers is orders of magnitude larger than at the loss.
    case explodingGradient = "exploding-gradient"
    /// A layer's output RMS is orders of magnitude above the input's.
    case explodingActivation = "exploding-activation"
    /// A layer's output RMS is orders of magnitude below the input's.
    case vanishingActivation = "vanishing-activation"
    /// At initialisation a sizeable share of a ReLU's channels (units) are ≤ 0 for every sample
    /// and position of the batch: they pass no signal and receive no gradient.
    case deadUnits = "dead-units"
    /// The dead share of a ReLU grew during training.
    case dyingUnits = "dying-units"
    /// The bias accounts for most of a pre-activation's second moment at initialisation:
    /// E[b²] / E[z²] of a Convolution/InnerProduct output.
    case biasDominated = "bias-dominated"
    /// The median update ratio ‖Δw‖/‖w‖ of a weight is far above the ~1e-3 of healthy SGD.
    case largeUpdates = "large-updates"
    /// The first non-finite value: iteration, layer and blob (the cause of `diverged`).
    case nonFinite = "non-finite"
    /// The mean-field prediction of a pre-activation's second moment and the measured one differ
    /// by more than `DiagnosisThresholds.meanFieldMismatchFactor`.
    case meanFieldMismatch = "mean-field-mismatch"
    /// A BatchNorm with use_global_stats true whose statistics were never accumulated (scale
    /// factor 0): it divides by √eps, multiplying its input by 1/√eps (≈ 316 for eps 1e-5).
    case batchNormStatisticsUnset = "batchnorm-statistics-unset"
    /// At initialisation a sizeable share of a sigmoid's or tanh's units are saturated: local
    /// derivative below 1% of its maximum (`forward/saturated_fraction`).
    case saturatedUnits = "saturated-units"
    /// The saturated share of a sigmoid or tanh grew during training.
    case saturatingUnits = "saturating-units"
}

/// One observation about a run, tied to a layer where it has one (`layer == nil`: the whole net).
/// JSON form (docs/verdicts.md): `{"kind", "layer", "detail"}` with `layer` null when absent.
public struct Finding: Codable, Sendable, Equatable {
    public var kind: FindingKind
    public var layer: String?
    public var detail: String

    public init(kind: FindingKind, layer: String?, detail: String) {
        self.kind = kind; self.layer = layer; self.detail = detail
    }

    enum CodingKeys: String, CodingKey { case kind, layer, detail }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(FindingKind.self, forKey: .kind)
        layer = try c.decodeIfPresent(String.self, forKey: .layer)
        detail = try c.decode(String.self, forKey: .detail)
    }

    /// Writes `layer` as an explicit null so that every finding has the same three keys.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        if let layer { try c.encode(layer, forKey: .layer) } else { try c.encodeNil(forKey: .layer) }
        try c.encode(detail, forKey: .detail)
    }
}
