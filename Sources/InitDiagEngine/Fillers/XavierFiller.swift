import InitDiagCore
import InitDiagTrace
/// Caffe's XavierFiller (BVLC/caffe include/caffe/filler.hpp): one uniform call over all values,
/// U(−s, s) with s = sqrt(3/n) in float, n = fan_in (default), fan_out or their average
/// (`variance_norm`; fans from `caffeFans`).
public struct XavierFiller: Filler {
    public static let typeName = "xavier"
    public let parameter: FillerParameter
    public init(_ p: FillerParameter) { parameter = p }

    public func fill(_ data: UnsafeMutablePointer<Float>, count: Int, shape: [Int], rng: RandomSource) throws {
        let scale = caffeXavierScale(parameter, shape: shape)
        rng.caffeUniform(count: count, min: -scale, max: scale, into: data)
    }
    /// s²/3 = 1/n.
    public func variance(shape: [Int]) -> Double? {
        let s = Double(caffeXavierScale(parameter, shape: shape))
        return s * s / 3
    }
    public func mean(shape: [Int]) -> Double? { 0 }
    public func describe(shape: [Int]) -> String {
        "xavier\(varianceNormSuffix(parameter)) U(±\(fillerNumber(Double(caffeXavierScale(parameter, shape: shape)))))"
    }
}
