import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// What `SolverBase` does once for every solver in `SolverRegistry` (a new solver is checked
/// here without a line of its own): lr_mult, decay_mult, iter_size and clipping applied exactly
/// once, the gradient observer, the history layout and restore, the factory.
@Suite struct SolverBaseTests {
    typealias S = SolverTestSupport
    static let types = SolverRegistry.typeNames

    /// A parameter set valid for the type: momentum 0.9, or 0 where the solver refuses momentum
    /// (AdaGrad, RMSProp: Caffe's constructor checks).
    static func base(_ type: String, _ edit: (inout SolverParameter) -> Void = { _ in }) -> SolverParameter {
        var p = S.solverParam(type) { $0.momentum = 0.9 }
        if (try? makeSolver(param: p, params: [])) == nil { p.momentum = 0 }
        edit(&p)
        return p
    }

    /// Three updates of two params from fixed weights, the diff of each set by `grad(step, param, w)`.
    static func run(_ param: SolverParameter, lrMults: [Float] = [1, 1], decayMults: [Float] = [1, 1],
                    grad: (Int, Int, [Float]) -> [Float]) throws -> (weights: [[Float]], history: [[Float]], solver: any Solver) {
        let ps = [S.param("a", [1, -2, 0.5], lr: lrMults[0], decay: decayMults[0]),
                  S.param("b", [0.25, 3], lr: lrMults[1], decay: decayMults[1])]
        let solver = try makeSolver(param: param, params: ps)
        for step in 0..<3 {
            for (k, p) in ps.enumerated() { p.blob.setDiff(grad(step, k, p.blob.dataArray)) }
            solver.applyUpdate()
        }
        return (ps.map { $0.blob.dataArray }, solver.history.map(\.dataArray), solver)
    }

    static func gradient(_ step: Int, _ k: Int, _ w: [Float]) -> [Float] {
        let g: [[Float]] = [[0.5, -0.25, 1], [2, -1]]
        return g[k].map { $0 * Float(step + 1) * (step == 1 ? -1 : 1) }
    }

    @Test(arguments: types) func lrMultIsAppliedOnce(_ type: String) throws {
        // base_lr 0.05 · lr_mult 2 = base_lr 0.1 · lr_mult 1 exactly in float: bit-identical runs.
        let a = try Self.run(Self.base(type) { $0.baseLr = 0.05 }, lrMults: [2, 2], grad: Self.gradient)
        let b = try Self.run(Self.base(type) { $0.baseLr = 0.1 }, grad: Self.gradient)
        #expect(a.weights == b.weights && a.history == b.history)
        // … and the multiplier matters (it is applied at all).
        let c = try Self.run(Self.base(type) { $0.baseLr = 0.05 }, grad: Self.gradient)
        #expect(c.weights != b.weights)
    }

    @Test(arguments: types) func weightDecayWithDecayMultIsAppliedOnce(_ type: String) throws {
        // weight_decay 0.25 · decay_mult 2 = 0.5: the same as no decay and diff = g + 0.5·w given
        // by hand (0.5·w is exact, so both round once).
        let a = try Self.run(Self.base(type) { $0.weightDecay = 0.25 }, decayMults: [2, 2], grad: Self.gradient)
        let b = try Self.run(Self.base(type), grad: { s, k, w in zip(Self.gradient(s, k, w), w).map { $0 + 0.5 * $1 } })
        #expect(a.weights == b.weights && a.history == b.history)
        // decay_mult 0 switches it off.
        let c = try Self.run(Self.base(type) { $0.weightDecay = 0.25 }, decayMults: [0, 0], grad: Self.gradient)
        let d = try Self.run(Self.base(type), grad: Self.gradient)
        #expect(c.weights == d.weights)
    }

    @Test(arguments: types) func l1DecayAddsTheSign(_ type: String) throws {
        let a = try Self.run(Self.base(type) { $0.weightDecay = 0.5; $0.regularizationType = "L1" }, grad: Self.gradient)
        let b = try Self.run(Self.base(type), grad: { s, k, w in
            zip(Self.gradient(s, k, w), w).map { $0 + 0.5 * Float(($1 > 0 ? 1 : 0) - ($1 < 0 ? 1 : 0)) }
        })
        #expect(a.weights == b.weights && a.history == b.history)
    }

