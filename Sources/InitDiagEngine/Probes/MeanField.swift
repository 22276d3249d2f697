import InitDiagCore
import InitDiagTrace
import Foundation

/// Mean-field predictions of how a freshly initialised net transforms the signal, layer by layer,
/// to set beside what the probes measure (Poole et al. 2016, "Exponential expressivity in deep
/// neural networks through transient chaos"; Schoenholz et al. 2017, "Deep information
/// propagation"). Weights of a layer are treated as i.i.d. with zero mean, pre-activations as
/// Gaussian over the random weights.
///
/// For every blob we carry its second moment m = E[x²] and the cross moment between two different
/// inputs C = E[x_a·x_b]; the correlation is c = C/m. Each layer maps them by the rule it declares
/// (`Layer.meanField`), through the one chain step `MeanFieldChain.step` that the diagnosis of a
/// trace uses too. Here the parameter moments come from the fillers: `.linear` takes
/// σ_w² = Var(w)·fan_in and σ_b² = E[b²], the bias's *second moment* (for Caffe's xavier on a 1-D
/// bias: 1.0); `.affine` takes E[γ²] and E[β²]. Nothing is measured but the data, so a layer whose
/// rule restarts the chain (or that cannot be applied) has no prediction, and neither have the
/// layers after it until the chain meets data again; a standardisation predicts m' = 1, c' = 0.
/// When β dominates σ_w²·m, c' → 1: every input produces the same pattern; that is the
/// input-collapse the diagnosis looks for.
public struct MeanFieldPrediction: Sendable, Equatable {
    /// Predicted E[x²] of the layer's first top.
    public var secondMoment: Double
    /// Predicted correlation between two different inputs at the layer's first top.
    public var correlation: Double
    /// σ_w² = Var(w)·fan_in (`.linear` layers) and E[b²] (E[β²] for `.affine` ones).
    public var sigmaW2: Double?
    public var biasSecondMoment: Double?
    /// True where the rule is an approximation (pooling, a standardisation).
    public var approximate: Bool
}

public enum MeanField {
    /// The second moments a filler gives a blob of `shape`: its variance and E[x²] = Var + mean²
    /// (nil where the filler has no closed form).
    public static func fillerMoments(_ f: FillerParameter, shape: [Int]) -> (variance: Double, secondMoment: Double)? {
        guard let v = fillerVariance(f, shape: shape), let mu = fillerMean(f, shape: shape) else { return nil }
        return (v, v + mu * mu)
    }

    /// Predictions for every layer of `net`, in order (nil where the layer has no first top or no
    /// state: see the type's comment). `inputSecondMoment` and `inputCorrelation` describe the data
    /// blob (measured from the first batch); `fillers(li)` gives the fillers layer li was filled with.
    public static func predict(net: Net, inputSecondMoment: Double, inputCorrelation: Double,
                               secondMoments: (_ filler: FillerParameter, _ shape: [Int]) -> (variance: Double, secondMoment: Double)? = MeanField.fillerMoments,
                               fillers: (_ layerIndex: Int) -> [FillerParameter]) -> [MeanFieldPrediction?] {
        let data = MeanFieldState(secondMoment: inputSecondMoment, cross: inputCorrelation * inputSecondMoment)
        var states: [Int: MeanFieldState] = [:]
        var out: [MeanFieldPrediction?] = []
        for (li, layer) in net.layers.enumerated() {
            let tops = net.topIDs[li]
            guard !tops.isEmpty else { out.append(nil); continue }
            let rule = layer.meanField
            let input = net.bottomIDs[li].first.flatMap { states[$0] }
            var parameters = MeanFieldParameterMoments()
            var sigmaW2: Double? = nil, offset: Double? = nil
            if rule == .linear || rule == .affine {
                let blobs = layer.blobs, fs = fillers(li), which = layer.meanFieldBlobs
                func moments(_ k: Int?) -> (variance: Double, secondMoment: Double)? {
                    guard let k, k < blobs.count, k < fs.count else { return nil }
                    return secondMoments(fs[k], blobs[k].shape)
                }
                if rule == .linear {
                    if let k = which.multiplier, k < blobs.count, let wm = moments(k) {
                        let w = blobs[k]
                        sigmaW2 = wm.variance * Double(w.count / max(1, w.shape.first ?? 1))
                    }
                    parameters.multiplier = sigmaW2
                } else {
                    parameters.multiplier = moments(which.multiplier)?.secondMoment
                }
                offset = moments(which.offset)?.secondMoment ?? 0
                parameters.offset = offset
            }
            let step = MeanFieldChain.step(rule, input: input, parameters: parameters,
                                           measured: rule == .source ? data : nil)
            for id in tops { states[id] = step?.state }
            guard let step else { out.append(nil); continue }
            out.append(MeanFieldPrediction(secondMoment: step.state.secondMoment, correlation: step.state.correlation,
                                           sigmaW2: rule == .linear ? sigmaW2 : nil,
                                           biasSecondMoment: rule == .linear || rule == .affine ? offset : nil,
                                           approximate: step.approximate))
        }
        return out
    }
}
