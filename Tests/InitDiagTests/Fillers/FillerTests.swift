import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

// Statistical tolerances used throughout (n = number of values, σ² = the formula's variance,
// μ4 = the distribution's fourth central moment):
//   |sample mean − μ| < 5·σ/√n
//   |sample variance − σ²| < 5·sqrt((μ4 − σ⁴)/n)   (the standard error of the sample variance)
// with μ4 = 1.8σ⁴ for a uniform, 3σ⁴ for a gaussian. A correct filler fails one check with
// probability ≈ 6e-7; a wrong constant (e.g. sqrt(3/n) vs sqrt(6/n), or fan_in vs fan_out) is off by
// hundreds of standard errors at these sizes.

/// nil when the floats have exactly the given bit patterns, else a short description of the first
/// difference (index, got, expected) — keeps failure messages readable for long arrays.
fileprivate func firstBitMismatch(_ got: [Float], _ expected: [Float]) -> String? {
    firstBitMismatch(got, expected.map(\.bitPattern))
}

fileprivate func firstBitMismatch(_ got: [Float], _ expected: [UInt32]) -> String? {
    guard got.count == expected.count else { return "count \(got.count) vs \(expected.count)" }
    for i in 0..<got.count where got[i].bitPattern != expected[i] {
        return "index \(i): \(got[i]) (0x\(String(got[i].bitPattern, radix: 16))) vs \(Float(bitPattern: expected[i])) (0x\(String(expected[i], radix: 16)))"
    }
    return nil
}

/// One-pass mean and variance in double.
private func moments(_ b: Blob) -> (mean: Double, variance: Double) {
    var s = 0.0, s2 = 0.0
    let p = b.data
    for i in 0..<b.count { let v = Double(p[i]); s += v; s2 += v * v }
    let n = Double(b.count)
    let mean = s / n
    return (mean, s2 / n - mean * mean)
}

private func expectMoments(_ b: Blob, mean mu: Double, variance v: Double, kurtosis: Double,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    let (m, s2) = moments(b)
    let n = Double(b.count)
    let meanTol = 5 * v.squareRoot() / n.squareRoot()
    let varTol = 5 * ((kurtosis - 1) * v * v / n).squareRoot()
    #expect(abs(m - mu) < meanTol, "mean \(m) vs \(mu) ± \(meanTol) on \(b.shapeString)", sourceLocation: sourceLocation)
    #expect(abs(s2 - v) < varTol, "variance \(s2) vs \(v) ± \(varTol) on \(b.shapeString)", sourceLocation: sourceLocation)
}

private func filler(_ type: String, _ edit: (inout FillerParameter) -> Void = { _ in }) -> FillerParameter {
    var f = FillerParameter(type: type)
    edit(&f)
    return f
}

/// The shapes of the brief: 1-D bias, IP weight, small and large conv weights.
private let statShapes: [[Int]] = [[512], [512, 4608], [64, 3, 3, 3], [512, 512, 3, 3]]

@Suite struct FillerStatisticsTests {
    @Test func xavierAndMSRAMatchTheirFormulaAtEveryShape() throws {
        let rng = RandomSource(seed: 1)
        for shape in statShapes {
            let (fanIn, fanOut) = caffeFans(shape)
            let blob = Blob(name: "w", shape: shape)
            for norm in FillerParameter.VarianceNorm.allCases {
                let n: Double
                switch norm {
                case .FAN_IN: n = Double(fanIn)
                case .FAN_OUT: n = Double(fanOut)
                case .AVERAGE: n = Double(fanIn + fanOut) / 2
                }
                let xavier = filler("xavier") { $0.varianceNorm = norm }
                try fill(blob, with: xavier, rng: rng, layer: "l")
                expectMoments(blob, mean: 0, variance: 1 / n, kurtosis: 1.8)
                let bound = Float((3 / n).squareRoot())
                #expect(blob.dataArray.allSatisfy { abs($0) <= bound.nextUp })
                #expect(abs(fillerVariance(xavier, shape: shape)! - 1 / n) < 1e-6 / n)

                let msra = filler("msra") { $0.varianceNorm = norm }
                try fill(blob, with: msra, rng: rng, layer: "l")
                expectMoments(blob, mean: 0, variance: 2 / n, kurtosis: 3)
                #expect(abs(fillerVariance(msra, shape: shape)! - 2 / n) < 1e-6 / n)
            }
        }
    }

