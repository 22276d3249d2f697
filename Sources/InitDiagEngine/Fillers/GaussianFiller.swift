import InitDiagCore
import InitDiagTrace
/// Caffe's GaussianFiller (BVLC/caffe include/caffe/filler.hpp): N(mean, std²) over the whole blob
/// (defaults 0, 1; std > 0). With sparse ≥ 0 a Bernoulli mask with p = sparse/shape(0) is drawn
/// after all the gaussian values and multiplied in (caffe_rng_bernoulli CHECKs p ≤ 1).
public struct GaussianFiller: Filler {
    public static let typeName = "gaussian"
    public static var supportsSparse: Bool { true }
    /// μ (`mean`), σ (`std`) and `sparse` of the FillerParameter.
    public let mu: Float, std: Float, sparse: Int32
    public init(_ p: FillerParameter) { mu = p.mean; std = p.std; sparse = p.sparse }

    public func fill(_ data: UnsafeMutablePointer<Float>, count: Int, shape: [Int], rng: RandomSource) throws {
        guard std > 0 else { throw FillerCheckFailure("std must be > 0 (got \(std))") }
        guard sparse >= -1 else { throw FillerCheckFailure("sparse must be ≥ -1 (got \(sparse))") }
        var mask: [Int32] = []
        var p: Float = 0
        if sparse >= 0 {
            // num_outputs = shape(0); p = Dtype(sparse)/Dtype(num_outputs); caffe_rng_bernoulli
            // CHECK_LE(p, 1), so sparse > shape(0) aborts Caffe. Checked before any draw.
            guard let outputs = shape.first else { throw FillerCheckFailure("sparse needs at least one axis") }
            p = Float(sparse) / Float(outputs)
            guard p <= 1 else { throw FillerCheckFailure("sparse \(sparse) exceeds shape(0) = \(outputs)") }
            mask = [Int32](repeating: 0, count: count)
        }
        rng.caffeGaussian(count: count, mean: mu, std: std, into: data)
        if sparse >= 0 {
            // The mask is drawn after all gaussian values and multiplied in (data[i] *= mask[i]).
            mask.withUnsafeMutableBufferPointer { m in
                rng.caffeBernoulli(count: count, p: p, into: m.baseAddress!)
                for i in 0..<count { data[i] *= Float(m[i]) }
            }
        }
    }

    /// σ²; with sparse, value = m·x, m ~ Bernoulli(p): p(σ² + μ²) − p²μ².
    public func variance(shape: [Int]) -> Double? {
        let s2 = Double(std) * Double(std)
        guard sparse >= 0 else { return s2 }
        guard let outputs = shape.first, outputs > 0 else { return nil }
        let p = Double(Float(sparse) / Float(outputs))
        guard p <= 1 else { return nil }
        let mu = Double(self.mu)
        return p * (s2 + mu * mu) - p * p * mu * mu
    }

    /// μ; a sparse gaussian keeps each value with probability sparse/shape(0).
    public func mean(shape: [Int]) -> Double? {
        if sparse >= 0, let rows = shape.first, rows > 0 { return Double(mu) * Swift.min(1, Double(sparse) / Double(rows)) }
        return Double(mu)
    }

    public func describe(shape: [Int]) -> String {
        var text = "gaussian N(\(fillerNumber(Double(mu))), σ=\(fillerNumber(Double(std))))"
        if sparse >= 0 { text += " sparse \(sparse)/\(shape.first ?? 1)" }
        return text
    }
}
