import InitDiagCore
import InitDiagTrace
import CBLAS

/// Caffe's RMSProp solver (BVLC/caffe src/caffe/solvers/rmsprop_solver.cpp,
/// include/caffe/sgd_solvers.hpp), CPU path, per element with g the regularised gradient:
///
///     h = rms_decay·h + (1 − rms_decay)·g²   (caffe_powx(g, 2); caffe_cpu_axpby(1 − rms_decay,
///                                             update, rms_decay, history))
///     step = local_rate · g / (√h + δ)       (caffe_powx(h, 0.5); caffe_add_scalar(δ); caffe_div;
///                                             caffe_cpu_axpby(local_rate, update, 0, diff))
///     w −= step
///
/// Parameters: base_lr and lr_policy as every solver, rms_decay (caffe.proto default 0.99),
/// delta δ (1e-8), weight_decay/regularization_type, clip_gradients, iter_size. Caffe's
/// constructor_sanity_check: momentum must be 0 ("Momentum cannot be used with RMSProp."),
/// 0 ≤ rms_decay < 1 ("rms_decay should lie between 0 and 1."). History: one blob per param
/// (the running mean of g²); one scratch blob (update_). Parameters with lr_mult 0 update h as
/// in Caffe and do not move.
public final class RMSPropSolver: SolverBase, @unchecked Sendable {
    override public class var typeName: String { "RMSProp" }
    override class var scratchPerParam: Int { 1 }
    override class var updatesFrozenParams: Bool { true }

    override class func check(_ param: SolverParameter, source: String) throws {
        guard param.momentum == 0 else {
            throw InputError("\(source): Momentum cannot be used with RMSProp (momentum \(param.momentum); BVLC/caffe src/caffe/solvers/rmsprop_solver.cpp)")
        }
        guard param.rmsDecay >= 0, param.rmsDecay < 1 else {
            throw InputError("\(source): rms_decay should lie between 0 and 1 (got \(param.rmsDecay); BVLC/caffe src/caffe/solvers/rmsprop_solver.cpp)")
        }
    }

    override func computeUpdateValue(_ i: Int, rate: Float, localRate: Float) {
        let p = params[i]
        let count = p.blob.count
        let delta = param.delta, decay = param.rmsDecay
        let g = p.blob.diff, h = historyBlob(0, i).data, u = scratch[0][i].data
        SolverMath.elementwise(count) { r in
            for j in r { u[j] = SolverMath.powx(g[j], 2) }
        }
        SolverMath.axpby(count, Float(1) - decay, u, decay, h)
        SolverMath.elementwise(count) { r in
            for j in r { u[j] = g[j] / (SolverMath.powx(h[j], 0.5) + delta) }
        }
        SolverMath.axpby(count, localRate, u, 0, g)
    }
}