    @Test func uniformGaussianConstantMatchTheirFormula() throws {
        let rng = RandomSource(seed: 2)
        for shape in statShapes {
            let blob = Blob(name: "w", shape: shape)
            let uniform = filler("uniform") { $0.min = -0.3; $0.max = 0.1 }
            try fill(blob, with: uniform, rng: rng, layer: "l")
            let uv = 0.4 * 0.4 / 12
            expectMoments(blob, mean: -0.1, variance: uv, kurtosis: 1.8)
            #expect(abs(fillerVariance(uniform, shape: shape)! - uv) < 1e-8)
            #expect(blob.dataArray.allSatisfy { $0 >= -0.3 && $0 <= Float(0.1).nextUp })

            let gaussian = filler("gaussian") { $0.mean = 0.5; $0.std = 0.02 }
            try fill(blob, with: gaussian, rng: rng, layer: "l")
            expectMoments(blob, mean: 0.5, variance: 0.0004, kurtosis: 3)
            #expect(abs(fillerVariance(gaussian, shape: shape)! - 0.0004) < 1e-9)

            let constant = filler("constant") { $0.value = 0.25 }
            try fill(blob, with: constant, rng: rng, layer: "l")
            #expect(blob.dataArray.allSatisfy { $0 == 0.25 })
            #expect(fillerVariance(constant, shape: shape) == 0)
        }
    }

    @Test func gaussianTailsAreNormal() throws {
        // Box–Muller must give normal tails, not just the right variance: P(|z| > 2) = 0.0455,
        // P(|z| > 3) = 0.0027 (tolerance 5 binomial standard errors).
        let blob = Blob(name: "w", shape: [1_000_000])
        try fill(blob, with: filler("gaussian"), rng: RandomSource(seed: 3), layer: "l")
        let v = blob.dataArray
        let n = Double(v.count)
        for (k, p) in [(2.0, 0.04550026), (3.0, 0.00269980)] {
            let frac = Double(v.filter { abs(Double($0)) > k }.count) / n
            #expect(abs(frac - p) < 5 * (p * (1 - p) / n).squareRoot(), "P(|z| > \(k)) = \(frac)")
        }
    }

    @Test func xavierBiasQuirkGivesUnitVarianceAtEveryWidth() throws {
        // A 1-D bias has fan_in 1, so Caffe's xavier gives U(±√3), variance 1, whatever the width.
        let rng = RandomSource(seed: 4)
        let xavier = filler("xavier")
        for width in [10, 64, 512, 4096, 100_000] {
            #expect(caffeFans([width]) == (1, width))
            let v = try #require(fillerVariance(xavier, shape: [width]))
            #expect(abs(v - 1) < 1e-6)
            #expect(fillerDescription(xavier, shape: [width]) == "xavier U(±1.732)")
            let blob = Blob(name: "b", shape: [width])
            try fill(blob, with: xavier, rng: rng, layer: "l")
            let bound = Float(3).squareRoot()
            #expect(blob.dataArray.allSatisfy { abs($0) <= bound.nextUp })
            expectMoments(blob, mean: 0, variance: 1, kurtosis: 1.8)
        }
    }

    @Test func sparseGaussianZeroFractionAndVariance() throws {
        // sparse 16 over shape(0) = 64: keep probability 0.25, so 75% zeros;
        // variance p·σ² (mean 0), fourth moment 3pσ⁴.
        let blob = Blob(name: "w", shape: [64, 20_000])
        let f = filler("gaussian") { $0.std = 0.1; $0.sparse = 16 }
        try fill(blob, with: f, rng: RandomSource(seed: 5), layer: "l")
        let n = Double(blob.count)
        let zeros = Double(blob.dataArray.filter { $0 == 0 }.count) / n
        #expect(abs(zeros - 0.75) < 5 * (0.25 * 0.75 / n).squareRoot(), "zero fraction \(zeros)")
        let p = 0.25, s2 = 0.01
        let v = p * s2
        let (m, sv) = moments(blob)
        #expect(abs(m) < 5 * v.squareRoot() / n.squareRoot())
        #expect(abs(sv - v) < 5 * ((3 * p * s2 * s2 - v * v) / n).squareRoot())
        #expect(abs(fillerVariance(f, shape: blob.shape)! - v) < 1e-9)
        #expect(fillerDescription(f, shape: blob.shape) == "gaussian N(0, σ=0.1) sparse 16/64")
    }

