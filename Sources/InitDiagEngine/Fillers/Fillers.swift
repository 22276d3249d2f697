import InitDiagCore
import InitDiagTrace
// Caffe's fillers (BVLC/caffe include/caffe/filler.hpp, final master; docs/semantics.md §3), with the same
// arithmetic types and the same order of draws from the run's shared RNG.

/// Caffe's fans of a blob (filler.hpp, XavierFiller/MSRAFiller): fan_in = count/shape(0);
/// fan_out = count/shape(1) for ≥ 2 axes, else count. A 1-D bias of N therefore has fan_in 1 and
/// fan_out N. A 0-D blob (one value) gets (1, 1); a zero axis gives 0.
public func caffeFans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
    let count = shape.reduce(1, *)
    guard let first = shape.first else { return (1, 1) }
    let fanIn = first > 0 ? count / first : 0
    let fanOut: Int
    if shape.count > 1 {
        fanOut = shape[1] > 0 ? count / shape[1] : 0
    } else {
        fanOut = count
    }
    return (fanIn, fanOut)
}

/// The n of xavier/msra as Caffe computes it, in float: `Dtype n = fan_in`; AVERAGE:
/// `(fan_in + fan_out) / Dtype(2)` (integer sum, then a float division); FAN_OUT: fan_out.
func caffeVarianceNormN(_ norm: FillerParameter.VarianceNorm, shape: [Int]) -> Float {
    let (fanIn, fanOut) = caffeFans(shape)
    switch norm {
    case .FAN_IN: return Float(fanIn)
    case .FAN_OUT: return Float(fanOut)
    case .AVERAGE: return Float(fanIn + fanOut) / Float(2)
    }
}

/// xavier's half-width: `sqrt(Dtype(3) / n)` in float.
func caffeXavierScale(_ filler: FillerParameter, shape: [Int]) -> Float {
    (Float(3) / caffeVarianceNormN(filler.varianceNorm, shape: shape)).squareRoot()
}

/// msra's σ: `sqrt(Dtype(2) / n)` in float.
func caffeMSRAStd(_ filler: FillerParameter, shape: [Int]) -> Float {
    (Float(2) / caffeVarianceNormN(filler.varianceNorm, shape: shape)).squareRoot()
}

/// One of Caffe's filler types (BVLC/caffe include/caffe/filler.hpp): how it fills a blob, drawing
/// from the run's shared generator in Caffe's order, and the moments and text the probes, the
/// mean-field prediction and the reports need. One struct per type, each in its own file
/// (`Fillers/<Type>Filler.swift`), registered once in `FillerRegistry.types`.
public protocol Filler: Sendable {
    /// The `type:` text of the FillerParameter ("xavier").
    static var typeName: String { get }
    /// Whether the type accepts `sparse` ≥ 0 (only gaussian; the others end with Caffe's
    /// CHECK_EQ(sparse, -1) "Sparsity not supported by this Filler.").
    static var supportsSparse: Bool { get }
    init(_ parameter: FillerParameter)
    /// Fills `count` values at `data` (a blob of `shape`, count > 0). A Caffe CHECK failure throws
    /// `FillerCheckFailure` with its reason; `fill(_:with:rng:layer:)` names the layer and blob.
    func fill(_ data: UnsafeMutablePointer<Float>, count: Int, shape: [Int], rng: RandomSource) throws
    /// The variance of the values over the draw (over the values for a deterministic filler), nil
    /// where it is not defined (a shape the filler rejects). Called with count > 0.
    func variance(shape: [Int]) -> Double?
    /// The mean of the values, nil where it has no simple closed form.
    func mean(shape: [Int]) -> Double?
    /// Short human text: "xavier U(±1.732)", "msra N(0, σ=0.2357)", "constant 0".
    func describe(shape: [Int]) -> String
}

public extension Filler {
    static var supportsSparse: Bool { false }
}

/// A filler's Caffe CHECK failure: the reason, without the layer (added by `fill`).
public struct FillerCheckFailure: Error, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
}

/// The filler types by `type:` name: Caffe's GetFiller. Adding a filler is its file plus one line
/// here.
public enum FillerRegistry {
    public static let types: [String: Filler.Type] = [
        ConstantFiller.typeName: ConstantFiller.self,
        GaussianFiller.typeName: GaussianFiller.self,
        PositiveUnitballFiller.typeName: PositiveUnitballFiller.self,
        UniformFiller.typeName: UniformFiller.self,
        XavierFiller.typeName: XavierFiller.self,
        MSRAFiller.typeName: MSRAFiller.self,
        BilinearFiller.typeName: BilinearFiller.self,
    ]

    /// The filler for `parameter`, nil for a type Caffe does not know.
    public static func filler(_ parameter: FillerParameter) -> Filler? {
        types[parameter.type].map { $0.init(parameter) }
    }
}

/// The filler type names Caffe's GetFiller accepts, in filler.hpp's order.
public let caffeFillerTypes = ["constant", "gaussian", "positive_unitball", "uniform", "xavier", "msra", "bilinear"]

