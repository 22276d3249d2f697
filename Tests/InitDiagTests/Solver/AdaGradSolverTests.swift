import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct AdaGradSolverTests {
    typealias S = SolverTestSupport

    @Test func oneParameterByHand() throws {
        // lr 0.1, δ 1e-8 (default), w0 = 1, g = 0.5, −1, 2:
        // h = 0.25, 1.25, 5.25; step = 0.1·g/(√h + δ) = 0.1·0.5/0.50000001, −0.1/1.118033989, 0.2/2.291287847
        // → w = 0.900000002, 0.9894427203, 0.902155564587.
        let p = S.param("w", [1])
        let solver = try makeSolver(param: S.solverParam("AdaGrad"), params: [p])
        #expect(solver is AdaGradSolver && solver.history.count == 1)
        let t = S.trajectory(solver, p)
        let expected: [(Double, Double)] = [(0.900000002, 0.25), (0.9894427203, 1.25), (0.902155564587, 5.25)]
        for k in 0..<3 {
            #expect(S.close(t[k].w, expected[k].0), "step \(k + 1): w \(t[k].w) vs \(expected[k].0)")
            #expect(S.close(t[k].history[0], expected[k].1), "step \(k + 1): h \(t[k].history[0])")
        }
        // The diff holds the step that was applied (third: 0.2/(√5.25 + 1e-8)).
        #expect(S.close(p.blob.diffArray[0], 0.2 / (5.25.squareRoot() + 1e-8)))
    }

    @Test func deltaGuardsTheFirstStep() throws {
        // g = 1e-3, δ = 1e-3: step = 0.1·1e-3/(1e-3 + 1e-3) = 0.05 (not 0.1).
        let p = S.param("w", [0])
        let solver = try makeSolver(param: S.solverParam("AdaGrad") { $0.delta = 1e-3 }, params: [p])
        p.blob.setDiff([1e-3])
        solver.applyUpdate()
        #expect(S.close(p.blob.dataArray[0], -0.05))
    }

    @Test func momentumIsRejectedAsCaffeDoes() {
        do {
            _ = try makeSolver(param: S.solverParam("AdaGrad") { $0.momentum = 0.9; $0.sourcePath = "s.prototxt" }, params: [])
            Issue.record("AdaGrad with momentum accepted")
        } catch let e as InputError {
            #expect(e.message.hasPrefix("s.prototxt: Momentum cannot be used with AdaGrad"))
            #expect(e.message.contains("adagrad_solver.cpp"))
        } catch { Issue.record("\(error)") }
    }
}
