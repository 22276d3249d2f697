import InitDiagCore
import InitDiagTrace
/// Caffe's BilinearFiller (BVLC/caffe include/caffe/filler.hpp, since 2017-10-02): a 4-D blob with
/// square K×K kernels, value (1 − |x/f − c|)·(1 − |y/f − c|) at kernel position (y, x), f and c
/// from `bilinearParameters`. Deterministic: no draws.
public struct BilinearFiller: Filler {
    public static let typeName = "bilinear"
    public init(_ p: FillerParameter) {}

    public func fill(_ data: UnsafeMutablePointer<Float>, count: Int, shape: [Int], rng: RandomSource) throws {
        guard shape.count == 4 else { throw FillerCheckFailure("Blob must be 4 dim.") }
        guard shape[2] == shape[3] else { throw FillerCheckFailure("Filter must be square") }
        let k = shape[3]
        let (f, c) = bilinearParameters(k)
        let fF = Float(f)
        for i in 0..<count {
            let x = Float(i % k)
            let y = Float((i / k) % k)
            data[i] = (1 - abs(x / fF - c)) * (1 - abs(y / fF - c))
        }
    }

    /// The population variance of the kernel values.
    public func variance(shape: [Int]) -> Double? {
        guard shape.count == 4, shape[2] == shape[3], shape[3] > 0 else { return nil }
        let k = shape[3]
        let (f, c) = bilinearParameters(k)
        var sum = 0.0, sumSq = 0.0
        for y in 0..<k {
            for x in 0..<k {
                let fF = Float(f)
                let v = Double((1 - abs(Float(x) / fF - c)) * (1 - abs(Float(y) / fF - c)))
                sum += v
                sumSq += v * v
            }
        }
        let n = Double(k * k)
        let mean = sum / n
        return max(0, sumSq / n - mean * mean)
    }

    /// Not given in closed form (nil).
    public func mean(shape: [Int]) -> Double? { nil }
    public func describe(shape: [Int]) -> String { "bilinear K=\(shape.last ?? 0)" }
}
