import InitDiagCore
import InitDiagTrace
import Foundation

/// What one layer looked like at one recorded step: the measured statistics the findings use and
/// the mean-field predictions they are compared with. Built by `layerSnapshots(_:step:)`.
///
/// Conventions (docs/trace-format.md): `forward/…` describes the layer's first top right after its forward, so a
/// Convolution/InnerProduct followed by an in-place ReLU is seen *before* the ReLU (the
/// pre-activation z) and the ReLU layer's own forward stats are the activation relu(z).
public struct LayerSnapshot: Sendable, Equatable {
    public var name: String
    public var type: String
    public var index: Int
    /// The layer's `role` attribute (nil in a trace written before the attribute existed).
    public var role: LayerRole?
    /// The layer's `mean_field` attribute (`.restart` when absent: see `LayerRecord.meanFieldRule`).
    public var meanField: MeanFieldRule = .restart
    /// forward/mean, forward/std (population std over all elements of the blob).
    public var mean: Double?
    public var std: Double?
    /// E[x²] = mean² + std².
    public var secondMoment: Double?
    public var betweenSampleStd: Double?
    /// forward/input_dependence when recorded, else (between_sample_std / std)², its definition.
    public var inputDependence: Double?
    /// between_sample_std² / E[x²]: the share of the uncentred second moment that changes with
    /// the input (the rest is the per-element constant pattern the bias builds).
    public var betweenShare: Double?
    public var deadFraction: Double?
    public var backwardL2: Double?
    /// The layer's `fan_in` attribute.
    public var fanIn: Double?
    /// E[w²] = mean² + std² of param0 (the weights).
    public var weightSecondMoment: Double?
    /// σ_w² = E[w²]·fan_in (the mean-field weight scale).
    public var sigmaW2: Double?
    /// σ_b² = E[b²] = mean² + std² of param1 (the bias); nil without a bias blob.
    public var biasSecondMoment: Double?
    /// E[b²] / E[z²] for layers with a bias: how much of the pre-activation's second moment the
    /// bias alone provides (z = Wx + b, the cross term averages to 0 over zero-mean weights).
    public var biasShare: Double?
    /// The layer producing this layer's first bottom (the last earlier layer whose tops contain it).
    public var inputLayer: String?
    /// One-step mean-field prediction from the *measured* input: q̂ = σ_w²·E[x_in²] + σ_b².
    public var predictedSecondMoment: Double?
    /// One-step prediction of `betweenShare`: c_in from the input's measured share, then
    /// ĉ = (σ_w²·E[x_in²]·c_in + σ_b²)/q̂ and share = (1 − 1/B)(1 − ĉ) for batch size B.
    public var predictedBetweenShare: Double?
    /// Mean-field chained from the data layer through the net by each layer's `mean_field` rule
    /// (`MeanFieldChain.step`, the chain the live prediction uses, with the parameter moments
    /// measured at this step); layers whose rule restarts show the measurement.
    public var chainSecondMoment: Double?
    public var chainBetweenShare: Double?
    /// The last layer upstream (or this one) where the chain did not predict but restarted from
    /// the measurement — a `.standardize` (BatchNorm with batch statistics), a `.restart`, or a
    /// rule that could not be applied — so that `chain…` here descends from a measurement after
    /// which mean field over random weights does not apply; nil when the chain runs unbroken
    /// from the data. The report draws no chained prediction for such layers and says why.
    public var chainRestartedAt: String?
    /// The `predicted_q` layer attribute (written by the probes) when present.
    public var attributePredictedQ: Double?

    public init(name: String, type: String, index: Int) {
        self.name = name; self.type = type; self.index = index
    }
}