    @Test func positiveUnitballRowsSumToOne() throws {
        let rng = RandomSource(seed: 6)
        for shape in [[10, 27], [64, 3, 3, 3], [512, 4608]] {
            let blob = Blob(name: "w", shape: shape)
            let f = filler("positive_unitball")
            try fill(blob, with: f, rng: rng, layer: "l")
            let rows = shape[0], dim = blob.count / rows
            let v = blob.dataArray
            #expect(v.allSatisfy { $0 >= 0 && $0 <= 1 })
            for r in 0..<rows {
                let sum = v[(r * dim)..<((r + 1) * dim)].reduce(0.0) { $0 + Double($1) }
                #expect(abs(sum - 1) < 1e-5, "row \(r) sums to \(sum)")
            }
            // Mean exactly 1/d per row; variance against the first-order formula (d − 1)/(3d³):
            // sampling tolerance as for a uniform, plus the formula's O(1/d) relative error.
            let d = Double(dim)
            let formula = try #require(fillerVariance(f, shape: shape))
            #expect(abs(formula - (d - 1) / (3 * d * d * d)) < 1e-15)
            let (m, sv) = moments(blob)
            #expect(abs(m - 1 / d) < 1e-6 / d)
            let tol = 5 * (0.8 / Double(blob.count)).squareRoot() * formula + 3 * formula / d
            #expect(abs(sv - formula) < tol, "variance \(sv) vs \(formula) ± \(tol)")
        }
    }

    @Test func bilinearExactValues() throws {
        // K = 3: f = 2, c = 2/4 = 0.5 → 1 − |x/2 − 0.5| = (0.5, 1, 0.5); the kernel is its outer product.
        // K = 4: f = 2, c = 3/4 → (0.25, 0.75, 0.75, 0.25). (The pre-2017 formula had c = 0.75 for
        // K = 3, i.e. (0.25, 0.75, 0.75).)
        let expected: [Int: [Float]] = [3: [0.5, 1, 0.5], 4: [0.25, 0.75, 0.75, 0.25]]
        for (k, line) in expected {
            let blob = Blob(name: "w", shape: [2, 1, k, k])
            try fill(blob, with: filler("bilinear"), rng: RandomSource(seed: 7), layer: "up")
            let v = blob.dataArray
            for ch in 0..<2 {
                for y in 0..<k {
                    for x in 0..<k {
                        #expect(v[ch * k * k + y * k + x] == line[y] * line[x], "K=\(k) (\(y),\(x))")
                    }
                }
            }
        }
        // Population variance of the K = 3 kernel: mean 4/9, E[v²] = 1/4 → 1/4 − 16/81 = 4.25/81.
        #expect(abs(fillerVariance(filler("bilinear"), shape: [8, 1, 3, 3])! - 4.25 / 81) < 1e-12)
        #expect(throws: InputError.self) { try fill(Blob(name: "w", shape: [3, 3]), with: filler("bilinear"), rng: RandomSource(seed: 1), layer: "up") }
        #expect(throws: InputError.self) { try fill(Blob(name: "w", shape: [1, 1, 3, 4]), with: filler("bilinear"), rng: RandomSource(seed: 1), layer: "up") }
        #expect(fillerVariance(filler("bilinear"), shape: [1, 1, 3, 4]) == nil)
    }
}

@Suite struct FillerExactnessTests {
    /// The boost float conversion written out here independently of the library: u = x·2^−32
    /// (x one raw MT19937 output, float(x) rounded to nearest), v = u·(b′ − a) + a in float with
    /// b′ = the float after b; a v ≥ b′ is drawn again.
    private func handUniform(_ mt: inout MT19937, _ a: Float, _ b: Float, count: Int) -> [Float] {
        let bPrime = b.nextUp
        var out: [Float] = []
        while out.count < count {
            let x = mt.next()
            let u = Float(x) * 0x1p-32
            let v = u * (bPrime - a) + a
            if v < bPrime { out.append(v) }
        }
        return out
    }

