import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagEngine

/// The mean-field maps of non-ReLU nonlinearities (MeanFieldChain.pointwise by Gauss–Hermite
/// quadrature over the Gaussian, χ₁) against independent integrations, and the chain against a Monte-Carlo
/// simulation of wide random tanh and sigmoid nets built by the engine.
@Suite struct MeanFieldQuadratureTests {
    @Test func quadratureRuleIntegratesEvenMoments() {
        let r = GaussianQuadrature.rule
        #expect(r.nodes.count == 401 && r.weights.count == 401)
        // E[u^(2k)] = (2k − 1)!! for a standard normal u.
        for k in 0...10 {
            var sum = 0.0
            for i in 0..<401 { sum += r.weights[i] * pow(r.nodes[i], Double(2 * k)) }
            let exact = k == 0 ? 1 : stride(from: 1.0, through: Double(2 * k - 1), by: 2).reduce(1, *)
            #expect(abs(sum - exact) <= 1e-11 * exact, "k \(k): \(sum) vs \(exact)")
        }
        for i in 0..<401 { #expect(abs(r.nodes[i] + r.nodes[400 - i]) < 1e-12 && r.weights[i] > 0) }
    }

    /// E[f(u)g(v)] for (u, v) zero-mean jointly Gaussian (variance q, correlation c), by a
    /// trapezoid rule on the 2-D density over [−9, 9]² in units of √q (n × n points): independent
    /// of the library's quadrature and of its change of variables.
    func bruteCross(q: Double, c: Double, n: Int = 600, _ f: (Double) -> Double) -> Double {
        let lo = -9.0, h = 18.0 / Double(n), s = q.squareRoot()
        let det = 1 - c * c
        var sum = 0.0
        var fv = [Double](repeating: 0, count: n + 1)
        for k in 0...n { fv[k] = f(s * (lo + Double(k) * h)) }
        for i in 0...n {
            let x = lo + Double(i) * h
            for j in 0...n {
                let y = lo + Double(j) * h
                let w = (i == 0 || i == n ? 0.5 : 1) * (j == 0 || j == n ? 0.5 : 1)
                sum += w * fv[i] * fv[j] * exp(-(x * x - 2 * c * x * y + y * y) / (2 * det))
            }
        }
        return sum * h * h / (2 * Double.pi * det.squareRoot())
    }

    func bruteSingle(q: Double, _ g: (Double) -> Double) -> Double {
        let n = 20_000, lo = -12.0, h = 24.0 / Double(n), s = q.squareRoot()
        var sum = 0.0
        for k in 0...n {
            let x = lo + Double(k) * h
            sum += (k == 0 || k == n ? 0.5 : 1) * g(s * x) * exp(-x * x / 2)
        }
        return sum * h / (2 * Double.pi).squareRoot()
    }

    @Test(arguments: [MeanFieldNonlinearity.tanh, .sigmoid, .elu(alpha: 1), .bnll, .swish(beta: 1)])
    func quadratureMatchesBruteIntegration(f: MeanFieldNonlinearity) throws {
        for q in [0.3, 1.0, 4.0] {
            let m = bruteSingle(q: q) { let y = f.apply($0); return y * y }
            for c in [-0.6, 0.0, 0.5, 0.9] {
                let out = try #require(MeanFieldChain.pointwise(f, input: MeanFieldState(secondMoment: q, cross: c * q)))
                // Smooth φ: ~1e-14 (numpy check: 4e-16 in 2-D); ELU's kink in φ'' leaves ~1e-7.
                #expect(abs(out.secondMoment - m) <= 1e-6 * m, "\(f) q \(q): \(out.secondMoment) vs \(m)")
                let cross = bruteCross(q: q, c: c, f.apply)
                #expect(abs(out.cross - cross) <= 1e-6 * m, "\(f) q \(q) c \(c): \(out.cross) vs \(cross)")
            }
            // c = 1: the cross moment is the second moment.
            let one = try #require(MeanFieldChain.pointwise(f, input: MeanFieldState(secondMoment: q, cross: q)))
            #expect(abs(one.cross - one.secondMoment) <= 1e-12 * one.secondMoment)
        }
    }

    /// Deep in saturation (q = 100: pre-activation std 10), where a 64-node Gauss–Hermite rule
    /// is off by 6% for tanh and 1% for sigmoid, the rule still agrees with brute integration
    /// (1e-6; 3e-4 at q = 400).
    @Test(arguments: [MeanFieldNonlinearity.tanh, .sigmoid])
    func saturatedRegime(f: MeanFieldNonlinearity) throws {
        for q in [25.0, 100.0, 400.0] {
            let out = try #require(MeanFieldChain.pointwise(f, input: MeanFieldState(secondMoment: q, cross: 0.3 * q)))
            let m = bruteSingle(q: q) { let y = f.apply($0); return y * y }
            // Up to q = 100 the strip of analyticity is wide enough for ~1e-8; at q = 400 (std 20)
            // tanh's poles at ±iπ/40 leave ~1e-4 (numpy: 8.5e-5).
            let tol = q > 100 ? 3e-4 : 1e-6
            #expect(abs(out.secondMoment - m) <= tol * m, "\(f) q \(q): \(out.secondMoment) vs \(m)")
            let cross = bruteCross(q: q, c: 0.3, n: 1800, f.apply)
            #expect(abs(out.cross - cross) <= 10 * tol * m, "\(f) q \(q): \(out.cross) vs \(cross)")
        }
    }

    @Test func knownValues() throws {
        // tanh is odd: at c = 0 the cross moment vanishes; sigmoid = 1/2 + tanh(x/2)/2 has
        // E[σ(u)σ(v)] = 1/4 at c = 0.
        let t = try #require(MeanFieldChain.pointwise(.tanh, input: MeanFieldState(secondMoment: 2, cross: 0)))
        #expect(abs(t.cross) < 1e-15)
        let s = try #require(MeanFieldChain.pointwise(.sigmoid, input: MeanFieldState(secondMoment: 2, cross: 0)))
        #expect(abs(s.cross - 0.25) < 1e-14)
        // q = 0: φ(0)² exactly.
        let z = try #require(MeanFieldChain.pointwise(.sigmoid, input: MeanFieldState(secondMoment: 0, cross: 0)))
        #expect(abs(z.secondMoment - 0.25) < 1e-15 && abs(z.cross - 0.25) < 1e-15)
        // absval: E[|z|²] = q exactly (a polynomial on each side: the rule is exact).
        let a = try #require(MeanFieldChain.pointwise(.absval, input: MeanFieldState(secondMoment: 1.5, cross: 0.3)))
        #expect(abs(a.secondMoment - 1.5) < 1e-12)
    }

    @Test func chi1() throws {
        // ReLU closed form σ_w²·(1 + s²)/2.
        #expect(MeanFieldChain.chi1(.relu(slope: 0), q: 3, sigmaW2: 2) == 1)
        #expect(MeanFieldChain.chi1(.relu(slope: 0.5), q: 3, sigmaW2: 2) == 1.25)
        #expect(MeanFieldChain.chi1(.threshold(0), q: 1, sigmaW2: 1) == nil)
        // Smooth φ' to 1e-9; ELU's φ'² has a kink at 0 (O(h²) ≈ 1e-4 for the 0.05 step).
        for (f, q, w, tol) in [(MeanFieldNonlinearity.tanh, 0.7, 1.5, 1e-9), (.sigmoid, 2.0, 4.0, 1e-9), (.elu(alpha: 1), 1.0, 1.0, 5e-4)] {
            let chi = try #require(MeanFieldChain.chi1(f, q: q, sigmaW2: w))
            let brute = w * bruteSingle(q: q) { let d = f.derivative($0)!; return d * d }
            #expect(abs(chi - brute) <= tol * brute, "\(f): \(chi) vs \(brute)")
        }
        // tanh: χ₁ → σ_w² as q → 0 (tanh'(0) = 1), and below 1 deep in saturation.
        #expect(abs(try #require(MeanFieldChain.chi1(.tanh, q: 1e-8, sigmaW2: 1.3)) - 1.3) < 1e-6)
        #expect(try #require(MeanFieldChain.chi1(.tanh, q: 100, sigmaW2: 1)) < 0.1)
    }

    // MARK: - Monte-Carlo: a wide random net against the chain

    struct Config: Sendable, CustomStringConvertible {
        var nonlinearity: String
        var sigmaW2: Double
        var sigmaB2: Double
        var description: String { "\(nonlinearity) σ_w²=\(sigmaW2) σ_b²=\(sigmaB2)" }
    }

    /// Width 2000, depth 5 (InnerProduct → TanH/Sigmoid, N(0, σ_w²/2000) weights, N(0, σ_b²)
    /// biases, Caffe's gaussian filler), fed two fixed inputs with E[x²] = 1 and correlation 0.5.
    ///
    /// Per layer the measured state is m̂ = (Σx_a² + Σx_b²)/(2N), Ĉ = Σx_a·x_b/N over the N = 2000
    /// units. Given the previous layer's outputs, the N units are i.i.d. (Gaussian weights), so m̂
    /// and Ĉ are means of N i.i.d. terms whose expectation is exactly what the chain's step gives
    /// from the measured previous state (up to O(1/N) from m̂_a ≠ m̂_b); their standard error is
    /// se = sd(terms)/√N, a few % of the value at N = 2000.
    /// * one step (linear + φ from the measured input): |measured − step| ≤ 5·se per layer;
    /// * chained from the data (the live prediction, `MeanField.predict`): the errors of earlier
    ///   layers propagate through the chain's Jacobian J_l (central differences of the chain's own
    ///   step), Σ_l = J_l·Σ_{l−1}·J_lᵀ + 2·diag(se_m², se_C²) (the 2 covers the correlation of the
    ///   two noises, (a + b)² ≤ 2a² + 2b²), and |measured − chained| ≤ 5·√Σ_l per component.
    /// The one-step tolerance is ~5–16% of the value per layer (it is what 2000 units allow); the
    /// chained one grows with depth as errors add up (printed on failure). A wrong map must fail:
    /// the ReLU map (q/2) is checked to miss the measured E[φ²] by more than 5 se in some layer.
    @Test(arguments: [Config(nonlinearity: "TanH", sigmaW2: 1.0, sigmaB2: 0.05),
                      Config(nonlinearity: "TanH", sigmaW2: 2.0, sigmaB2: 1.0),
                      Config(nonlinearity: "Sigmoid", sigmaW2: 1.5, sigmaB2: 0.3),
                      Config(nonlinearity: "Sigmoid", sigmaW2: 2.0, sigmaB2: 0.05)])
    func wideRandomNetMatchesTheChain(config: Config) throws {
        let width = 2000, depth = 5
        let wStd = (config.sigmaW2 / Double(width)).squareRoot(), bStd = config.sigmaB2.squareRoot()
        var text = "name: \"mc\"\nlayer { name: \"data\" type: \"Input\" top: \"x0\" input_param { shape { dim: 2 dim: \(width) } } }\n"
        for l in 1...depth {
            text += """
            layer { name: "ip\(l)" type: "InnerProduct" bottom: "x\(l - 1)" top: "z\(l)"
                    inner_product_param { num_output: \(width)
                      weight_filler { type: "gaussian" std: \(wStd) } bias_filler { type: "gaussian" std: \(bStd) } } }
            layer { name: "act\(l)" type: "\(config.nonlinearity)" bottom: "z\(l)" top: "x\(l)" }

            """
        }
        let net = try ConformanceSupport.buildNet(try Prototxt.parseNet(text, path: "mc.prototxt"), phase: .TEST, seed: 11)
        // Two inputs with E[x²] = 1 each and correlation 0.5: x_b = 0.5·x_a + √0.75·y, y ⟂ x_a.
        var rng = MT19937(seed: 5)
        func gauss() -> Double {
            let u1 = (Double(rng.next()) + 1) / 4294967297, u2 = Double(rng.next()) / 4294967296
            return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
        }
        var a = (0..<width).map { _ in gauss() }, y = (0..<width).map { _ in gauss() }
        func dot(_ u: [Double], _ v: [Double]) -> Double { zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
        let proj = dot(y, a) / dot(a, a)
        y = zip(y, a).map { $0 - proj * $1 }
        let na = (dot(a, a) / Double(width)).squareRoot(), ny = (dot(y, y) / Double(width)).squareRoot()
        a = a.map { $0 / na }; y = y.map { $0 / ny }
        let b = zip(a, y).map { 0.5 * $0 + 0.75.squareRoot() * $1 }
        net.blobs[net.inputBlobIDs[0]].setData((a + b).map { Float($0) })
        _ = try net.forward()

        struct Measured { var m: Double; var c: Double; var seM: Double; var seC: Double }
        func measure(_ blob: String) throws -> Measured {
            let d = try #require(net.blob(named: blob)).dataArray.map(Double.init)
            let n = Double(width)
            var tm = [Double](), tc = [Double]()
            for j in 0..<width {
                let u = d[j], v = d[width + j]
                tm.append((u * u + v * v) / 2); tc.append(u * v)
            }
            func meanSE(_ t: [Double]) -> (Double, Double) {
                let mu = t.reduce(0, +) / n
                let v = t.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / (n - 1)
                return (mu, (v / n).squareRoot())
            }
            let (m, sm) = meanSE(tm), (c, sc) = meanSE(tc)
            return Measured(m: m, c: c, seM: sm, seC: sc)
        }
        let phi: MeanFieldNonlinearity = config.nonlinearity == "TanH" ? .tanh : .sigmoid
        let params = MeanFieldParameterMoments(multiplier: config.sigmaW2, offset: config.sigmaB2)
        /// One layer of the chain: linear, then φ.
        func layerMap(_ s: MeanFieldState) throws -> MeanFieldState {
            let z = try #require(MeanFieldChain.step(.linear, input: s, parameters: params, measured: nil))
            return try #require(MeanFieldChain.step(.pointwise(phi), input: z.state, measured: nil)).state
        }

        let input = try measure("x0")
        #expect(abs(input.m - 1) < 1e-6 && abs(input.c - 0.5) < 1e-6)
        // The live chain: from the data's moments through the layers' declared rules.
        let predictions = MeanField.predict(net: net, inputSecondMoment: input.m, inputCorrelation: input.c / input.m,
                                            fillers: { net.layers[$0].declaredFillers })
        var covariance = [[0.0, 0.0], [0.0, 0.0]]
        var previous = MeanFieldState(secondMoment: input.m, cross: input.c)
        var chained = previous
        var reluMisses = 0
        for l in 1...depth {
            let measured = try measure("x\(l)")
            let measuredZ = try measure("z\(l)")
            // One step from the measured input, for the pre-activation and the activation.
            let z = try #require(MeanFieldChain.step(.linear, input: previous, parameters: params, measured: nil)).state
            #expect(abs(measuredZ.m - z.secondMoment) <= 5 * measuredZ.seM, "\(config) z\(l) m: \(measuredZ.m) vs \(z.secondMoment) ± \(5 * measuredZ.seM)")
            #expect(abs(measuredZ.c - z.cross) <= 5 * measuredZ.seC, "\(config) z\(l) C: \(measuredZ.c) vs \(z.cross) ± \(5 * measuredZ.seC)")
            let one = try layerMap(previous)
            #expect(abs(measured.m - one.secondMoment) <= 5 * measured.seM, "\(config) x\(l) m: \(measured.m) vs \(one.secondMoment) ± \(5 * measured.seM)")
            #expect(abs(measured.c - one.cross) <= 5 * measured.seC, "\(config) x\(l) C: \(measured.c) vs \(one.cross) ± \(5 * measured.seC)")
            if abs(measured.m - z.secondMoment / 2) > 5 * measured.seM { reluMisses += 1 }

            // Chained: the Jacobian of this layer's map at the chained state, then the propagated
            // covariance of the measurement errors.
            var jac = [[0.0, 0.0], [0.0, 0.0]]
            for k in 0..<2 {
                let h = 1e-5 * max(1e-3, abs(k == 0 ? chained.secondMoment : chained.cross))
                var plus = chained, minus = chained
                if k == 0 { plus.secondMoment += h; minus.secondMoment -= h } else { plus.cross += h; minus.cross -= h }
                let fp = try layerMap(plus), fm = try layerMap(minus)
                jac[0][k] = (fp.secondMoment - fm.secondMoment) / (2 * h)
                jac[1][k] = (fp.cross - fm.cross) / (2 * h)
            }
            var next = [[0.0, 0.0], [0.0, 0.0]]
            for i in 0..<2 { for j in 0..<2 { for p in 0..<2 { for q in 0..<2 {
                next[i][j] += jac[i][p] * covariance[p][q] * jac[j][q]
            } } } }
            next[0][0] += 2 * measured.seM * measured.seM
            next[1][1] += 2 * measured.seC * measured.seC
            covariance = next
            chained = try layerMap(chained)
            let live = try #require(predictions[net.layerParams.firstIndex { $0.name == "act\(l)" }!])
            #expect(abs(live.secondMoment - chained.secondMoment) <= 1e-5 * chained.secondMoment)
            #expect(abs(live.correlation * live.secondMoment - chained.cross) <= 1e-5 * chained.secondMoment)
            let tolM = 5 * covariance[0][0].squareRoot(), tolC = 5 * covariance[1][1].squareRoot()
            #expect(abs(measured.m - live.secondMoment) <= tolM, "\(config) x\(l) chained m: \(measured.m) vs \(live.secondMoment) ± \(tolM)")
            #expect(abs(measured.c - live.correlation * live.secondMoment) <= tolC,
                    "\(config) x\(l) chained C: \(measured.c) vs \(live.correlation * live.secondMoment) ± \(tolC)")
            previous = MeanFieldState(secondMoment: measured.m, cross: measured.c)
        }
        #expect(reluMisses > 0, "\(config): the test cannot tell ReLU's map from \(phi)'s")
    }
}