extension LayerRecord {
    /// The `role` attribute the trainer writes from `Layer.role`; nil in a trace written before
    /// the attribute existed (such a trace gets no role-based findings).
    public var role: LayerRole? { attributes["role"].flatMap(LayerRole.init(rawValue:)) }
    /// The `mean_field` attribute the trainer writes from `Layer.meanField`. Traces written before
    /// the attribute existed (or with text this version cannot read) get `.restart`: the chain
    /// restarts from the measurement at every such layer instead of guessing from the type name.
    public var meanFieldRule: MeanFieldRule {
        attributes["mean_field"].flatMap(MeanFieldRule.init(attribute:)) ?? .restart
    }
    /// The `mean_field_blobs` attribute (`Layer.meanFieldBlobs`); blob 0 and 1 when absent.
    public var meanFieldBlobs: MeanFieldBlobs {
        attributes["mean_field_blobs"].flatMap(MeanFieldBlobs.init(attribute:)) ?? MeanFieldBlobs()
    }
    var isData: Bool { role == .data }
    var isLossOrMetric: Bool { role == .loss || role == .metric }
}

extension LayerSnapshot {
    var isData: Bool { role == .data }
    var isLossOrMetric: Bool { role == .loss || role == .metric }
    var isWeighted: Bool { role == .weighted }
    /// A ReLU (of any slope): the layers whose dead share the findings read.
    var isRectifier: Bool {
        if case .pointwise(.relu) = meanField { return true }
        return false
    }
}

func diagList(_ text: String?) -> [String] {
    guard let text, !text.isEmpty else { return [] }
    return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
}

func diagNumber(_ text: String?) -> Double? {
    guard let text else { return nil }
    return Double(text.trimmingCharacters(in: .whitespaces))
}