    @Test func xavierBitsMatchAHandDerivationFromRawOutputs() throws {
        // Seed 1701, conv weight 64×3×3×3: fan_in 27, s = sqrt(3/27) in float.
        let blob = Blob(name: "w", shape: [64, 3, 3, 3])
        let rng = RandomSource(seed: 1701)
        try fill(blob, with: filler("xavier"), rng: rng, layer: "conv1")
        var mt = MT19937(seed: 1701)
        let s = (Float(3) / Float(27)).squareRoot()
        let hand = handUniform(&mt, -s, s, count: blob.count)
        let got = blob.dataArray
        #expect(firstBitMismatch(got, hand) == nil)
        // Spot values, so a change in MT19937 itself shows up too.
        #expect(got[0].bitPattern == hand[0].bitPattern && got[0] != 0)
        #expect(rng.next() == mt.next())
    }

    @Test func drawOrderAcrossWeightAndBias() throws {
        // A conv layer fills its weight then its bias from one stream: the bias's draws start right
        // after the weight's. Constant fillers draw nothing; a gaussian draws pairs (5 values → 6
        // outputs, the last sine dropped); a sparse gaussian draws its mask after all values.
        let rng = RandomSource(seed: 1701)
        let w = Blob(name: "w", shape: [64, 3, 3, 3]), b = Blob(name: "b", shape: [64])
        try fill(w, with: filler("xavier"), rng: rng, layer: "conv1")
        try fill(b, with: filler("constant") { $0.value = 0.2 }, rng: rng, layer: "conv1")
        try fill(b, with: filler("xavier"), rng: rng, layer: "conv1")
        var mt = MT19937(seed: 1701)
        let s = (Float(3) / Float(27)).squareRoot()
        _ = handUniform(&mt, -s, s, count: 1728)
        let bias = handUniform(&mt, -Float(3).squareRoot(), Float(3).squareRoot(), count: 64)
        #expect(firstBitMismatch(b.dataArray, bias) == nil)

        let g = Blob(name: "g", shape: [5])
        try fill(g, with: filler("gaussian"), rng: rng, layer: "l")
        for _ in 0..<6 { _ = mt.next() }
        #expect(rng.next() == mt.next())

        let sparse = Blob(name: "s", shape: [4, 3])
        try fill(sparse, with: filler("gaussian") { $0.sparse = 2 }, rng: rng, layer: "l")
        for _ in 0..<12 { _ = mt.next() }  // 6 pairs
        var mask: [Bool] = []
        for _ in 0..<12 { mask.append(Float(mt.next()) <= Float(0.5) * Float(UInt32.max)) }
        #expect(zip(sparse.dataArray, mask).allSatisfy { v, keep in keep ? v != 0 : v == 0 })
        #expect(rng.next() == mt.next())
    }

    @Test func boxMullerPairFormula() throws {
        // caffeGaussian's first pair from its own uniform_01 draws: ρ·cos(2πr1), ρ·sin(2πr1).
        let blob = Blob(name: "g", shape: [2])
        try fill(blob, with: filler("gaussian") { $0.std = 2; $0.mean = 1 }, rng: RandomSource(seed: 99), layer: "l")
        var mt = MT19937(seed: 99)
        let r1 = Double(mt.next()) / 4294967296, r2 = Double(mt.next()) / 4294967296
        let rho = (-2 * log(1 - r2)).squareRoot()
        let z0 = rho * cos(2 * Double.pi * r1) * 2 + 1, z1 = rho * sin(2 * Double.pi * r1) * 2 + 1
        let v = blob.dataArray
        #expect(abs(Double(v[0]) - z0) < 1e-5 * max(1, abs(z0)))
        #expect(abs(Double(v[1]) - z1) < 1e-5 * max(1, abs(z1)))
    }

    // MARK: Real boost: Fixtures/fillers/boost_reference.txt from boost_reference.cpp (boost 1.74)

    private struct Block { let name: String; let values: [String]; let next: UInt32? }

    private func referenceBlocks() throws -> [String: Block] {
        let url = fillersFixturesRoot().appendingPathComponent("fillers/boost_reference.txt")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        var blocks: [String: Block] = [:]
        var i = 0
        var pending: [(String, [String])] = []
        while i < lines.count {
            let parts = lines[i].split(separator: " ").map(String.init)
            if parts[0] == "block" {
                let n = Int(parts[3])!
                pending.append((parts[1], Array(lines[(i + 1)...(i + n)])))
                i += n + 1
            } else if parts[0] == "next" {
                let next = UInt32(parts[1])!
                for (k, (name, values)) in pending.enumerated() {
                    blocks[name] = Block(name: name, values: values, next: k == pending.count - 1 ? next : nil)
                }
                pending = []
                i += 1
            } else {
                i += 1
            }
        }
        return blocks
    }

