import InitDiagCore
import InitDiagTrace
// Caffe's fillers (BVLC/caffe include/caffe/filler.hpp, final master; SEMANTICS §3), with the same
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

/// The filler type names Caffe's GetFiller accepts.
public let caffeFillerTypes = ["constant", "gaussian", "positive_unitball", "uniform", "xavier", "msra", "bilinear"]

/// Fills `blob.data` as Caffe's filler `filler.type` does, drawing from `rng` in Caffe's order.
/// Errors are Caffe's CHECK failures (and its unknown-filler fatal) as `InputError`s naming `layer`.
public func fill(_ blob: Blob, with filler: FillerParameter, rng: RandomSource, layer: String) throws {
    let count = blob.count
    let shape = blob.shape
    let data = blob.data
    func fail(_ why: String) -> InputError {
        InputError("layer \(layer): \(filler.type) filler on blob \(blob.shapeString): \(why)")
    }
    guard caffeFillerTypes.contains(filler.type) else {
        throw InputError("layer \(layer): unknown filler type '\(filler.type)' (valid: \(caffeFillerTypes.joined(separator: ", ")))")
    }
    // Every Caffe filler starts with CHECK(blob->count()).
    guard count > 0 else { throw fail("the blob is empty") }
    // All but gaussian end with CHECK_EQ(sparse, -1) "Sparsity not supported by this Filler."
    if filler.type != "gaussian" && filler.sparse != -1 {
        throw fail("sparse is only supported by the gaussian filler")
    }

    switch filler.type {
    case "constant":
        data.update(repeating: filler.value, count: count)

    case "uniform":
        // caffe_rng_uniform CHECK_LE(a, b).
        guard filler.min <= filler.max else { throw fail("min \(filler.min) > max \(filler.max)") }
        rng.caffeUniform(count: count, min: filler.min, max: filler.max, into: data)

    case "gaussian":
        guard filler.std > 0 else { throw fail("std must be > 0 (got \(filler.std))") }
        guard filler.sparse >= -1 else { throw fail("sparse must be ≥ -1 (got \(filler.sparse))") }
        var mask: [Int32] = []
        var p: Float = 0
        if filler.sparse >= 0 {
            // num_outputs = shape(0); p = Dtype(sparse)/Dtype(num_outputs); caffe_rng_bernoulli
            // CHECK_LE(p, 1), so sparse > shape(0) aborts Caffe. Checked before any draw.
            guard let outputs = shape.first else { throw fail("sparse needs at least one axis") }
            p = Float(filler.sparse) / Float(outputs)
            guard p <= 1 else { throw fail("sparse \(filler.sparse) exceeds shape(0) = \(outputs)") }
            mask = [Int32](repeating: 0, count: count)
        }
        rng.caffeGaussian(count: count, mean: filler.mean, std: filler.std, into: data)
        if filler.sparse >= 0 {
            // The mask is drawn after all gaussian values and multiplied in (data[i] *= mask[i]).
            mask.withUnsafeMutableBufferPointer { m in
                rng.caffeBernoulli(count: count, p: p, into: m.baseAddress!)
                for i in 0..<count { data[i] *= Float(m[i]) }
            }
        }

    case "positive_unitball":
        // U(0, 1) over the whole blob, then each of the shape(0) rows divided by its float sum.
        rng.caffeUniform(count: count, min: 0, max: 1, into: data)
        let rows = shape.first ?? 1
        let dim = count / rows
        for r in 0..<rows {
            let row = data + r * dim
            var sum: Float = 0
            for j in 0..<dim { sum += row[j] }
            for j in 0..<dim { row[j] /= sum }
        }

    case "xavier":
        // One uniform call over all values: U(−s, s), s = sqrt(3/n).
        let scale = caffeXavierScale(filler, shape: shape)
        rng.caffeUniform(count: count, min: -scale, max: scale, into: data)

    case "msra":
        let std = caffeMSRAStd(filler, shape: shape)
        rng.caffeGaussian(count: count, mean: 0, std: std, into: data)

    case "bilinear":
        guard shape.count == 4 else { throw fail("Blob must be 4 dim.") }
        guard shape[2] == shape[3] else { throw fail("Filter must be square") }
        let k = shape[3]
        let (f, c) = bilinearParameters(k)
        let fF = Float(f)
        for i in 0..<count {
            let x = Float(i % k)
            let y = Float((i / k) % k)
            data[i] = (1 - abs(x / fF - c)) * (1 - abs(y / fF - c))
        }

    default:
        break  // unreachable: checked against caffeFillerTypes above
    }
}

