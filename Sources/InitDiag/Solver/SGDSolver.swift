import CBLAS

/// How momentum enters the update (SEMANTICS §5 "vs PyTorch", §9 SGD).
public enum MomentumStyle: String, Sendable, CaseIterable {
    /// Caffe: h ← μ·h + lr·lr_mult·g; w ← w − h. The rate lives inside the history.
    case caffe
    /// PyTorch (torch/optim/sgd.py): b ← μ·b + g (first step b = g); w ← w − lr·lr_mult·b.
    /// The rate multiplies the whole buffer, so a rate change takes effect at once.
    case torch
}

/// A learnable blob as the solver sees it: the net's parameter plus its ParamSpec multipliers.
public struct LearnableParam {
    public let blob: Blob
    public let lrMult: Float
    public let decayMult: Float
    public let name: String
    public init(blob: Blob, lrMult: Float = 1, decayMult: Float = 1, name: String) {
        self.blob = blob
        self.lrMult = lrMult
        self.decayMult = decayMult
        self.name = name
    }
}

/// Caffe's SGD and Nesterov solvers' update (BVLC/caffe src/caffe/solvers/sgd_solver.cpp,
/// nesterov_solver.cpp; SEMANTICS §5 steps 4–7), CPU path.
///
/// The CPU path's BLAS calls are reproduced with the same routines: caffe_scal = cblas_sscal,
/// caffe_axpy = cblas_saxpy, caffe_cpu_axpby = cblas_sscal(β, y) then cblas_saxpy(α, x, y)
/// (BVLC/caffe include/caffe/util/mkl_alternate.hpp), sumsq_diff = cblas_sdot. With OpenBLAS this
/// is Caffe-on-OpenBLAS bit for bit (including any FMA in its saxpy kernel).
///
/// `applyUpdate` expects the parameters' diffs to hold the accumulated gradients of this iteration
/// (the sum over iter_size passes); afterwards each diff holds the step that was subtracted from
/// the data, as in Caffe. Parameters with lr_mult 0 are left untouched (data, diff, history); Caffe
/// runs them through the same arithmetic, which changes nothing unless their diff is non-finite.
public final class SGDSolver: @unchecked Sendable {
    public enum Kind: String, Sendable { case sgd = "SGD", nesterov = "Nesterov" }

    public let param: SolverParameter
    public let params: [LearnableParam]
    public let momentumStyle: MomentumStyle
    public let kind: Kind
    public let policy: LearningRatePolicy
    /// Updates applied so far (Caffe's `iter_`).
    public var iter: Int = 0
    /// Caffe's `current_step_` (step/multistep state; saved in solverstate).
    public var currentStep: Int = 0
    /// The rate used by the last `applyUpdate`.
    public private(set) var lastRate: Float = 0
    /// One buffer per param, same shape: Caffe's momentum history (`.caffe`) or PyTorch's momentum
    /// buffer (`.torch`). Written to / read from solverstate snapshots.
    public private(set) var history: [Blob]
    /// ‖Δw‖₂/‖w‖₂ per param from the last `applyUpdate` (storage reused every update).
    public private(set) var updateRatios: [Double]
    /// Scratch per param: Nesterov's saved history and L1's sign(w); allocated once.
    private var scratch: [Blob]
    private let useL1: Bool

    public init(param: SolverParameter, params: [LearnableParam], momentumStyle: MomentumStyle = .caffe) throws {
        let source = param.sourcePath.isEmpty ? "solver" : param.sourcePath
        // The deprecated solver_type enum was upgraded to `type` by the reader; accept either.
        let typeName = param.solverType.map { Self.upgradedTypeName($0) } ?? param.type
        guard let kind = Kind(rawValue: typeName) else {
            throw InputError("\(source): solver type \(typeName) is not supported (supported: SGD, Nesterov)")
        }
        self.policy = try LearningRatePolicy(param)
        guard param.iterSize >= 1 else { throw InputError("\(source): iter_size must be ≥ 1 (got \(param.iterSize))") }
        if param.weightDecay != 0 {
            guard param.regularizationType == "L2" || param.regularizationType == "L1" else {
                throw InputError("\(source): Unknown regularization type: \(param.regularizationType) (valid: L2, L1)")
            }
        }
        self.kind = kind
        self.param = param
        self.params = params
        self.momentumStyle = momentumStyle
        self.useL1 = param.regularizationType == "L1"
        self.history = params.map { Blob(name: $0.name + "_history", shape: $0.blob.shape) }
        self.updateRatios = [Double](repeating: 0, count: params.count)
        let needScratch = kind == .nesterov || (param.regularizationType == "L1" && param.weightDecay != 0)
        self.scratch = params.map { Blob(name: $0.name + "_scratch", shape: needScratch ? $0.blob.shape : []) }
    }

