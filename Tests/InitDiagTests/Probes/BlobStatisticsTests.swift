import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Naive two-pass Double reference of every statistic, written independently of the one-pass code.
struct ReferenceStats {
    var mean = Double.nan, std = Double.nan, meanAbs = Double.nan, l2 = 0.0
    var min = Double.nan, max = Double.nan, zeroFraction = Double.nan, nonfinite = 0
    var betweenSampleStd = Double.nan, deadFraction = Double.nan, inputDependence = Double.nan

    init(_ x: [Float], shape: [Int]?) {
        let finite = x.filter { $0.isFinite }.map(Double.init)
        nonfinite = x.count - finite.count
        l2 = finite.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if !finite.isEmpty {
            let n = Double(finite.count)
            mean = finite.reduce(0, +) / n
            std = (finite.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot()
            meanAbs = finite.reduce(0) { $0 + abs($1) } / n
            min = finite.min()!
            max = finite.max()!
            zeroFraction = Double(finite.filter { $0 == 0 }.count) / n
        }
        guard let shape, nonfinite == 0, !x.isEmpty else { return }
        let samples = shape[0], perSample = x.count / samples
        var varianceSum = 0.0
        for j in 0..<perSample {
            let column = (0..<samples).map { Double(x[$0 * perSample + j]) }
            let m = column.reduce(0, +) / Double(samples)
            varianceSum += column.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(samples)
        }
        let meanVariance = varianceSum / Double(perSample)
        betweenSampleStd = meanVariance.squareRoot()
        inputDependence = std * std == 0 ? 0 : meanVariance / (std * std)
        let channels = shape.count >= 2 ? shape[1] : 1
        let positions = perSample / channels
        var dead = 0
        for c in 0..<channels {
            var alive = false
            for n in 0..<samples {
                for p in 0..<positions where x[n * perSample + c * positions + p] > 0 { alive = true }
            }
            if !alive { dead += 1 }
        }
        deadFraction = Double(dead) / Double(channels)
    }

    var asStats: BlobStats {
        BlobStats(mean: mean, std: std, meanAbs: meanAbs, l2: l2, min: min, max: max, zeroFraction: zeroFraction,
                  nonfiniteCount: nonfinite, betweenSampleStd: betweenSampleStd, deadFraction: deadFraction,
                  inputDependence: inputDependence)
    }
}

private func randomBlob(_ count: Int, seed: UInt32, offset: Float = 0.3) -> [Float] {
    var g = MT19937(seed: seed)
    return (0..<count).map { _ in
        // Uniform(-1, 1) + offset, some exact zeros and some negative-only stretches.
        let u = Float(g.next()) / Float(UInt32.max) * 2 - 1
        return g.next() % 13 == 0 ? 0 : u + offset
    }
}

/// Tolerances from the error bound of BlobStatistics (its doc comment): every Float sum has at
/// most 64 terms before it goes to Double, so with u = 2⁻²⁴ a sum is off by at most ≈ 66u·Σ|terms|
/// (γ₆₃ of the summation plus the rounding of x − shift and of its square). mean, std, mean_abs and
/// l2 are therefore within 66u ≈ 3.9e-6 relative (mean: of the spread); the per-element variance
/// over the batch uses x[0, j] as its shift, which for these uniform values (|x₀ − μ| ≤ √3·σ)
/// bounds its relative error by ≈ 66u·(1 + z²) + 130u·z·√(1 + z²) ≤ 720u ≈ 4.3e-5 (std: half).
private let flatTolerance = 4e-6
private let betweenSampleTolerance = 2.2e-5
private let inputDependenceTolerance = 5e-5

/// |a − b| ≤ tol · max(1, |b|), with NaN = NaN.
private func close(_ a: Double, _ b: Double, _ tol: Double = flatTolerance) -> Bool {
    if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
    return abs(a - b) <= tol * Swift.max(1, abs(b))
}

private func expectMatches(_ s: BlobStats, _ r: ReferenceStats, forward: Bool, _ what: String) {
    #expect(close(s.mean, r.mean), "\(what) mean \(s.mean) vs \(r.mean)")
    #expect(close(s.std, r.std), "\(what) std \(s.std) vs \(r.std)")
    #expect(close(s.meanAbs, r.meanAbs), "\(what) mean_abs")
    #expect(close(s.l2, r.l2), "\(what) l2")
    #expect(close(s.min, r.min, 0) && close(s.max, r.max, 0), "\(what) min/max")
    #expect(close(s.zeroFraction, r.zeroFraction, 0), "\(what) zero_fraction")
    #expect(s.nonfiniteCount == r.nonfinite, "\(what) nonfinite")
    if forward {
        #expect(close(s.betweenSampleStd, r.betweenSampleStd, betweenSampleTolerance), "\(what) between_sample_std \(s.betweenSampleStd) vs \(r.betweenSampleStd)")
        #expect(close(s.inputDependence, r.inputDependence, inputDependenceTolerance), "\(what) input_dependence \(s.inputDependence) vs \(r.inputDependence)")
        #expect(close(s.deadFraction, r.deadFraction, 0), "\(what) dead_fraction \(s.deadFraction) vs \(r.deadFraction)")
    }
}

private func bits(_ s: BlobStats) -> [UInt64] { s.forwardValues.map { $0.bitPattern } }

@Suite struct BlobStatisticsTests {
    @Test func namesMatchSpec() {
        #expect(BlobStats.names == ["mean", "std", "mean_abs", "l2", "min", "max", "zero_fraction", "nonfinite_count"])
        #expect(BlobStats.forwardNames.suffix(3) == ["between_sample_std", "dead_fraction", "input_dependence"])
        let s = BlobStats(mean: 1, std: 2, meanAbs: 3, l2: 4, min: 5, max: 6, zeroFraction: 7, nonfiniteCount: 8,
                          betweenSampleStd: 9, deadFraction: 10, inputDependence: 11)
        #expect(s.forwardValues == (1...11).map(Double.init))
        var out = [Double](repeating: -1, count: 12)
        out.withUnsafeMutableBufferPointer { s.store(into: $0.baseAddress!, forward: true) }
        #expect(Array(out.prefix(11)) == (1...11).map(Double.init) && out[11] == -1)
    }

