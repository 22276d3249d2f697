import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Helpers shared by the solver tests: a solver parameter with a fixed rate and a one-blob param.
enum SolverTestSupport {
    static func solverParam(_ type: String, _ policy: String = "fixed", _ edit: (inout SolverParameter) -> Void = { _ in }) -> SolverParameter {
        var p = SolverParameter()
        p.type = type
        p.lrPolicy = policy
        p.baseLr = 0.1
        edit(&p)
        return p
    }

    static func param(_ name: String, _ w: [Float], lr: Float = 1, decay: Float = 1) -> LearnableParam {
        let b = Blob(name: name, shape: [w.count])
        b.setData(w)
        return LearnableParam(blob: b, lrMult: lr, decayMult: decay, name: name)
    }

    static func close(_ a: Float, _ b: Double, _ tol: Double = 1e-6) -> Bool {
        abs(Double(a) - b) <= tol * max(1, abs(b))
    }

    /// Runs a one-element param from w0 = 1 through gradients 0.5, −1, 2 (one per update) and
    /// returns (w, history values) after each update.
    static func trajectory(_ solver: any Solver, _ p: LearnableParam) -> [(w: Float, history: [Float])] {
        var out: [(w: Float, history: [Float])] = []
        for g: Float in [0.5, -1, 2] {
            p.blob.setDiff([g])
            solver.applyUpdate()
            out.append((p.blob.dataArray[0], solver.history.map { $0.dataArray[0] }))
        }
        return out
    }
}