    @Test(arguments: types) func iterSizeDividesOnce(_ type: String) throws {
        // iter_size 4 with the accumulated 4·g = iter_size 1 with g (×0.25 is exact).
        let a = try Self.run(Self.base(type) { $0.iterSize = 4 }, grad: { s, k, w in Self.gradient(s, k, w).map { 4 * $0 } })
        let b = try Self.run(Self.base(type), grad: Self.gradient)
        #expect(a.weights == b.weights && a.history == b.history)
    }

    @Test(arguments: types) func clippingScalesByTheGlobalNormOnce(_ type: String) throws {
        // Diffs (3, 0, 0) and (0, 4): global norm 5; clip 2.5 → ×0.5 (exact) = unclipped (1.5, 0, 0), (0, 2).
        let big: (Int, Int, [Float]) -> [Float] = { _, k, _ in k == 0 ? [3, 0, 0] : [0, 4] }
        let a = try Self.run(Self.base(type) { $0.clipGradients = 2.5 }, grad: big)
        let b = try Self.run(Self.base(type), grad: { s, k, w in big(s, k, w).map { $0 * 0.5 } })
        #expect(a.weights == b.weights && a.history == b.history)
        // Below the threshold nothing changes.
        let c = try Self.run(Self.base(type) { $0.clipGradients = 10 }, grad: big)
        let d = try Self.run(Self.base(type), grad: big)
        #expect(c.weights == d.weights)
    }

    @Test(arguments: types) func observerSeesTheRegularisedGradientOncePerParam(_ type: String) throws {
        let ps = [S.param("a", [1, -2], decay: 1), S.param("frozen", [1, 1], lr: 0)]
        let solver = try makeSolver(param: Self.base(type) { $0.weightDecay = 0.5; $0.iterSize = 2 }, params: ps)
        var seen: [(Int, [Float])] = []
        solver.gradientObserver = { k, blob in seen.append((k, blob.diffArray)) }
        ps[0].blob.setDiff([2, 4]); ps[1].blob.setDiff([0, 0])
        solver.applyUpdate()
        // (2, 4)/2 + 0.5·(1, −2) = (1.5, 1); the lr_mult-0 param is not observed.
        #expect(seen.count == 1 && seen.first?.0 == 0 && seen.first?.1 == [1.5, 1])
        // lr_mult 0: the weights never move (Caffe's arithmetic with local_rate 0).
        #expect(ps[1].blob.dataArray == [1, 1])
        #expect(solver.updateRatios[1] == 0 && solver.updateRatios[0] > 0)
        #expect(solver.iter == 1 && solver.typeName == type)
    }

    @Test(arguments: types) func restoreContinuesBitIdentically(_ type: String) throws {
        let param = Self.base(type) { $0.weightDecay = 0.01; $0.lrPolicy = "step"; $0.gamma = 0.5; $0.stepsize = 2 }
        let straight = try Self.run(param, grad: Self.gradient)
        // Two updates, then a fresh solver restored from the history and weights continues.
        let ps = [S.param("a", [1, -2, 0.5]), S.param("b", [0.25, 3])]
        let first = try makeSolver(param: param, params: ps)
        for step in 0..<2 {
            for (k, p) in ps.enumerated() { p.blob.setDiff(Self.gradient(step, k, p.blob.dataArray)) }
            first.applyUpdate()
        }
        let saved = first.history.map { h -> Blob in let b = Blob(shape: h.shape); b.setData(h.dataArray); return b }
        let ps2 = ps.map { S.param($0.name, $0.blob.dataArray) }
        let second = try makeSolver(param: param, params: ps2)
        #expect(second.history.count == first.history.count)
        try second.restore(iter: first.iter, currentStep: first.currentStep, history: saved)
        for (k, p) in ps2.enumerated() { p.blob.setDiff(Self.gradient(2, k, p.blob.dataArray)) }
        second.applyUpdate()
        #expect(ps2.map { $0.blob.dataArray } == straight.weights)
        #expect(second.history.map(\.dataArray) == straight.history)
        // A state with the wrong number of history blobs is refused, naming the count.
        #expect(throws: InputError.self) { try second.restore(iter: 0, currentStep: 0, history: Array(saved.dropLast())) }
    }

