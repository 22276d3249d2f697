import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct AdaDeltaSolverTests {
    typealias S = SolverTestSupport

    @Test func oneParameterByHand() throws {
        // lr 1, μ 0.9, δ 1e-6, w0 = 1, g = 0.5, −1, 2:
        // 1: h = 0.025; u = 0.5·√(1e-6/0.025001) = 0.003162214417; h2 = 0.1·u² = 9.999600016e-7; w = 0.996837785583
        // 2: h = 0.1225; u = −√((h2 + δ)/(h + δ)); h2 = 2.5325710835e-6; w = 1.00087833886
        // 3: h = 0.51025; h2 = 5.04859504153e-6; w = 0.99561594296
        let p = S.param("w", [1])
        let solver = try makeSolver(param: S.solverParam("AdaDelta") { $0.baseLr = 1; $0.momentum = 0.9; $0.delta = 1e-6 }, params: [p])
        #expect(solver is AdaDeltaSolver)
        // History: 2N blobs, the squared-gradient set first, then the squared-update set.
        #expect(solver.history.count == 2 && solver.history.map(\.name) == ["w_history", "w_update_history"])
        let t = S.trajectory(solver, p)
        let expected: [(Double, Double, Double)] = [(0.996837785583, 0.025, 9.999600016e-07),
                                                    (1.00087833886, 0.1225, 2.5325710835e-06),
                                                    (0.99561594296, 0.51025, 5.04859504153e-06)]
        for k in 0..<3 {
            #expect(S.close(t[k].w, expected[k].0), "step \(k + 1): w \(t[k].w) vs \(expected[k].0)")
            #expect(S.close(t[k].history[0], expected[k].1), "step \(k + 1): h")
            #expect(abs(Double(t[k].history[1]) - expected[k].2) <= 1e-5 * expected[k].2, "step \(k + 1): h2 \(t[k].history[1]) vs \(expected[k].2)")
        }
    }

    @Test func theRateMultipliesTheFinalUpdate() throws {
        // Caffe applies local_rate after h2 is updated: h2 does not depend on the rate; w does, linearly.
        func run(_ lr: Float) throws -> (Float, Float) {
            let p = S.param("w", [1])
            let solver = try makeSolver(param: S.solverParam("AdaDelta") { $0.baseLr = lr; $0.momentum = 0.95 }, params: [p])
            _ = S.trajectory(solver, p)
            return (p.blob.dataArray[0], solver.history[1].dataArray[0])
        }
        let (w1, h1) = try run(1), (w2, h2) = try run(0.5)
        #expect(h1 == h2)
        #expect(S.close(1 - w2, Double(1 - w1) / 2, 1e-5))
    }
}