/// Fills `blob.data` as Caffe's filler `filler.type` does, drawing from `rng` in Caffe's order.
/// Errors are Caffe's CHECK failures (and its unknown-filler fatal) as `InputError`s naming `layer`.
public func fill(_ blob: Blob, with filler: FillerParameter, rng: RandomSource, layer: String) throws {
    func fail(_ why: String) -> InputError {
        InputError("layer \(layer): \(filler.type) filler on blob \(blob.shapeString): \(why)")
    }
    guard let type = FillerRegistry.types[filler.type] else {
        throw InputError("layer \(layer): unknown filler type '\(filler.type)' (valid: \(caffeFillerTypes.joined(separator: ", ")))")
    }
    // Every Caffe filler starts with CHECK(blob->count()).
    guard blob.count > 0 else { throw fail("the blob is empty") }
    if !type.supportsSparse && filler.sparse != -1 {
        throw fail("sparse is only supported by the gaussian filler")
    }
    do {
        try type.init(filler).fill(blob.data, count: blob.count, shape: blob.shape, rng: rng)
    } catch let f as FillerCheckFailure {
        throw fail(f.reason)
    }
}

/// The variance the filler gives the values of a blob of `shape` (see `Filler.variance`), or nil
/// where it is not defined (unknown type, an empty blob, a shape the filler rejects).
/// constant 0; uniform (max − min)²/12; gaussian σ² — with sparse, value = m·x, m ~ Bernoulli(p),
/// p = sparse/shape(0): p(σ² + μ²) − p²μ²; xavier s²/3 = 1/n; msra 2/n; positive_unitball the
/// first-order (delta-method) value for x_i/Σx over a row of d uniforms, (d − 1)/(3d³);
/// bilinear the population variance of the kernel values. n, s and σ are Caffe's float values.
public func fillerVariance(_ filler: FillerParameter, shape: [Int]) -> Double? {
    guard shape.reduce(1, *) > 0 else { return nil }
    return FillerRegistry.filler(filler)?.variance(shape: shape)
}

/// The mean of the values a filler gives, for second moments E[b²] = Var + mean²; nil where it
/// has no simple closed form (bilinear) or the type is unknown.
public func fillerMean(_ f: FillerParameter, shape: [Int]) -> Double? {
    FillerRegistry.filler(f)?.mean(shape: shape)
}

/// Short human text for the filler on a blob of `shape` (`Filler.describe`); "<type> (unknown)"
/// for a type Caffe does not know.
public func fillerDescription(_ filler: FillerParameter, shape: [Int]) -> String {
    FillerRegistry.filler(filler)?.describe(shape: shape) ?? "\(filler.type) (unknown)"
}

/// " AVERAGE" / " FAN_OUT" after the type word of xavier and msra; nothing for FAN_IN.
func varianceNormSuffix(_ filler: FillerParameter) -> String {
    filler.varianceNorm == .FAN_IN ? "" : " \(filler.varianceNorm.rawValue)"
}

/// Current BilinearFiller (since 2017-10-02): f = ceil(K/2.) (a double ceil stored in an int),
/// c = (K − 1)/(2.·f) computed in double and stored as Dtype (float).
func bilinearParameters(_ k: Int) -> (f: Int, c: Float) {
    let f = Int((Double(k) / 2).rounded(.up))
    let c = Float(Double(k - 1) / (2 * Double(f)))
    return (f, c)
}

/// Four significant digits, no exponent for ordinary magnitudes ("1.732", "0.05893", "0.01").
func fillerNumber(_ v: Double) -> String {
    if v == 0 { return "0" }
    if !v.isFinite { return "\(v)" }
    let magnitude = abs(v)
    if magnitude >= 1e-4 && magnitude < 1e6 {
        // Round to 4 significant digits, then print the shortest decimal of that double.
        let exponent = Int((magnitude).log10Floor)
        let scale = pow10(3 - exponent)
        let rounded = (v * scale).rounded() / scale
        var text = "\(rounded)"
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }
    let exponent = Int((magnitude).log10Floor)
    var mantissa = "\((v / pow10(exponent) * 1000).rounded() / 1000)"
    if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
    return "\(mantissa)e\(exponent)"
}

private func pow10(_ e: Int) -> Double {
    var r = 1.0
    if e >= 0 { for _ in 0..<e { r *= 10 } } else { for _ in 0..<(-e) { r /= 10 } }
    return r
}

private extension Double {
    /// floor(log10(self)) for self > 0, by counting decades (no libm needed, exact at powers of 10).
    var log10Floor: Double {
        var e = 0
        var m = self
        while m >= 10 { m /= 10; e += 1 }
        while m < 1 { m *= 10; e -= 1 }
        return Double(e)
    }
}

func uniformText(min: Float, max: Float) -> String {
    if min == -max { return "U(±\(fillerNumber(Double(max))))" }
    return "U(\(fillerNumber(Double(min))), \(fillerNumber(Double(max))))"
}