/// Current BilinearFiller (since 2017-10-02): f = ceil(K/2.) (a double ceil stored in an int),
/// c = (K − 1)/(2.·f) computed in double and stored as Dtype (float).
func bilinearParameters(_ k: Int) -> (f: Int, c: Float) {
    let f = Int((Double(k) / 2).rounded(.up))
    let c = Float(Double(k - 1) / (2 * Double(f)))
    return (f, c)
}

/// The variance the filler gives the values of a blob of `shape` (over the random draw, or over
/// the blob's values for a deterministic filler), or nil where it is not defined (unknown type,
/// an empty blob, a shape the filler rejects).
/// constant 0; uniform (max − min)²/12; gaussian σ² — with sparse, value = m·x, m ~ Bernoulli(p),
/// p = sparse/shape(0): p(σ² + μ²) − p²μ²; xavier s²/3 = 1/n; msra 2/n; positive_unitball the
/// first-order (delta-method) value for x_i/Σx over a row of d uniforms, (d − 1)/(3d³);
/// bilinear the population variance of the kernel values. n, s and σ are Caffe's float values.
public func fillerVariance(_ filler: FillerParameter, shape: [Int]) -> Double? {
    let count = shape.reduce(1, *)
    guard count > 0 else { return nil }
    switch filler.type {
    case "constant":
        return 0
    case "uniform":
        guard filler.min <= filler.max else { return nil }
        let w = Double(filler.max) - Double(filler.min)
        return w * w / 12
    case "gaussian":
        let s2 = Double(filler.std) * Double(filler.std)
        guard filler.sparse >= 0 else { return s2 }
        guard let outputs = shape.first, outputs > 0 else { return nil }
        let p = Double(Float(filler.sparse) / Float(outputs))
        guard p <= 1 else { return nil }
        let mu = Double(filler.mean)
        return p * (s2 + mu * mu) - p * p * mu * mu
    case "xavier":
        let s = Double(caffeXavierScale(filler, shape: shape))
        return s * s / 3
    case "msra":
        let s = Double(caffeMSRAStd(filler, shape: shape))
        return s * s
    case "positive_unitball":
        let d = Double(count / (shape.first ?? 1))
        return (d - 1) / (3 * d * d * d)
    case "bilinear":
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
    default:
        return nil
    }
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

/// Short human text for the filler on a blob of `shape`: "xavier U(±1.732)", "msra N(0, σ=0.2357)",
/// "gaussian N(0, σ=0.01)", "uniform U(-0.1, 0.3)", "constant 0", "bilinear K=4".
public func fillerDescription(_ filler: FillerParameter, shape: [Int]) -> String {
    let norm = filler.varianceNorm == .FAN_IN ? "" : " \(filler.varianceNorm.rawValue)"
    switch filler.type {
    case "constant":
        return "constant \(fillerNumber(Double(filler.value)))"
    case "uniform":
        return "uniform \(uniformText(min: filler.min, max: filler.max))"
    case "gaussian":
        var text = "gaussian N(\(fillerNumber(Double(filler.mean))), σ=\(fillerNumber(Double(filler.std))))"
        if filler.sparse >= 0 { text += " sparse \(filler.sparse)/\(shape.first ?? 1)" }
        return text
    case "xavier":
        let s = caffeXavierScale(filler, shape: shape)
        return "xavier\(norm) U(±\(fillerNumber(Double(s))))"
    case "msra":
        let s = caffeMSRAStd(filler, shape: shape)
        return "msra\(norm) N(0, σ=\(fillerNumber(Double(s))))"
    case "positive_unitball":
        return "positive_unitball U(0, 1)/row sum"
    case "bilinear":
        return "bilinear K=\(shape.last ?? 0)"
    default:
        return "\(filler.type) (unknown)"
    }
}

func uniformText(min: Float, max: Float) -> String {
    if min == -max { return "U(±\(fillerNumber(Double(max))))" }
    return "U(\(fillerNumber(Double(min))), \(fillerNumber(Double(max))))"
}
