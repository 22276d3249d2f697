import InitDiagCore
import InitDiagTrace
/// Caffe's PositiveUnitballFiller (BVLC/caffe include/caffe/filler.hpp): U(0, 1) over the whole
/// blob, then each of the shape(0) rows divided by its float sum.
public struct PositiveUnitballFiller: Filler {
    public static let typeName = "positive_unitball"
    public init(_ p: FillerParameter) {}

    public func fill(_ data: UnsafeMutablePointer<Float>, count: Int, shape: [Int], rng: RandomSource) throws {
        rng.caffeUniform(count: count, min: 0, max: 1, into: data)
        let rows = shape.first ?? 1
        let dim = count / rows
        for r in 0..<rows {
            let row = data + r * dim
            var sum: Float = 0
            for j in 0..<dim { sum += row[j] }
            for j in 0..<dim { row[j] /= sum }
        }
    }

    /// The first-order (delta-method) value for x_i/Σx over a row of d uniforms: (d − 1)/(3d³).
    public func variance(shape: [Int]) -> Double? {
        let d = Double(shape.reduce(1, *) / (shape.first ?? 1))
        return (d - 1) / (3 * d * d * d)
    }

    /// 1/d for rows of d values.
    public func mean(shape: [Int]) -> Double? {
        guard let rows = shape.first, rows > 0 else { return nil }
        let perRow = shape.reduce(1, *) / rows
        return perRow > 0 ? 1 / Double(perRow) : nil
    }

    public func describe(shape: [Int]) -> String { "positive_unitball U(0, 1)/row sum" }
}
