import InitDiagCore
import InitDiagTrace
/// Caffe's ConstantFiller (BVLC/caffe include/caffe/filler.hpp): every value = `value` (default 0).
/// No draws.
public struct ConstantFiller: Filler {
    public static let typeName = "constant"
    public let value: Float
    public init(_ p: FillerParameter) { value = p.value }

    public func fill(_ data: UnsafeMutablePointer<Float>, count: Int, shape: [Int], rng: RandomSource) throws {
        data.update(repeating: value, count: count)
    }
    public func variance(shape: [Int]) -> Double? { 0 }
    public func mean(shape: [Int]) -> Double? { Double(value) }
    public func describe(shape: [Int]) -> String { "constant \(fillerNumber(Double(value)))" }
}
