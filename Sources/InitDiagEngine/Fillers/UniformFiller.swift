import InitDiagCore
import InitDiagTrace
/// Caffe's UniformFiller (BVLC/caffe include/caffe/filler.hpp): U(min, max) over the whole blob in
/// one caffe_rng_uniform call (defaults 0, 1), which CHECKs min ≤ max.
public struct UniformFiller: Filler {
    public static let typeName = "uniform"
    public let min: Float, max: Float
    public init(_ p: FillerParameter) { min = p.min; max = p.max }

    public func fill(_ data: UnsafeMutablePointer<Float>, count: Int, shape: [Int], rng: RandomSource) throws {
        guard min <= max else { throw FillerCheckFailure("min \(min) > max \(max)") }
        rng.caffeUniform(count: count, min: min, max: max, into: data)
    }
    /// (max − min)²/12.
    public func variance(shape: [Int]) -> Double? {
        guard min <= max else { return nil }
        let w = Double(max) - Double(min)
        return w * w / 12
    }
    public func mean(shape: [Int]) -> Double? { (Double(min) + Double(max)) / 2 }
    public func describe(shape: [Int]) -> String { "uniform \(uniformText(min: min, max: max))" }
}
