import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct RMSPropSolverTests {
    typealias S = SolverTestSupport

    @Test func oneParameterByHand() throws {
        // lr 0.1, rms_decay 0.9, δ 1e-8, w0 = 1, g = 0.5, −1, 2:
        // h = 0.1·0.25 = 0.025; 0.9·0.025 + 0.1 = 0.1225; 0.9·0.1225 + 0.4 = 0.51025;
        // w = 1 − 0.05/√0.025 = 0.683772253983; + 0.1/0.35 → 0.969486531534; − 0.2/0.714317 → 0.689499134603.
        let p = S.param("w", [1])
        let solver = try makeSolver(param: S.solverParam("RMSProp") { $0.rmsDecay = 0.9 }, params: [p])
        #expect(solver is RMSPropSolver && solver.history.count == 1)
        let t = S.trajectory(solver, p)
        let expected: [(Double, Double)] = [(0.683772253983, 0.025), (0.969486531534, 0.1225), (0.689499134603, 0.51025)]
        for k in 0..<3 {
            #expect(S.close(t[k].w, expected[k].0), "step \(k + 1): w \(t[k].w) vs \(expected[k].0)")
            #expect(S.close(t[k].history[0], expected[k].1), "step \(k + 1): h \(t[k].history[0])")
        }
    }

    @Test func defaultsAreCaffes() throws {
        // caffe.proto: rms_decay 0.99, delta 1e-8. One step of g = 1 from h = 0:
        // h = 0.01, step = 0.1·1/(0.1 + 1e-8).
        let p = S.param("w", [0])
        let solver = try makeSolver(param: S.solverParam("RMSProp"), params: [p])
        p.blob.setDiff([1])
        solver.applyUpdate()
        #expect(S.close(solver.history[0].dataArray[0], 0.01))
        #expect(S.close(p.blob.dataArray[0], -0.1 / (0.1 + 1e-8)))
    }

    @Test func caffeChecksAreInputErrors() {
        func message(_ edit: @escaping (inout SolverParameter) -> Void) -> String? {
            do { _ = try makeSolver(param: S.solverParam("RMSProp", "fixed", edit), params: []); return nil }
            catch let e as InputError { return e.message } catch { return "\(error)" }
        }
        #expect(message { $0.momentum = 0.5 }?.contains("Momentum cannot be used with RMSProp") == true)
        #expect(message { $0.rmsDecay = 1 }?.contains("rms_decay should lie between 0 and 1") == true)
        #expect(message { $0.rmsDecay = -0.1 }?.contains("rmsprop_solver.cpp") == true)
        #expect(message { $0.rmsDecay = 0 } == nil)
    }
}
