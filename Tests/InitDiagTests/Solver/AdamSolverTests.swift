import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct AdamSolverTests {
    typealias S = SolverTestSupport

    @Test func oneParameterByHand() throws {
        // lr 0.1, β1 0.9, β2 0.999 (default), ε 1e-8, w0 = 1, g = 0.5, −1, 2 (t = iter + 1):
        // m = 0.05, −0.055, 0.1505; v = 0.00025, 0.00124975, 0.00524850025;
        // step = lr·√(1 − β2^t)/(1 − β1^t) · m/(√v + ε) → w = 0.900000063246, 0.936610405593, 0.894644849546.
        let p = S.param("w", [1])
        let solver = try makeSolver(param: S.solverParam("Adam") { $0.momentum = 0.9 }, params: [p])
        #expect(solver is AdamSolver)
        // History: 2N blobs, m then v (AdamPreSolve's order in the solverstate).
        #expect(solver.history.map(\.name) == ["w_m", "w_v"])
        let t = S.trajectory(solver, p)
        let expected: [(Double, Double, Double)] = [(0.900000063246, 0.05, 0.00025), (0.936610405593, -0.055, 0.00124975),
                                                    (0.894644849546, 0.1505, 0.00524850025)]
        for k in 0..<3 {
            #expect(S.close(t[k].w, expected[k].0), "step \(k + 1): w \(t[k].w) vs \(expected[k].0)")
            #expect(S.close(t[k].history[0], expected[k].1), "step \(k + 1): m")
            #expect(S.close(t[k].history[1], expected[k].2), "step \(k + 1): v")
        }
    }

    @Test func epsilonAndCorrectionSitWhereCaffePutsThem() throws {
        // ε = 0.01, one step of g = 0.5 from w = 1: Caffe lr·(√0.001/0.1)·0.05/(√0.00025 + 0.01)
        // = 0.06125741133 → w = 0.938742588672. PyTorch's form (ε on √v̂) would give 0.901960784314.
        let p = S.param("w", [1])
        let solver = try makeSolver(param: S.solverParam("Adam") { $0.momentum = 0.9; $0.delta = 0.01 }, params: [p])
        p.blob.setDiff([0.5])
        solver.applyUpdate()
        #expect(S.close(p.blob.dataArray[0], 0.938742588672))
        #expect(abs(p.blob.dataArray[0] - 0.901960784314) > 0.03)
    }

    @Test func correctionIsDoublePowRoundedOnce() {
        // t = 1: √(1 − 0.999)/(1 − 0.9) in double, rounded to float.
        let c = AdamSolver.correction(beta1: 0.9, beta2: 0.999, t: 1)
        let expected = Float((1 - Double(Float(0.999))).squareRoot() / (1 - Double(Float(0.9))))
        #expect(c == expected)
    }

    @Test func legacySolverTypeAndTorchStyle() throws {
        var p = S.solverParam("SGD")
        p.solverType = "ADAM"
        #expect(try makeSolver(param: p, params: []) is AdamSolver)
        #expect(throws: InputError.self) { _ = try makeSolver(param: S.solverParam("Adam"), params: [], momentumStyle: .torch) }
    }
}