    @Test(arguments: types) func historyLayoutIsCaffes(_ type: String) throws {
        let ps = [S.param("a", [1, 2, 3]), S.param("b", [1])]
        let solver = try makeSolver(param: Self.base(type), params: ps)
        let sets = try #require(SolverRegistry.types.first { $0.typeName == type }).historyNames.count
        #expect(solver.history.count == sets * ps.count)
        // Set after set: history[s·N + i] has param i's shape.
        for (j, h) in solver.history.enumerated() { #expect(h.shape == ps[j % ps.count].blob.shape) }
    }

    @Test func legacySolverTypesMapToTheirClasses() throws {
        for (legacy, type) in [("SGD", "SGD"), ("NESTEROV", "Nesterov"), ("ADAGRAD", "AdaGrad"),
                               ("RMSPROP", "RMSProp"), ("ADADELTA", "AdaDelta"), ("ADAM", "Adam")] {
            var p = Self.base(type)
            p.type = "SGD"
            p.solverType = legacy
            #expect(try makeSolver(param: p, params: []).typeName == type)
        }
    }

    @Test func torchStyleOnlyForMomentumSGD() throws {
        for type in Self.types {
            let ok = (try? makeSolver(param: Self.base(type), params: [], momentumStyle: .torch)) != nil
            #expect(ok == ["SGD", "Nesterov"].contains(type), "\(type)")
        }
    }
}

/// The BVLC solver files of ../shared/zoo parse and build their solvers (the nets are not built).
@Suite struct ZooSolverTests {
    static let files: [(String, String)] = [
        ("mnist/lenet_solver_adam.prototxt", "Adam"),
        ("mnist/lenet_solver_rmsprop.prototxt", "RMSProp"),
        ("mnist/mnist_autoencoder_solver_adagrad.prototxt", "AdaGrad"),
        ("mnist/mnist_autoencoder_solver_adadelta.prototxt", "AdaDelta"),
        ("mnist/mnist_autoencoder_solver_nesterov.prototxt", "Nesterov"),
        ("mnist/lenet_solver.prototxt", "SGD"),
    ]

    static func zoo(_ relative: String) -> String? {
        let candidates = [ProcessInfo.processInfo.environment["INITDIAG_ZOO"], packageRoot() + "/../shared/zoo/bvlc"].compactMap { $0 }
        for dir in candidates where FileManager.default.fileExists(atPath: dir + "/" + relative) { return dir + "/" + relative }
        return nil
    }

    @Test(arguments: files.map(\.0)) func parsesAndBuilds(_ file: String) throws {
        guard let path = Self.zoo(file) else {
            print("ZooSolverTests: SKIPPED \(file): ../shared/zoo/bvlc not found (set INITDIAG_ZOO)")
            return
        }
        let type = try #require(Self.files.first { $0.0 == file }).1
        let (param, _) = try Prototxt.loadSolver(path: path)
        let ps = [SolverTestSupport.param("w", [0.5, -1]), SolverTestSupport.param("b", [0.1])]
        let solver = try makeSolver(param: param, params: ps)
        #expect(solver.typeName == type)
        ps[0].blob.setDiff([0.1, 0.2]); ps[1].blob.setDiff([-0.3])
        solver.applyUpdate()
        #expect(ps.allSatisfy { $0.blob.dataArray.allSatisfy(\.isFinite) })
        switch type {
        case "Adam":
            #expect(param.momentum == 0.9 && param.momentum2 == 0.999 && param.baseLr == 0.001 && param.delta == 1e-8)
            #expect(solver.history.count == 4)
        case "RMSProp":
            #expect(param.rmsDecay == 0.98 && param.lrPolicy == "inv" && param.weightDecay == 0.0005)
        case "AdaDelta":
            #expect(param.momentum == 0.95 && param.delta == 1e-8 && param.baseLr == 1)
            #expect(solver.history.count == 4)
        case "AdaGrad":
            #expect(param.momentum == 0 && param.baseLr == 0.01)
        case "Nesterov":
            #expect(param.momentum == 0.95 && param.lrPolicy == "step" && param.stepsize == 10000)
        default:
            #expect(solver.history.count == 2)
        }
    }
}