    private func bits(_ values: [String]) -> [UInt32] { values.map { UInt32($0, radix: 16)! } }

    @Test func uniformMatchesRealBoost() throws {
        let blocks = try referenceBlocks()
        let cases: [(String, UInt32, Float, Float)] = [
            ("uniform_-0.5_0.25", 5, -0.5, 0.25),
            ("uniform_1_1", 17, 1, 1),              // half the draws are rejected and redrawn
            ("uniform_-3e38_3e38", 13, -3e38, 3e38), // boost's halving branch
        ]
        for (name, seed, a, b) in cases {
            let block = try #require(blocks[name])
            let rng = RandomSource(seed: seed)
            var out = [Float](repeating: 0, count: block.values.count)
            out.withUnsafeMutableBufferPointer { rng.caffeUniform(count: $0.count, min: a, max: b, into: $0.baseAddress!) }
            #expect(firstBitMismatch(out, bits(block.values)) == nil, "\(name)")
            #expect(rng.next() == block.next, "\(name): stream position after the block")
        }
    }

    @Test func xavierWeightThenBiasMatchRealBoost() throws {
        let blocks = try referenceBlocks()
        let w = try #require(blocks["xavier_conv_64x3x3x3"]), b = try #require(blocks["xavier_bias_64"])
        let rng = RandomSource(seed: 1701)
        let wb = Blob(name: "w", shape: [64, 3, 3, 3]), bb = Blob(name: "b", shape: [64])
        try fill(wb, with: filler("xavier"), rng: rng, layer: "conv1")
        try fill(bb, with: filler("xavier"), rng: rng, layer: "conv1")
        #expect(firstBitMismatch(wb.dataArray, bits(w.values)) == nil)
        #expect(firstBitMismatch(bb.dataArray, bits(b.values)) == nil)
        #expect(rng.next() == b.next)
    }

    @Test func bernoulliMatchesRealBoost() throws {
        let blocks = try referenceBlocks()
        let f = try #require(blocks["bernoulli_float_0.3"])
        let rngF = RandomSource(seed: 11)
        var outF = [Int32](repeating: 0, count: f.values.count)
        outF.withUnsafeMutableBufferPointer { rngF.caffeBernoulli(count: $0.count, p: Float(0.3), into: $0.baseAddress!) }
        #expect(outF.map { String($0) }.elementsEqual(f.values), "first mismatch at \(String(describing: zip(outF.map { String($0) }, f.values).enumerated().first { $1.0 != $1.1 }?.offset))")
        #expect(rngF.next() == f.next)

        let d = try #require(blocks["bernoulli_double_0.5"])
        let rngD = RandomSource(seed: 12)
        var outD = [UInt32](repeating: 0, count: d.values.count)
        outD.withUnsafeMutableBufferPointer { rngD.caffeBernoulli(count: $0.count, p: 0.5, into: $0.baseAddress!) }
        #expect(outD.map { String($0) }.elementsEqual(d.values), "first mismatch at \(String(describing: zip(outD.map { String($0) }, d.values).enumerated().first { $1.0 != $1.1 }?.offset))")
        #expect(rngD.next() == d.next)

        // p = 0 draws nothing.
        let rng0 = RandomSource(seed: 12), ref = RandomSource(seed: 12)
        var z = [Int32](repeating: 7, count: 10)
        z.withUnsafeMutableBufferPointer { rng0.caffeBernoulli(count: 10, p: Float(0), into: $0.baseAddress!) }
        #expect(z.allSatisfy { $0 == 0 } && rng0.next() == ref.next())
    }
}