    @Test(arguments: [[1], [7], [100_000], [8, 16, 5, 5], [100_000, 3], [3, 70_001]])
    func matchesTwoPassReference(shape: [Int]) {
        let count = shape.reduce(1, *)
        let x = randomBlob(count, seed: UInt32(count % 10_007))
        let stats = BlobStatistics(threads: 2)
        let flat = x.withUnsafeBufferPointer { stats.compute($0) }
        expectMatches(flat, ReferenceStats(x, shape: nil), forward: false, "flat \(shape)")
        #expect(flat.betweenSampleStd.isNaN && flat.deadFraction.isNaN && flat.inputDependence.isNaN)
        let forward = x.withUnsafeBufferPointer { stats.computeForward($0, shape: shape) }
        expectMatches(forward, ReferenceStats(x, shape: shape), forward: true, "forward \(shape)")
    }

    @Test func nonFiniteValuesAreCountedAndExcluded() {
        var x = randomBlob(8 * 16 * 5 * 5, seed: 3)
        x[0] = .nan; x[17] = .infinity; x[1999] = -.infinity; x[500] = .nan
        let stats = BlobStatistics(threads: 2)
        let s = x.withUnsafeBufferPointer { stats.computeForward($0, shape: [8, 16, 5, 5]) }
        expectMatches(s, ReferenceStats(x, shape: [8, 16, 5, 5]), forward: false, "nonfinite")
        #expect(s.nonfiniteCount == 4)
        #expect(s.betweenSampleStd.isNaN && s.inputDependence.isNaN && s.deadFraction.isNaN)
        // Finite-only statistics equal those of the blob with the bad entries removed.
        let cleaned = x.filter { $0.isFinite }
        let c = cleaned.withUnsafeBufferPointer { stats.compute($0) }
        // (The chunk with non-finite values takes the Double path, the cleaned blob the Float-block
        // path: they agree within the Float-block bound.)
        #expect(close(s.mean, c.mean) && close(s.std, c.std) && s.max == c.max && s.min == c.min)
        // Entirely non-finite: nothing to average.
        let allBad: [Float] = [.nan, .infinity]
        let b = allBad.withUnsafeBufferPointer { stats.compute($0) }
        #expect(b.nonfiniteCount == 2 && b.mean.isNaN && b.std.isNaN && b.l2 == 0)
    }

    @Test func nonFiniteChunksFallBackWithoutDisturbingTheOthers() {
        // 200 000 elements = 4 chunks; only chunks 0 and 2 hold non-finite values.
        var x = randomBlob(200_000, seed: 77)
        x[3] = .infinity; x[150_000] = .nan
        let stats = BlobStatistics(threads: 2)
        let flat = x.withUnsafeBufferPointer { stats.compute($0) }
        expectMatches(flat, ReferenceStats(x, shape: nil), forward: false, "flat with non-finite")
        let forward = x.withUnsafeBufferPointer { stats.computeForward($0, shape: [200, 1000]) }
        expectMatches(forward, ReferenceStats(x, shape: [200, 1000]), forward: false, "forward with non-finite")
        #expect(flat.nonfiniteCount == 2 && forward.nonfiniteCount == 2 && forward.inputDependence.isNaN)
    }