    private static func upgradedTypeName(_ legacy: String) -> String {
        switch legacy {
        case "SGD": return "SGD"
        case "NESTEROV": return "Nesterov"
        case "ADAGRAD": return "AdaGrad"
        case "RMSPROP": return "RMSProp"
        case "ADADELTA": return "AdaDelta"
        case "ADAM": return "Adam"
        default: return legacy
        }
    }

    /// Caffe's GetLearningRate at the current `iter` (advances multistep's current step: call once
    /// per iteration; `applyUpdate` calls it itself and keeps the value in `lastRate`).
    /// Called for each param with the gradient exactly as the momentum step sees it (after
    /// clipping, iter_size normalisation and weight decay): the probes record it here.
    public var gradientObserver: ((_ paramIndex: Int, _ blob: Blob) -> Void)?

    public func rate() -> Float {
        policy.rate(iter: iter, currentStep: &currentStep)
    }

    /// One update (SEMANTICS §5 steps 4–7): rate, global clipping, then per param iter_size
    /// normalisation, weight decay and the momentum step, then w −= step and iter += 1.
    /// Returns per param ‖Δw‖₂/‖w‖₂ with w before the update (double sums); a param with ‖w‖ = 0
    /// gives 0 if it did not move, +∞ if it did. (Also kept in `updateRatios`; the update allocates
    /// nothing unless the caller still holds the previous result.)
    @discardableResult
    public func applyUpdate() -> [Double] {
        let rate = self.rate()
        lastRate = rate
        clipGradients()
        for i in 0..<params.count {
            let p = params[i]
            guard p.lrMult != 0, p.blob.count > 0 else { updateRatios[i] = 0; continue }
            normalize(p)
            regularize(p, scratch: scratch[i])
            gradientObserver?(i, p.blob)
            computeUpdateValue(p, history: history[i], scratch: scratch[i], rate: rate)
            updateRatios[i] = subtractDiff(p.blob)
        }
        iter += 1
        return updateRatios
    }

    /// SGDSolver::ClipGradients: the global L2 norm of all learnable diffs (float sum of per-blob
    /// sdot), and if it exceeds clip_gradients every diff is scaled by clip_gradients/norm.
    private func clipGradients() {
        let clip = param.clipGradients
        guard clip >= 0 else { return }
        var sumsq: Float = 0
        for p in params where p.blob.count > 0 {
            sumsq += cblas_sdot(blasint(p.blob.count), p.blob.diff, 1, p.blob.diff, 1)
        }
        let norm = sumsq.squareRoot()
        if norm > clip {
            let factor = clip / norm
            for p in params where p.blob.count > 0 {
                cblas_sscal(blasint(p.blob.count), factor, p.blob.diff, 1)
            }
        }
    }

    /// SGDSolver::Normalize: diff ·= Dtype(1.)/iter_size (float) when iter_size ≠ 1.
    private func normalize(_ p: LearnableParam) {
        guard param.iterSize != 1 else { return }
        let factor = Float(1) / Float(param.iterSize)
        cblas_sscal(blasint(p.blob.count), factor, p.blob.diff, 1)
    }

    /// SGDSolver::Regularize: local_decay = weight_decay·decay_mult (float); L2: diff += decay·w;
    /// L1: diff += decay·sign(w) with sign = (0 < x) − (x < 0) (caffe_cpu_sign).
    private func regularize(_ p: LearnableParam, scratch: Blob) {
        let decay = param.weightDecay * p.decayMult
        guard decay != 0 else { return }
        if useL1 {
            let w = p.blob.data, s = scratch.data
            for j in 0..<p.blob.count {
                let x = w[j]
                s[j] = (x > 0 ? 1 : 0) - (x < 0 ? 1 : 0)
            }
            saxpyParallel(p.blob.count, decay, s, p.blob.diff)
        } else {
            saxpyParallel(p.blob.count, decay, p.blob.data, p.blob.diff)
        }
    }