@Suite struct FillerErrorTests {
    private func fillError(_ f: FillerParameter, shape: [Int]) -> String? {
        do {
            try fill(Blob(name: "w", shape: shape), with: f, rng: RandomSource(seed: 1), layer: "conv7")
            return nil
        } catch let e as InputError {
            return e.message
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func badFillersAreInputErrorsNamingTheLayer() {
        let unknown = fillError(FillerParameter(type: "kaiming"), shape: [4, 4])
        #expect(unknown?.contains("conv7") == true && unknown?.contains("'kaiming'") == true)
        #expect(unknown?.contains("xavier") == true)
        #expect(fillError(filler("xavier") { $0.sparse = 3 }, shape: [4, 4])?.contains("sparse") == true)
        #expect(fillError(filler("gaussian") { $0.sparse = 5 }, shape: [4, 4])?.contains("exceeds") == true)
        #expect(fillError(filler("gaussian") { $0.sparse = -2 }, shape: [4, 4]) != nil)
        #expect(fillError(filler("gaussian") { $0.std = 0 }, shape: [4, 4]) != nil)
        #expect(fillError(filler("uniform") { $0.min = 1; $0.max = 0 }, shape: [4, 4]) != nil)
        #expect(fillError(filler("constant"), shape: [0, 4])?.contains("empty") == true)
        #expect(fillError(filler("gaussian") { $0.sparse = 4 }, shape: [4, 4]) == nil)
    }

    @Test func fansAndDescriptions() {
        #expect(caffeFans([64, 3, 3, 3]) == (27, 576))
        #expect(caffeFans([10, 4608]) == (4608, 10))
        #expect(caffeFans([512]) == (1, 512))
        #expect(caffeFans([]) == (1, 1))
        #expect(fillerDescription(filler("xavier"), shape: [64, 3, 3, 3]) == "xavier U(±0.3333)")
        #expect(fillerDescription(filler("msra"), shape: [64, 3, 3, 3]) == "msra N(0, σ=0.2722)")
        #expect(fillerDescription(filler("xavier") { $0.varianceNorm = .AVERAGE }, shape: [64, 3, 3, 3])
                == "xavier AVERAGE U(±0.09975)")
        #expect(fillerDescription(filler("gaussian") { $0.std = 0.01 }, shape: [10, 10]) == "gaussian N(0, σ=0.01)")
        #expect(fillerDescription(filler("constant"), shape: [10]) == "constant 0")
        #expect(fillerDescription(filler("uniform") { $0.min = -0.1; $0.max = 0.3 }, shape: [10]) == "uniform U(-0.1, 0.3)")
        #expect(fillerDescription(filler("bilinear"), shape: [3, 1, 4, 4]) == "bilinear K=4")
        let numbers: [(Double, String)] = [(1.7320508, "1.732"), (0.058925565, "0.05893"), (0.01, "0.01"),
                                           (100, "100"), (12345.678, "12350"), (-0.25, "-0.25"), (0, "0"),
                                           (1e-5, "1e-5"), (2.5e-7, "2.5e-7"), (1e7, "1e7")]
        for (v, text) in numbers { #expect(fillerNumber(v) == text) }
        #expect(fillerVariance(FillerParameter(type: "nope"), shape: [3]) == nil)
        #expect(fillerVariance(filler("xavier"), shape: [0, 3]) == nil)
    }
}

/// Fixtures/ at the package root, found from this file's path.
private func fillersFixturesRoot(file: String = #filePath) -> URL {
    var url = URL(fileURLWithPath: file).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            return url.appendingPathComponent("Fixtures")
        }
        url = url.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: "Fixtures")
}

@Suite struct MT19937Tests {
    @Test func standardCheckValue() {
        var mt = MT19937()
        for _ in 0..<9999 { _ = mt.next() }
        #expect(mt.next() == 4_123_659_995)  // the C++ standard's value for the 10000th output
    }

    /// A generator rebuilt from its saved state continues the same sequence, mid-block and at a
    /// block boundary; malformed states are refused.
    @Test func stateWordsRoundTrip() {
        for draws in [0, 1, 623, 624, 625, 5000] {
            var a = MT19937(seed: 1701)
            for _ in 0..<draws { _ = a.next() }
            var b = try! #require(MT19937(stateWords: a.stateWords))
            #expect((0..<1500).map { _ in a.next() } == (0..<1500).map { _ in b.next() }, "after \(draws) draws")
        }
        #expect(MT19937(stateWords: Array(repeating: 0, count: 624)) == nil)
        var words = MT19937().stateWords
        words[624] = 625
        #expect(MT19937(stateWords: words) == nil)
    }
}