    @Test func anOutlyingFirstValueCostsLittlePrecision() {
        // The global shift is the first value; 1000 against a spread of ~0.6 (≈1700 σ). The Float
        // sums are shifted by their block's own mean, so the outlier only enters through the
        // Double combination and the result keeps the general Float-block bound.
        var x = randomBlob(100_000, seed: 5, offset: 0)
        x[0] = 1000
        let s = x.withUnsafeBufferPointer { BlobStatistics().compute($0) }
        let r = ReferenceStats(x, shape: nil)
        #expect(close(s.std, r.std) && close(s.mean, r.mean) && close(s.l2, r.l2),
                "\(s.std) vs \(r.std), \(s.mean) vs \(r.mean), \(s.l2) vs \(r.l2)")
        // A flat constant blob still has a spread of exactly 0.
        for value: Float in [0.1, -3.7, 12345.678] {
            let c = [Float](repeating: value, count: 70_001)
            let t = c.withUnsafeBufferPointer { BlobStatistics().compute($0) }
            #expect(t.std == 0 && t.mean == Double(value), "flat constant \(value)")
        }
    }

    @Test func biasDominatedBlobsKeepTheirSmallInputDependence() {
        // The seed net's signature: each unit is its bias (0.1 … 1) plus an input-dependent part
        // 1e-4 as large. Raw Float moments would lose Var_n entirely (u·mean² ≫ Var_n); the
        // shifted Float sums keep the relative bound.
        var g = MT19937(seed: 12)
        let samples = 128, units = 600
        let bias = (0..<units).map { _ in 0.1 + 0.9 * Float(g.next()) / Float(UInt32.max) }
        var x = [Float](repeating: 0, count: samples * units)
        for n in 0..<samples {
            for j in 0..<units { x[n * units + j] = bias[j] + 1e-4 * (Float(g.next()) / Float(UInt32.max) - 0.5) }
        }
        let r = ReferenceStats(x, shape: [samples, units])
        let s = x.withUnsafeBufferPointer { BlobStatistics(threads: 2).computeForward($0, shape: [samples, units]) }
        #expect(r.inputDependence < 1e-6)
        #expect(abs(s.inputDependence - r.inputDependence) <= inputDependenceTolerance * r.inputDependence,
                "input_dependence \(s.inputDependence) vs \(r.inputDependence)")
        #expect(abs(s.betweenSampleStd - r.betweenSampleStd) <= betweenSampleTolerance * r.betweenSampleStd,
                "between_sample_std \(s.betweenSampleStd) vs \(r.betweenSampleStd)")
    }

    @Test func constantBlobsHaveZeroSpreadAndNoInputDependence() {
        let stats = BlobStatistics(threads: 2)
        for value: Float in [0.1, -3.7, 0, 1e-30, 12345.678] {
            let x = [Float](repeating: value, count: 8 * 16 * 5 * 5)
            let s = x.withUnsafeBufferPointer { stats.computeForward($0, shape: [8, 16, 5, 5]) }
            #expect(s.std == 0, "std of constant \(value)")
            #expect(s.betweenSampleStd == 0 && s.inputDependence == 0, "constant \(value)")
            #expect(s.mean == Double(value) && s.min == Double(value) && s.max == Double(value))
            #expect(s.deadFraction == (value <= 0 ? 1 : 0))
        }
        // The same pattern for every sample (a bias-only output): spread but no input dependence.
        let pattern = randomBlob(16 * 5 * 5, seed: 9)
        let x = (0..<8).flatMap { _ in pattern }
        let s = x.withUnsafeBufferPointer { stats.computeForward($0, shape: [8, 16, 5, 5]) }
        #expect(s.std > 0.1 && s.betweenSampleStd == 0 && s.inputDependence == 0)
        // A zero-mean pattern that only depends on the input: input_dependence ≈ 1.
        var g = MT19937(seed: 4)
        let noise = (0..<(512 * 10)).map { _ in Float(g.next()) / Float(UInt32.max) - 0.5 }
        let d = noise.withUnsafeBufferPointer { stats.computeForward($0, shape: [512, 10]) }
        #expect(d.inputDependence > 0.97 && d.inputDependence <= 1 + 1e-12, "\(d.inputDependence)")
    }

    @Test func deadChannelsAndUnits() {
        // 4-D: channel 1 is ≤ 0 everywhere, channel 0 is positive at one position of one sample.
        var x = [Float](repeating: -1, count: 2 * 3 * 2 * 2)
        x[0 * 12 + 0 * 4 + 3] = 0.5          // sample 0, channel 0
        for p in 0..<4 { x[1 * 12 + 1 * 4 + p] = 0 }  // channel 1 is 0 or negative: dead
        x[1 * 12 + 2 * 4 + 1] = 2            // sample 1, channel 2
        let stats = BlobStatistics()
        let s = x.withUnsafeBufferPointer { stats.computeForward($0, shape: [2, 3, 2, 2]) }
        #expect(abs(s.deadFraction - 1.0 / 3.0) < 1e-15)
        // 2-D: units 0 and 2 of 4 never fire.
        let y: [Float] = [-1, 2, 0, 0, -3, -1, -2, 1]
        let t = y.withUnsafeBufferPointer { stats.computeForward($0, shape: [2, 4]) }
        #expect(t.deadFraction == 0.5)
    }

    @Test func identicalForOneAndTwoThreads() {
        for shape in [[100_000], [8, 16, 5, 5], [64, 64, 8, 8], [3, 200_000]] {
            var x = randomBlob(shape.reduce(1, *), seed: 21)
            let one = BlobStatistics(threads: 1), two = BlobStatistics(threads: 2)
            let a = x.withUnsafeBufferPointer { one.computeForward($0, shape: shape) }
            let b = x.withUnsafeBufferPointer { two.computeForward($0, shape: shape) }
            #expect(bits(a) == bits(b), "forward \(shape)")
            x[x.count / 2] = .nan
            let c = x.withUnsafeBufferPointer { one.compute($0) }
            let d = x.withUnsafeBufferPointer { two.compute($0) }
            #expect(bits(c) == bits(d), "flat \(shape)")
        }
    }

    @Test func scratchIsReusedAcrossSizes() {
        // One object, growing then shrinking blobs: results equal those of fresh objects.
        let reused = BlobStatistics(threads: 2)
        for (i, shape) in [[4, 10], [32, 64, 4, 4], [2, 3], [16, 8, 5, 5]].enumerated() {
            let x = randomBlob(shape.reduce(1, *), seed: UInt32(40 + i))
            let a = x.withUnsafeBufferPointer { reused.computeForward($0, shape: shape) }
            let b = x.withUnsafeBufferPointer { BlobStatistics(threads: 2).computeForward($0, shape: shape) }
            #expect(bits(a) == bits(b), "\(shape)")
        }
    }

    @Test func blobConvenienceReadsDataOrDiff() {
        let blob = Blob(name: "b", shape: [2, 3])
        blob.setData([1, 2, 3, 4, 5, 6])
        blob.setDiff([0, 0, 0, 0, 0, -6])
        let stats = BlobStatistics()
        let data = stats.compute(blob, forward: true)
        #expect(data.mean == 3.5 && data.max == 6 && data.deadFraction == 0)
        // Var_n per unit = 2.25 for every unit; overall variance 35/12.
        #expect(abs(data.betweenSampleStd - 1.5) < 1e-15)
        #expect(abs(data.inputDependence - 2.25 / (35.0 / 12.0)) < 1e-15)
        let diff = stats.compute(blob, diff: true)
        #expect(diff.min == -6 && abs(diff.zeroFraction - 5.0 / 6.0) < 1e-15 && diff.meanAbs == 1)
    }
}

@Suite struct UpdateRatioTests {
    @Test func ratioOfNormsWithDefinedEdgeCases() {
        let w: [Float] = [3, 4, 0, 0, 0, 0, 0]            // ‖w‖ = 5, length not a multiple of 4
        let u: [Float] = [0, 0, 0, 0, 0, 0.03, -0.04]     // ‖u‖ = 0.05
        let ratio = u.withUnsafeBufferPointer { ub in w.withUnsafeBufferPointer { BlobStatistics.updateRatio(update: ub, weights: $0) } }
        #expect(abs(ratio - 0.01) < 1e-9)
        let zero = [Float](repeating: 0, count: 7)
        let none = zero.withUnsafeBufferPointer { z in w.withUnsafeBufferPointer { BlobStatistics.updateRatio(update: z, weights: $0) } }
        #expect(none == 0)
        let fromZero = u.withUnsafeBufferPointer { ub in zero.withUnsafeBufferPointer { BlobStatistics.updateRatio(update: ub, weights: $0) } }
        #expect(fromZero == .infinity)
        let big = randomBlob(100_003, seed: 8)
        let naive = big.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(close(big.withUnsafeBufferPointer { BlobStatistics.l2($0) }, naive, 1e-13))
    }
}
