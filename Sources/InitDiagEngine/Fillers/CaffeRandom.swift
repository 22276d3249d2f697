import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Caffe's random distributions on the shared MT19937 stream (docs/semantics.md §3.1).
//
// Caffe builds a fresh boost distribution + variate_generator inside every caffe_rng_* call
// (BVLC/caffe src/caffe/util/math_functions.cpp), so no state other than the engine survives a
// call: a Box–Muller pair cached by the gaussian is dropped when the call ends.
//
// Every routine copies the engine into a local variable for the duration of the loop (no class
// indirection per draw) and writes it back at the end.

/// boost's `uniform_real_distribution<float>` driven by an integer engine
/// (boostorg/random include/boost/random/uniform_real_distribution.hpp, generate_uniform_real with
/// is_integral = true): numerator = float(x − min) and divisor = float(max − min) + 1, both in
/// float (for mt19937 the divisor is float(4294967295) + 1, which rounds to 2^32); the result is
/// numerator / divisor · (b − a) + a evaluated left to right in float, and a result ≥ b is drawn
/// again. A range wider than FLT_MAX is halved first and the result doubled.
@inline(__always)
func boostUniformReal(_ engine: inout MT19937, _ a: Float, _ b: Float) -> Float {
    if b / 2 - a / 2 > Float.greatestFiniteMagnitude / 2 {
        return 2 * boostUniformReal(&engine, a / 2, b / 2)
    }
    let divisor = Float(UInt32.max) + 1
    while true {
        let numerator = Float(engine.next())
        let result = numerator / divisor * (b - a) + a
        if result < b { return result }
    }
}

/// boost's `uniform_01<float>` on an integer engine (boostorg/random uniform_01.hpp,
/// new_uniform_01): factor = 1 / (float(max − min) + 1) = 2^−32, result = float(x)·factor,
/// drawn again while the result is ≥ 1 (x within 128 of 2^32 rounds up to 1).
@inline(__always)
func boostUniform01(_ engine: inout MT19937) -> Float {
    let factor = 1 / (Float(UInt32.max) + 1)
    while true {
        let result = Float(engine.next()) * factor
        if result < 1 { return result }
    }
}

extension RandomSource {
    /// Caffe's `caffe_rng_uniform(n, a, b, r)`: boost uniform_real on [a, nextafter(b, +∞)), so b
    /// itself can be drawn. One engine output per value (plus one per rare redraw).
    public func caffeUniform(count: Int, min a: Float, max b: Float, into out: UnsafeMutablePointer<Float>) {
        // caffe_nextafter: boost::math::nextafter(b, FLT_MAX), the next float above b.
        let bPrime = b.nextUp
        var engine = self.engine
        for i in 0..<count { out[i] = boostUniformReal(&engine, a, bPrime) }
        self.engine = engine
    }

    /// Caffe's `caffe_rng_gaussian(n, mean, σ, r)`.
    ///
    /// Generator: boost's Box–Muller `normal_distribution<float>` as shipped in boost 1.47–1.55
    /// (boostorg/random include/boost/random/normal_distribution.hpp before the ziggurat rework):
    /// per pair, r1 and r2 come from uniform_01<float>, ρ = sqrt(−2·log(1 − r2)); the first value
    /// is ρ·cos(2π·r1)·σ + μ, the second ρ·sin(2π·r1)·σ + μ, all in float (glibc's logf, cosf,
    /// sinf, as a Linux C++ build of Caffe calls them). The pair cache lives for one call, as in
    /// Caffe. boost ≥ 1.56 uses a ziggurat instead: values then match in distribution, not
    /// bit for bit (docs/semantics.md §3.1).
    public func caffeGaussian(count: Int, mean: Float, std sigma: Float, into out: UnsafeMutablePointer<Float>) {
        let twoPi = Float(2) * Float(3.14159265358979323846)
        var engine = self.engine
        var i = 0
        while i < count {
            let r1 = boostUniform01(&engine)
            let r2 = boostUniform01(&engine)
            let rho = sqrtf(-Float(2) * logf(Float(1) - r2))
            let angle = twoPi * r1
            out[i] = rho * cosf(angle) * sigma + mean
            if i + 1 < count { out[i + 1] = rho * sinf(angle) * sigma + mean }
            i += 2
        }
        self.engine = engine
    }

    /// Caffe's `caffe_rng_bernoulli(n, p, r)` with a float p: boost bernoulli_distribution<float>
    /// (boostorg/random include/boost/random/bernoulli_distribution.hpp): false when p = 0 (no
    /// draw), else float(x) ≤ p·float(2^32 − 1), one draw per value.
    public func caffeBernoulli(count: Int, p: Float, into out: UnsafeMutablePointer<Int32>) {
        if p == 0 {
            out.update(repeating: 0, count: count)
            return
        }
        let threshold = p * Float(UInt32.max)
        var engine = self.engine
        for i in 0..<count { out[i] = Float(engine.next()) <= threshold ? 1 : 0 }
        self.engine = engine
    }

    /// The same with a double p (Caffe's CPU dropout passes `1. - threshold_` as double): the
    /// comparison is double(x) ≤ p·double(2^32 − 1).
    public func caffeBernoulli(count: Int, p: Double, into out: UnsafeMutablePointer<UInt32>) {
        if p == 0 {
            out.update(repeating: 0, count: count)
            return
        }
        let threshold = p * Double(UInt32.max)
        var engine = self.engine
        for i in 0..<count { out[i] = Double(engine.next()) <= threshold ? 1 : 0 }
        self.engine = engine
    }
}