    /// The momentum step; leaves in diff what is to be subtracted from data.
    private func computeUpdateValue(_ p: LearnableParam, history h: Blob, scratch: Blob, rate: Float) {
        let count = p.blob.count
        let momentum = param.momentum
        let localRate = rate * p.lrMult
        let g = p.blob.diff
        switch (momentumStyle, kind) {
        case (.caffe, .sgd):
            // caffe_cpu_axpby(local_rate, diff, momentum, history); diff = history.
            sscalParallel(p.blob.count, momentum, h.data)
            saxpyParallel(p.blob.count, localRate, g, h.data)
            g.update(from: h.data, count: count)
        case (.caffe, .nesterov):
            // NesterovSolver: saved = history; history = momentum·history + local_rate·diff;
            // update = (1 + momentum)·history − momentum·saved; diff = update.
            let saved = scratch.data
            saved.update(from: h.data, count: count)
            sscalParallel(p.blob.count, momentum, h.data)
            saxpyParallel(p.blob.count, localRate, g, h.data)
            sscalParallel(p.blob.count, -momentum, saved)
            saxpyParallel(p.blob.count, Float(1) + momentum, h.data, saved)
            g.update(from: saved, count: count)
        case (.torch, .sgd):
            // buf = μ·buf + g (the first step's buf = 0 gives buf = g, PyTorch's clone);
            // step = lr·lr_mult·buf.
            sscalParallel(p.blob.count, momentum, h.data)
            saxpyParallel(p.blob.count, 1, g, h.data)
            let b = h.data
            for j in 0..<count { g[j] = localRate * b[j] }
        case (.torch, .nesterov):
            // PyTorch nesterov: buf = μ·buf + g; g = g + μ·buf; step = lr·lr_mult·g.
            sscalParallel(p.blob.count, momentum, h.data)
            saxpyParallel(p.blob.count, 1, g, h.data)
            saxpyParallel(p.blob.count, momentum, h.data, g)
            sscalParallel(p.blob.count, localRate, g)
        }
    }

    /// Net::Update (data −= diff) fused with the update-ratio sums.
    private func subtractDiff(_ blob: Blob) -> Double {
        let w = blob.data, d = blob.diff
        var sumW = 0.0, sumD = 0.0
        for j in 0..<blob.count {
            let x = w[j], s = d[j]
            sumW += Double(x) * Double(x)
            sumD += Double(s) * Double(s)
            w[j] = x - s
        }
        if sumW == 0 { return sumD == 0 ? 0 : .infinity }
        return (sumD / sumW).squareRoot()
    }

    /// Restores solver state (SolverState iter, current_step, history; Caffe's
    /// RestoreSolverStateFrom*): the history list must match the params one to one, in count.
    public func restore(iter: Int, currentStep: Int, history saved: [Blob]) throws {
        let source = param.sourcePath.isEmpty ? "solver" : param.sourcePath
        guard saved.count == history.count else {
            throw InputError("\(source): solver state has \(saved.count) history blobs, the net has \(history.count) learnable blobs (Incorrect length of history blobs.)")
        }
        for (i, blob) in saved.enumerated() where blob.count != history[i].count {
            throw InputError("\(source): solver state history \(i) (\(params[i].name)) has \(blob.count) values (\(blob.shapeString)), expected \(history[i].count) (\(history[i].shapeString))")
        }
        for (i, blob) in saved.enumerated() {
            history[i].data.update(from: blob.data, count: blob.count)
        }
        self.iter = iter
        self.currentStep = currentStep
    }
}

/// Caffe's smoothed loss for display (Solver::UpdateSmoothedLoss, SEMANTICS §5 step 3): the float
/// running mean of the first average_loss losses, (s·(size − 1) + loss)/size; once full, a ring
/// buffer indexed by (iter − start_iter) mod average_loss with s += (loss − old)/average_loss.
public struct SmoothedLoss: Sendable {
    public let averageLoss: Int
    public private(set) var value: Float = 0
    private var losses: [Float]

    public init(averageLoss: Int) throws {
        // Solver::Step: CHECK_GE(average_loss, 1).
        guard averageLoss >= 1 else { throw InputError("solver: average_loss must be ≥ 1 (got \(averageLoss))") }
        self.averageLoss = averageLoss
        losses = []
        losses.reserveCapacity(averageLoss)
    }

    /// Adds the loss of iteration `iter` of a run that started at `startIter`; returns the new value.
    @discardableResult
    public mutating func add(_ loss: Float, iter: Int, startIter: Int = 0) -> Float {
        if losses.count < averageLoss {
            losses.append(loss)
            let size = losses.count
            value = (value * Float(size - 1) + loss) / Float(size)
        } else {
            let idx = (iter - startIter) % averageLoss
            value += (loss - losses[idx]) / Float(averageLoss)
            losses[idx] = loss
        }
        return value
    }

    /// Solver::Step clears the losses and the value at its start.
    public mutating func reset() {
        losses.removeAll(keepingCapacity: true)
        value = 0
    }
}
