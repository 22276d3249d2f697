import InitDiagCore
import InitDiagTrace
import Foundation

/// What one layer looked like at one recorded step: the measured statistics the findings use and
/// the mean-field predictions they are compared with. Built by `layerSnapshots(_:step:)`.
///
/// Conventions (SPEC §3): `forward/…` describes the layer's first top right after its forward, so a
/// Convolution/InnerProduct followed by an in-place ReLU is seen *before* the ReLU (the
/// pre-activation z) and the ReLU layer's own forward stats are the activation relu(z).
public struct LayerSnapshot: Sendable, Equatable {
    public var name: String
    public var type: String
    public var index: Int
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
    /// Mean-field chained from the data layer through the net (ReLU: q/2 and the arc-cosine
    /// correlation map; pooling/dropout pass through; other layers restart from the measurement).
    public var chainSecondMoment: Double?
    public var chainBetweenShare: Double?
    /// The `predicted_q` layer attribute (written by the probes) when present.
    public var attributePredictedQ: Double?

    public init(name: String, type: String, index: Int) {
        self.name = name; self.type = type; self.index = index
    }
}

/// Layer types whose top is the input itself.
let diagDataLayerTypes: Set<String> = ["Data", "Input", "ImageData", "HDF5Data", "DummyData",
                                       "MemoryData", "WindowData", "AnnotatedData"]
/// Layer types computing z = Wx (+ b): the pre-activations the bias findings look at.
let diagLinearLayerTypes: Set<String> = ["Convolution", "InnerProduct", "Deconvolution"]
/// Layers that mean-field treats as passing the second moments through unchanged: in expectation
/// (Dropout scales kept units by 1/(1−p), E[x²] is kept), exactly (Split, Flatten, Reshape) or as an
/// approximation (max pooling raises E[x²] of an input-dependent signal; a constant pattern passes).
let diagPassThroughTypes: Set<String> = ["Pooling", "Dropout", "Split", "Flatten", "Reshape"]

func diagIsLossOrMetric(_ type: String) -> Bool {
    type.hasSuffix("Loss") || type == "Accuracy" || type == "Silence"
}

func diagList(_ text: String?) -> [String] {
    guard let text, !text.isEmpty else { return [] }
    return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
}

func diagNumber(_ text: String?) -> Double? {
    guard let text else { return nil }
    return Double(text.trimmingCharacters(in: .whitespaces))
}

/// The ReLU correlation map's kernel: for zero-mean jointly Gaussian (u, v) with variance q and
/// correlation c, E[relu(u)·relu(v)] = q/2 · f(c), f(c) = (√(1−c²) + (π − arccos c)·c)/π
/// (Cho & Saul 2009, arc-cosine kernel of degree 1; f(1) = 1 gives E[relu(z)²] = q/2).
public func reluCorrelationKernel(_ c: Double) -> Double {
    let cc = min(1, max(-1, c))
    return ((1 - cc * cc).squareRoot() + (Double.pi - acos(cc)) * cc) / Double.pi
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
        if let m = l.value("param0/data/mean", at: step), let sd = l.value("param0/data/std", at: step) {
            s.weightSecondMoment = m * m + sd * sd
            if let f = s.fanIn { s.sigmaW2 = (m * m + sd * sd) * f }
        }
        if let m = l.value("param1/data/mean", at: step), let sd = l.value("param1/data/std", at: step) {
            s.biasSecondMoment = m * m + sd * sd
            if diagLinearLayerTypes.contains(l.type), let q = s.secondMoment, q > 0 {
                s.biasShare = (m * m + sd * sd) / q
            }
        }
        s.attributePredictedQ = diagNumber(l.attributes["predicted_q"])
        return s
    }

    var snaps = run.layers.map(measured)
    // Mean-field state of each blob by name: (E[x²], E[x_a·x_b]) over the ensemble of weights,
    // for two different inputs a ≠ b. In-place layers overwrite their blob's entry in net order.
    var chain: [String: (m2: Double, cross: Double)] = [:]
    func state(of s: LayerSnapshot) -> (m2: Double, cross: Double)? {
        guard let q = s.secondMoment, let sh = s.betweenShare else { return nil }
        return (q, q * (1 - sh / finite))
    }
    func share(_ st: (m2: Double, cross: Double)) -> Double? {
        guard st.m2 > 0 else { return nil }
        return max(0, finite * (1 - st.cross / st.m2))
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

        let linear = diagLinearLayerTypes.contains(layer.type)
        if linear, let p = producer, let sw = snaps[pos].sigmaW2, let inState = state(of: snaps[p]) {
            // Mean-field for z = Wx + b with zero-mean weights independent of x (the length and
            // correlation maps of Poole et al. 2016, with the measured input in place of the recursion):
            // E[z²] = σ_w²·E[x²] + σ_b², E[z_a z_b] = σ_w²·E[x_a x_b] + σ_b².
            let sb = snaps[pos].biasSecondMoment ?? 0
            let q = sw * inState.m2 + sb
            snaps[pos].predictedSecondMoment = q
            snaps[pos].predictedBetweenShare = share((q, sw * inState.cross + sb))
        }

        guard let out else { continue }
        if diagDataLayerTypes.contains(layer.type) {
            if let st = state(of: snaps[pos]) { chain[out] = st } else { chain[out] = nil }
        } else if linear, let sw = snaps[pos].sigmaW2, let b = bottoms.first, let inState = chain[b] {
            let sb = snaps[pos].biasSecondMoment ?? 0
            chain[out] = (sw * inState.m2 + sb, sw * inState.cross + sb)
        } else if layer.type == "ReLU", let b = bottoms.first, let inState = chain[b],
                  layer.attributes["negative_slope"].flatMap(diagNumber) ?? 0 == 0 {
            // E[relu(z)²] = q/2; E[relu(z_a)relu(z_b)] = q/2·f(c) (the ReLU correlation map).
            let c = inState.m2 > 0 ? inState.cross / inState.m2 : 1
            chain[out] = (inState.m2 / 2, inState.m2 / 2 * reluCorrelationKernel(c))
        } else if diagPassThroughTypes.contains(layer.type), let b = bottoms.first, let inState = chain[b] {
            chain[out] = inState
        } else {
            // A layer mean-field is not modelled for here (BatchNorm, Scale, LRN, Eltwise, …):
            // restart the chain from what was measured.
            chain[out] = state(of: snaps[pos])
        }
        if let st = chain[out], !diagIsLossOrMetric(layer.type) {
            snaps[pos].chainSecondMoment = st.m2
            snaps[pos].chainBetweenShare = share(st)
        }
    }
    return snaps
}