/// The per-layer snapshot of `run` at recorded step `step` (0 = the first recorded step, the
/// initialisation for a run started from scratch), in net order.
public func layerSnapshots(_ run: RunRecord, step: Int) -> [LayerSnapshot] {
    let batch = Double(run.attributes["batch_size"].flatMap { Int($0) } ?? 0)
    // Var_n with the population 1/B: the mean over j of Var_n(x[n, j]) is (1 − 1/B)·q·(1 − c) for
    // pairwise correlation c, since the B diagonal pairs of (1/B²)·Σ_ab x_a x_b have correlation 1.
    let finite = batch > 1 ? 1 - 1 / batch : 1

    func measured(_ l: LayerRecord) -> LayerSnapshot {
        var s = LayerSnapshot(name: l.name, type: l.type, index: l.index)
        s.role = l.role
        s.meanField = l.meanFieldRule
        s.mean = l.value("forward/mean", at: step)
        s.std = l.value("forward/std", at: step)
        if let m = s.mean, let sd = s.std { s.secondMoment = m * m + sd * sd }
        s.betweenSampleStd = l.value("forward/between_sample_std", at: step)
        if let d = l.value("forward/input_dependence", at: step), d.isFinite {
            s.inputDependence = d
        } else if let b = s.betweenSampleStd, let sd = s.std, sd > 0 {
            s.inputDependence = (b / sd) * (b / sd)
        } else if s.std == 0 {
            // A constant blob (e.g. a ReLU whose every unit is dead): 0/0 in the definition, and
            // certainly no dependence on the input.
            s.inputDependence = 0
        }
        if let b = s.betweenSampleStd, let q = s.secondMoment {
            s.betweenShare = q > 0 ? min(1, b * b / q) : 0
        }
        s.deadFraction = l.value("forward/dead_fraction", at: step)
        s.backwardL2 = l.value("backward/l2", at: step)
        s.fanIn = diagNumber(l.attributes["fan_in"])
        // The multiplier (W, γ) and offset (b, β) blobs the layer's rule reads.
        let which = l.meanFieldBlobs
        func secondMoment(_ k: Int?) -> Double? {
            guard let k, let m = l.value("param\(k)/data/mean", at: step),
                  let sd = l.value("param\(k)/data/std", at: step) else { return nil }
            return m * m + sd * sd
        }
        if let w2 = secondMoment(which.multiplier) {
            s.weightSecondMoment = w2
            if let f = s.fanIn { s.sigmaW2 = w2 * f }
        }
        if let b2 = secondMoment(which.offset) {
            s.biasSecondMoment = b2
            if s.isWeighted, let q = s.secondMoment, q > 0 { s.biasShare = b2 / q }
        }
        s.attributePredictedQ = diagNumber(l.attributes["predicted_q"])
        return s
    }

    var snaps = run.layers.map(measured)
    // Mean-field state of each blob by name: (E[x²], E[x_a·x_b]) over the ensemble of weights,
    // for two different inputs a ≠ b. In-place layers overwrite their blob's entry in net order.
    var chain: [String: MeanFieldState] = [:]
    // Per blob: the layer whose restart the chained state descends from (see chainRestartedAt).
    var restartOrigin: [String: String] = [:]
    func state(of s: LayerSnapshot) -> MeanFieldState? {
        guard let q = s.secondMoment, let sh = s.betweenShare else { return nil }
        return MeanFieldState(secondMoment: q, cross: q * (1 - sh / finite))
    }
    func share(_ st: MeanFieldState) -> Double? {
        guard st.secondMoment > 0 else { return nil }
        return max(0, finite * (1 - st.cross / st.secondMoment))
    }
    /// The measured parameter moments the rule of `s` reads: σ_w² (or E[γ²]) and σ_b² (E[β²]).
    func parameters(_ s: LayerSnapshot) -> MeanFieldParameterMoments {
        switch s.meanField {
        case .linear: return MeanFieldParameterMoments(multiplier: s.sigmaW2, offset: s.biasSecondMoment)
        case .affine: return MeanFieldParameterMoments(multiplier: s.weightSecondMoment, offset: s.biasSecondMoment)
        default: return MeanFieldParameterMoments()
        }
    }

    for (pos, layer) in run.layers.enumerated() {
        let tops = diagList(layer.attributes["tops"])
        let bottoms = diagList(layer.attributes["bottoms"])
        let out = tops.first
        // The measured input: the last earlier layer that wrote this layer's first bottom.
        var producer: Int? = nil
        if let b = bottoms.first {
            for p in stride(from: pos - 1, through: 0, by: -1)
            where diagList(run.layers[p].attributes["tops"]).contains(b) && snaps[p].secondMoment != nil {
                producer = p; break
            }
        }
        if let p = producer { snaps[pos].inputLayer = run.layers[p].name }

        let rule = snaps[pos].meanField
        if rule == .linear, let p = producer, let inState = state(of: snaps[p]),
           let one = MeanFieldChain.step(rule, input: inState, parameters: parameters(snaps[pos]), measured: nil),
           !one.restarted {
            // One step of the chain from the *measured* input (the length and correlation maps of
            // Poole et al. 2016 with the measurement in place of the recursion):
            // E[z²] = σ_w²·E[x²] + σ_b², E[z_a z_b] = σ_w²·E[x_a x_b] + σ_b².
            snaps[pos].predictedSecondMoment = one.state.secondMoment
            snaps[pos].predictedBetweenShare = share(one.state)
        }

        guard let out else { continue }
        let input = bottoms.first.flatMap { chain[$0] }
        let step = MeanFieldChain.step(rule, input: input, parameters: parameters(snaps[pos]),
                                       measured: state(of: snaps[pos]))
        chain[out] = step?.state
        let origin: String?
        if let step, step.restarted || (rule == .standardize && step.approximate) {
            origin = rule == .source ? nil : layer.name
        } else {
            origin = bottoms.first.flatMap { restartOrigin[$0] }
        }
        restartOrigin[out] = origin
        if let st = step?.state, !snaps[pos].isLossOrMetric {
            snaps[pos].chainSecondMoment = st.secondMoment
            snaps[pos].chainBetweenShare = share(st)
            snaps[pos].chainRestartedAt = origin
        }
    }
    return snaps
}
