import InitDiagCore
import InitDiagTrace
/// Caffe's MSRAFiller (BVLC/caffe include/caffe/filler.hpp): N(0, σ²) over all values with
/// σ = sqrt(2/n) in float, n as for xavier (`variance_norm`, default fan_in).
public struct MSRAFiller: Filler {
    public static let typeName = "msra"
    public let parameter: FillerParameter
    public init(_ p: FillerParameter) { parameter = p }

    public func fill(_ data: UnsafeMutablePointer<Float>, count: Int, shape: [Int], rng: RandomSource) throws {
        rng.caffeGaussian(count: count, mean: 0, std: caffeMSRAStd(parameter, shape: shape), into: data)
    }
    /// σ² = 2/n.
    public func variance(shape: [Int]) -> Double? {
        let s = Double(caffeMSRAStd(parameter, shape: shape))
        return s * s
    }
    public func mean(shape: [Int]) -> Double? { 0 }
    public func describe(shape: [Int]) -> String {
        "msra\(varianceNormSuffix(parameter)) N(0, σ=\(fillerNumber(Double(caffeMSRAStd(parameter, shape: shape)))))"
    }
}
