import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

private func solverParam(_ policy: String = "fixed", _ edit: (inout SolverParameter) -> Void = { _ in }) -> SolverParameter {
    var p = SolverParameter()
    p.lrPolicy = policy
    p.baseLr = 0.1
    edit(&p)
    return p
}

private func close(_ a: Float, _ b: Double, _ tol: Double = 1e-6) -> Bool {
    abs(Double(a) - b) <= tol * max(1, abs(b))
}

@Suite struct LearningRatePolicyTests {
    private func rates(_ p: SolverParameter, iters: [Int]) throws -> [Float] {
        let policy = try LearningRatePolicy(p)
        var step = 0
        return iters.map { policy.rate(iter: $0, currentStep: &step) }
    }

    @Test func fixedStepExp() throws {
        #expect(try rates(solverParam("fixed") { $0.baseLr = 0.01 }, iters: [0, 100, 10_000]) == [0.01, 0.01, 0.01])

        let step = try rates(solverParam("step") { $0.baseLr = 0.01; $0.gamma = 0.1; $0.stepsize = 100 },
                             iters: [0, 99, 100, 199, 200, 250])
        for (r, e) in zip(step, [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001]) { #expect(close(r, e), "\(r) vs \(e)") }

        let exp = try rates(solverParam("exp") { $0.baseLr = 0.1; $0.gamma = 0.9 }, iters: [0, 1, 2, 10])
        for (r, e) in zip(exp, [0.1, 0.09, 0.081, 0.1 * 0.3486784401]) { #expect(close(r, e), "\(r) vs \(e)") }

        // Type rule: pow(float, int) is a double power, base_lr·power a double rounded once to float.
        let gamma: Float = 0.999, base: Float = 0.7
        let got = try rates(solverParam("exp") { $0.baseLr = base; $0.gamma = gamma }, iters: [1234])[0]
        var power = 1.0
        for _ in 0..<1234 { power *= Double(gamma) }   // ≤ 1234 double roundings: ~3e-13 relative
        #expect(abs(Double(got) - Double(base) * power) <= Double(got.ulp) / 2 + 1e-12)
    }

    @Test func invPolySigmoid() throws {
        // inv: 0.01·(1 + 1e-4·10000)^−0.75 = 0.01·2^−0.75 = 0.005946035575.
        let inv = try rates(solverParam("inv") { $0.baseLr = 0.01; $0.gamma = 1e-4; $0.power = 0.75 }, iters: [0, 10_000])
        #expect(close(inv[0], 0.01) && close(inv[1], 0.005946035575))

        // poly: 0.1·(1 − iter/100)^2 → 0.1, 0.025, 0.001, 0 at max_iter.
        let poly = try rates(solverParam("poly") { $0.baseLr = 0.1; $0.power = 2; $0.maxIter = 100 }, iters: [0, 50, 90, 100])
        for (r, e) in zip(poly, [0.1, 0.025, 0.001, 0]) { #expect(close(r, e), "\(r) vs \(e)") }
        #expect(poly[3] == 0)

        // sigmoid: 1/(1 + e^(−0.1·(iter − 50))) → 0.5 at 50, 0.7310585786 at 60, 0.2689414214 at 40.
        let sig = try rates(solverParam("sigmoid") { $0.baseLr = 1; $0.gamma = 0.1; $0.stepsize = 50 }, iters: [50, 60, 40])
        for (r, e) in zip(sig, [0.5, 0.7310585786, 0.2689414214]) { #expect(close(r, e), "\(r) vs \(e)") }
    }

    @Test func multistepAdvancesOneStepPerCall() throws {
        let p = solverParam("multistep") { $0.baseLr = 1; $0.gamma = 0.5; $0.stepvalue = [3, 5] }
        #expect(try rates(p, iters: Array(0...7)) == [1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.25])
        // A run resumed at iter 10 with current_step 0 catches up one step per call, as Caffe does.
        let policy = try LearningRatePolicy(p)
        var step = 0
        #expect(policy.rate(iter: 10, currentStep: &step) == 0.5 && step == 1)
        #expect(policy.rate(iter: 11, currentStep: &step) == 0.25 && step == 2)
        #expect(policy.rate(iter: 12, currentStep: &step) == 0.25 && step == 2)
    }

    @Test func badPoliciesAreInputErrors() {
        func message(_ p: SolverParameter) -> String? {
            do { _ = try LearningRatePolicy(p); return nil } catch let e as InputError { return e.message } catch { return "\(error)" }
        }
        #expect(message(solverParam("cosine"))?.contains("Unknown learning rate policy") == true)
        var unset = solverParam()
        unset.lrPolicy = nil
        unset.sourcePath = "cifar_solver.prototxt"
        let m = message(unset)
        #expect(m?.contains("Unknown learning rate policy") == true && m?.contains("cifar_solver.prototxt") == true)
        #expect(message(solverParam("step") { $0.stepsize = 0 }) != nil)
        #expect(message(solverParam("sigmoid") { $0.stepsize = 0 }) != nil)
        #expect(message(solverParam("poly") { $0.maxIter = 0 }) != nil)
        #expect(message(solverParam("exp") { $0.gamma = -1 }) != nil)
    }
}

@Suite struct SGDSolverTests {
    private func param(_ name: String, _ w: [Float], lr: Float = 1, decay: Float = 1) -> LearnableParam {
        let b = Blob(name: name, shape: [w.count])
        b.setData(w)
        return LearnableParam(blob: b, lrMult: lr, decayMult: decay, name: name)
    }

    @Test func caffeMomentumWithL2ThreeSteps() throws {
        // base_lr 0.1, μ 0.9, weight_decay 0.01 (L2), w0 = (1, −2). By hand:
        // 1: d = g + 0.01w = (0.51, 0.23); h = 0.1d = (0.051, 0.023); w = (0.949, −2.023)
        // 2: d = (−0.99051, 0.47977); h = 0.9h + 0.1d = (−0.053151, 0.068677); w = (1.002151, −2.091677)
        // 3: d = (0.01002151, 0.97908323); h = (−0.046833749, 0.159717623); w = (1.048984749, −2.251394623)
        let p = param("w", [1, -2])
        let solver = try SGDSolver(param: solverParam { $0.momentum = 0.9; $0.weightDecay = 0.01 }, params: [p])
        let grads: [[Float]] = [[0.5, 0.25], [-1, 0.5], [0, 1]]
        let expected: [[Double]] = [[0.949, -2.023], [1.002151, -2.091677], [1.048984749, -2.251394623]]
        let history: [[Double]] = [[0.051, 0.023], [-0.053151, 0.068677], [-0.046833749, 0.159717623]]
        for k in 0..<3 {
            p.blob.setDiff(grads[k])
            let ratios = solver.applyUpdate()
            for j in 0..<2 {
                #expect(close(p.blob.dataArray[j], expected[k][j], 1e-6), "step \(k + 1) w[\(j)]")
                #expect(close(solver.history[0].dataArray[j], history[k][j], 1e-6), "step \(k + 1) h[\(j)]")
                // After the update the diff holds the step that was applied (Caffe: diff = history).
                #expect(close(p.blob.diffArray[j], history[k][j], 1e-6))
            }
            if k == 0 {
                // ‖Δw‖/‖w‖ = sqrt(0.051² + 0.023²)/sqrt(5) = 0.0559464/2.2360680.
                #expect(abs(ratios[0] - 0.00313.squareRoot() / 5.0.squareRoot()) < 1e-7)
            }
        }
        #expect(solver.iter == 3 && solver.lastRate == 0.1)
    }

    @Test func l1DecayWithMultipliers() throws {
        // L1, weight_decay 0.1 · decay_mult 2 = 0.2; lr_mult 0.5 → local rate 0.05; μ = 0.
        // d = g + 0.2·sign(w) = (0.2, −0.2, 0.5); w −= 0.05d → (0.99, −1.99, −0.025).
        let p = param("w", [1, -2, 0], lr: 0.5, decay: 2)
        let solver = try SGDSolver(param: solverParam { $0.weightDecay = 0.1; $0.regularizationType = "L1" }, params: [p])
        p.blob.setDiff([0, 0, 0.5])
        solver.applyUpdate()
        for (v, e) in zip(p.blob.dataArray, [0.99, -1.99, -0.025]) { #expect(close(v, e), "\(v) vs \(e)") }
    }

    @Test func iterSizeDividesAccumulatedGradients() throws {
        // iter_size 2: accumulated (2, 4) → (1, 2); lr 0.5 → w −= (0.5, 1).
        let p = param("w", [0, 0])
        let solver = try SGDSolver(param: solverParam { $0.baseLr = 0.5; $0.iterSize = 2 }, params: [p])
        p.blob.setDiff([2, 4])
        solver.applyUpdate()
        #expect(p.blob.dataArray == [-0.5, -1])
    }

    @Test func clippingUsesTheGlobalNormBeforeIterSizeAndDecay() throws {
        // Two params, diffs (3, 0) and (0, 4): global norm 5. clip 2.5 → ×0.5 → (1.5, 0), (0, 2);
        // iter_size 2 → (0.75, 0), (0, 1); then L2 0.1 on w = 1: (0.85, 0.1), (0.1, 1.1); lr 1.
        func run(clip: Float) throws -> ([Float], [Float]) {
            let a = param("a", [1, 1]), b = param("b", [1, 1])
            let solver = try SGDSolver(param: solverParam {
                $0.baseLr = 1; $0.iterSize = 2; $0.weightDecay = 0.1; $0.clipGradients = clip
            }, params: [a, b])
            a.blob.setDiff([3, 0]); b.blob.setDiff([0, 4])
            solver.applyUpdate()
            return (a.blob.dataArray, b.blob.dataArray)
        }
        let (a, b) = try run(clip: 2.5)
        for (v, e) in zip(a + b, [0.15, 0.9, 0.9, -0.1]) { #expect(close(v, e), "\(v) vs \(e)") }
        // Norm 5 below the threshold 10: untouched; (1.5, 0) + 0.1, (0, 2) + 0.1.
        let (a2, b2) = try run(clip: 10)
        for (v, e) in zip(a2 + b2, [1 - 1.6, 1 - 0.1, 1 - 0.1, 1 - 2.1]) { #expect(close(v, e), "\(v) vs \(e)") }
    }

    @Test func lrMultZeroParamsAreUntouched() throws {
        let frozen = param("frozen", [1, 2], lr: 0), live = param("live", [1, 2])
        let solver = try SGDSolver(param: solverParam { $0.momentum = 0.9; $0.weightDecay = 0.5 }, params: [frozen, live])
        frozen.blob.setDiff([3, 4]); live.blob.setDiff([3, 4])
        let ratios = solver.applyUpdate()
        #expect(frozen.blob.dataArray == [1, 2] && frozen.blob.diffArray == [3, 4])
        #expect(solver.history[0].dataArray == [0, 0])
        #expect(ratios[0] == 0 && ratios[1] > 0)
        #expect(live.blob.dataArray != [1, 2])
    }

    @Test func torchAndCaffeMomentumAgreeUntilTheRateChanges() throws {
        // w0 = 0, g = 1 each step, base_lr 0.1, μ 0.5, step policy: rate 0.01 from iter 2.
        // Caffe: h = 0.1, 0.15, 0.075 + 0.01 = 0.085 → w = −0.1, −0.25, −0.335.
        // Torch: b = 1, 1.5, 1.75; steps 0.1, 0.15, 0.0175 → w = −0.1, −0.25, −0.2675.
        func run(_ style: MomentumStyle) throws -> [Float] {
            let p = param("w", [0])
            let solver = try SGDSolver(param: solverParam("step") { $0.momentum = 0.5; $0.gamma = 0.1; $0.stepsize = 2 },
                                       params: [p], momentumStyle: style)
            var ws: [Float] = []
            for _ in 0..<3 {
                p.blob.setDiff([1])
                solver.applyUpdate()
                ws.append(p.blob.dataArray[0])
            }
            return ws
        }
        let caffe = try run(.caffe), torch = try run(.torch)
        for (v, e) in zip(caffe, [-0.1, -0.25, -0.335]) { #expect(close(v, e), "caffe \(v) vs \(e)") }
        for (v, e) in zip(torch, [-0.1, -0.25, -0.2675]) { #expect(close(v, e), "torch \(v) vs \(e)") }
        #expect(abs(caffe[0] - torch[0]) < 1e-7 && abs(caffe[1] - torch[1]) < 1e-7)
    }

    @Test func nesterovMatchesHandComputation() throws {
        // w0 = 0, g = 1, lr 0.1, μ 0.5. Caffe Nesterov: update = (1 + μ)·h_new − μ·h_old:
        // h = 0.1, 0.15, 0.175; updates 0.15, 0.175, 0.1875 → w = −0.15, −0.325, −0.5125.
        // PyTorch nesterov (g + μ·buf) gives the same while lr is constant.
        for style in MomentumStyle.allCases {
            let p = param("w", [0])
            let solver = try makeSolver(param: solverParam { $0.momentum = 0.5; $0.type = "Nesterov" },
                                        params: [p], momentumStyle: style)
            #expect(solver is NesterovSolver)
            var ws: [Float] = []
            for _ in 0..<3 {
                p.blob.setDiff([1])
                solver.applyUpdate()
                ws.append(p.blob.dataArray[0])
            }
            for (v, e) in zip(ws, [-0.15, -0.325, -0.5125]) { #expect(close(v, e), "\(style) \(v) vs \(e)") }
        }
    }

    @Test func unsupportedSolversAndRestore() throws {
        do {
            _ = try makeSolver(param: solverParam { $0.type = "Lion" }, params: [])
            Issue.record("Lion accepted")
        } catch let e as InputError {
            #expect(e.message.contains("solver type Lion is not supported"))
            #expect(e.message.contains("SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam"))
        }
        #expect(throws: InputError.self) {
            _ = try SGDSolver(param: solverParam { $0.weightDecay = 0.1; $0.regularizationType = "L3" }, params: [])
        }
        #expect(throws: InputError.self) { _ = try SGDSolver(param: solverParam { $0.iterSize = 0 }, params: []) }
        #expect(try makeSolver(param: solverParam { $0.solverType = "NESTEROV" }, params: []) is NesterovSolver)

        // Restore: history, iter and current_step come back; the next step uses them.
        let p = param("w", [0])
        let solver = try SGDSolver(param: solverParam("multistep") { $0.momentum = 0.5; $0.gamma = 0.1; $0.stepvalue = [5, 10] },
                                   params: [p])
        let h = Blob(name: "h", shape: [1])
        h.setData([0.2])
        try solver.restore(iter: 7, currentStep: 1, history: [h])
        p.blob.setDiff([1])
        solver.applyUpdate()
        // rate 0.1·0.1 = 0.01; h = 0.5·0.2 + 0.01 = 0.11.
        #expect(close(solver.history[0].dataArray[0], 0.11) && close(p.blob.dataArray[0], -0.11))
        #expect(solver.iter == 8 && solver.currentStep == 1)
        #expect(throws: InputError.self) { try solver.restore(iter: 0, currentStep: 0, history: []) }
        #expect(throws: InputError.self) { try solver.restore(iter: 0, currentStep: 0, history: [Blob(name: "x", shape: [2])]) }
    }
}

@Suite struct SmoothedLossTests {
    @Test func runningMeanThenRingBuffer() throws {
        // average_loss 3, losses 3, 6, 9, 12, 15 at iters 0…4:
        // 3; (3·1 + 6)/2 = 4.5; (4.5·2 + 9)/3 = 6; full: 6 + (12 − 3)/3 = 9; 9 + (15 − 6)/3 = 12.
        var s = try SmoothedLoss(averageLoss: 3)
        let got = [3, 6, 9, 12, 15].enumerated().map { s.add(Float($1), iter: $0) }
        #expect(got == [3, 4.5, 6, 9, 12])
        // average_loss 1 = the last loss.
        var one = try SmoothedLoss(averageLoss: 1)
        #expect([2, 7, 1].enumerated().map { one.add(Float($1), iter: $0) } == [2, 7, 1])
        // The ring index follows (iter − start_iter) mod average_loss.
        var resumed = try SmoothedLoss(averageLoss: 2)
        resumed.add(4, iter: 10, startIter: 10)
        resumed.add(8, iter: 11, startIter: 10)
        #expect(resumed.add(10, iter: 12, startIter: 10) == 9)   // replaces the loss of iter 10
        resumed.reset()
        #expect(resumed.value == 0 && resumed.add(1, iter: 0) == 1)
        #expect(throws: InputError.self) { _ = try SmoothedLoss(averageLoss: 0) }
    }
}
