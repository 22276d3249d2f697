import Foundation

/// Mean-field predictions of how a freshly initialised net transforms the signal, layer by layer,
/// to set beside what the probes measure (Poole et al. 2016, "Exponential expressivity in deep
/// neural networks through transient chaos"; Schoenholz et al. 2017, "Deep information
/// propagation"). Weights of a layer are treated as i.i.d. with zero mean, pre-activations as
/// Gaussian over the random weights.
///
/// For every blob we carry its second moment m = E[x²] and the cross moment between two different
/// inputs C = E[x_a·x_b]; the correlation is c = C/m.
/// - Convolution / InnerProduct (σ_w² = Var(w)·fan_in, β = E[b²], the bias's *second moment*,
///   which for Caffe's xavier on a 1-D bias is 1.0):  m' = σ_w²·m + β,  C' = σ_w²·C + β.
/// - ReLU on a zero-mean Gaussian pre-activation of variance q with correlation c:
///   E[relu(z)²] = q/2 and E[relu(z_a)relu(z_b)] = q/2·f(c), f(c) = (√(1−c²) + (π − arccos c)·c)/π
///   (the arc-cosine kernel of degree 1, Cho & Saul 2009). f(1) = 1, f(0) = 1/π.
/// - Dropout in TRAIN (keep 1−r, scale 1/(1−r)): m' = m/(1−r), C' = C (independent masks).
/// - BatchNorm: each channel is standardised over the batch: m' = 1 and the component shared by
///   all inputs is removed, c' ≈ 0.
/// - Scale: m' = E[γ²]·m + E[β²], C' = E[γ²]·C + E[β²].
/// - Pooling, Split, Flatten, Concat: passed through unchanged (max pooling raises m somewhat;
///   the prediction does not model it and says so).
/// When β dominates σ_w²·m, c' → 1: every input produces the same pattern; that is the
/// input-collapse the diagnosis looks for.
public struct MeanFieldPrediction: Sendable, Equatable {
    /// Predicted E[x²] of the layer's first top.
    public var secondMoment: Double
    /// Predicted correlation between two different inputs at the layer's first top.
    public var correlation: Double
    /// σ_w² = Var(w)·fan_in and E[b²] of the layer (conv / inner product only).
    public var sigmaW2: Double?
    public var biasSecondMoment: Double?
    /// True where the rule is an approximation (pooling).
    public var approximate: Bool
}

public enum MeanField {
    /// f(c) of the ReLU correlation map.
    public static func reluCorrelationKernel(_ c: Double) -> Double {
        let c = min(1, max(-1, c))
        return (sqrt(max(0, 1 - c * c)) + (Double.pi - acos(c)) * c) / Double.pi
    }

    /// Predictions for every layer of `net`, in order (nil where the layer has no first top or its
    /// type is not modelled). `inputSecondMoment` and `inputCorrelation` describe the data blob
    /// (measured from the first batch).
    public static func predict(net: Net, inputSecondMoment: Double, inputCorrelation: Double,
                               secondMoments: (_ filler: FillerParameter, _ shape: [Int]) -> (variance: Double, secondMoment: Double)?,
                               fillers: (_ layerIndex: Int) -> [FillerParameter]) -> [MeanFieldPrediction?] {
        var moments: [Int: (m: Double, C: Double)] = [:]
        var out: [MeanFieldPrediction?] = []
        for (li, lp) in net.layerParams.enumerated() {
            let bottoms = net.bottomIDs[li], tops = net.topIDs[li]
            guard !tops.isEmpty else { out.append(nil); continue }
            let input = bottoms.first.flatMap { moments[$0] }
            var result: MeanFieldPrediction? = nil
            switch lp.type {
            case "Data", "Input", "HDF5Data":
                result = MeanFieldPrediction(secondMoment: inputSecondMoment, correlation: inputCorrelation,
                                             sigmaW2: nil, biasSecondMoment: nil, approximate: false)
            case "Convolution", "InnerProduct":
                guard let (m, C) = input else { break }
                let blobs = net.layers[li].blobs
                let fs = fillers(li)
                guard let w = blobs.first, let wf = fs.first,
                      let wm = secondMoments(wf, w.shape) else { break }
                let fanIn = Double(w.count / max(1, w.shape.first ?? 1))
                let sigmaW2 = wm.variance * fanIn
                var beta = 0.0
                if blobs.count > 1, fs.count > 1, let bm = secondMoments(fs[1], blobs[1].shape) { beta = bm.secondMoment }
                let m2 = sigmaW2 * m + beta, C2 = sigmaW2 * C + beta
                result = MeanFieldPrediction(secondMoment: m2, correlation: m2 > 0 ? C2 / m2 : 0,
                                             sigmaW2: sigmaW2, biasSecondMoment: beta, approximate: false)
            case "ReLU":
                guard let (q, C) = input, (lp.reluParam?.negativeSlope ?? 0) == 0 else { break }
                let c = q > 0 ? C / q : 0
                let m2 = q / 2, C2 = q / 2 * reluCorrelationKernel(c)
                result = MeanFieldPrediction(secondMoment: m2, correlation: m2 > 0 ? C2 / m2 : 0,
                                             sigmaW2: nil, biasSecondMoment: nil, approximate: false)
            case "Dropout":
                guard let (m, C) = input else { break }
                let r = Double(lp.dropoutParam?.dropoutRatio ?? 0.5)
                let m2 = net.phase == .TRAIN && r < 1 ? m / (1 - r) : m
                result = MeanFieldPrediction(secondMoment: m2, correlation: m2 > 0 ? C / m2 : 0,
                                             sigmaW2: nil, biasSecondMoment: nil, approximate: false)
            case "BatchNorm":
                guard input != nil else { break }
                result = MeanFieldPrediction(secondMoment: 1, correlation: 0, sigmaW2: nil,
                                             biasSecondMoment: nil, approximate: true)
            case "Scale":
                guard let (m, C) = input else { break }
                let blobs = net.layers[li].blobs, fs = fillers(li)
                var g2 = 1.0, beta = 0.0
                if let g = blobs.first, let gf = fs.first, let gm = secondMoments(gf, g.shape) { g2 = gm.secondMoment }
                if blobs.count > 1, fs.count > 1, let bm = secondMoments(fs[1], blobs[1].shape) { beta = bm.secondMoment }
                let m2 = g2 * m + beta, C2 = g2 * C + beta
                result = MeanFieldPrediction(secondMoment: m2, correlation: m2 > 0 ? C2 / m2 : 0,
                                             sigmaW2: nil, biasSecondMoment: beta, approximate: false)
            case "Pooling", "Split", "Flatten", "Concat":
                guard let (m, C) = input else { break }
                result = MeanFieldPrediction(secondMoment: m, correlation: m > 0 ? C / m : 0, sigmaW2: nil,
                                             biasSecondMoment: nil, approximate: lp.type == "Pooling")
            default:
                break
            }
            if let r = result {
                for id in tops { moments[id] = (r.secondMoment, r.correlation * r.secondMoment) }
            } else {
                for id in tops { moments[id] = nil }
            }
            out.append(result)
        }
        return out
    }
}

/// The mean of the values a filler gives (SEMANTICS §3), for second moments E[b²] = Var + mean²;
/// nil where it has no simple closed form (bilinear).
public func fillerMean(_ f: FillerParameter, shape: [Int]) -> Double? {
    switch f.type {
    case "constant": return Double(f.value)
    case "uniform": return (Double(f.min) + Double(f.max)) / 2
    case "gaussian":
        // A sparse gaussian keeps each value with probability sparse/shape(0).
        if f.sparse >= 0, let rows = shape.first, rows > 0 { return Double(f.mean) * min(1, Double(f.sparse) / Double(rows)) }
        return Double(f.mean)
    case "xavier", "msra": return 0
    case "positive_unitball":
        guard let rows = shape.first, rows > 0 else { return nil }
        let perRow = shape.reduce(1, *) / rows
        return perRow > 0 ? 1 / Double(perRow) : nil
    default: return nil
    }
}
