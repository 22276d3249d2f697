import InitDiagCore
import InitDiagTrace
import CBLAS

/// Caffe's AdaGrad solver (BVLC/caffe src/caffe/solvers/adagrad_solver.cpp,
/// include/caffe/sgd_solvers.hpp), CPU path, per element with g the regularised gradient:
///
///     h += g²                            (caffe_powx(g, 2) into update_; caffe_add)
///     step = local_rate · g / (√h + δ)   (caffe_powx(h, 0.5); caffe_add_scalar(δ); caffe_div;
///                                         caffe_cpu_axpby(local_rate, update, 0, diff))
///     w −= step
///
/// Parameters: base_lr and lr_policy as every solver, delta δ (caffe.proto default 1e-8),
/// weight_decay/regularization_type, clip_gradients, iter_size. momentum must be 0 (Caffe's
/// constructor_sanity_check: "Momentum cannot be used with AdaGrad."). History: one blob per
/// param (h, the sum of squared gradients); one scratch blob (update_). Parameters with lr_mult 0
/// accumulate h as in Caffe and do not move.
public final class AdaGradSolver: SolverBase, @unchecked Sendable {
    override public class var typeName: String { "AdaGrad" }
    override class var scratchPerParam: Int { 1 }
    override class var updatesFrozenParams: Bool { true }

    override class func check(_ param: SolverParameter, source: String) throws {
        guard param.momentum == 0 else {
            throw InputError("\(source): Momentum cannot be used with AdaGrad (momentum \(param.momentum); BVLC/caffe src/caffe/solvers/adagrad_solver.cpp)")
        }
    }

    override func computeUpdateValue(_ i: Int, rate: Float, localRate: Float) {
        let p = params[i]
        let count = p.blob.count
        let delta = param.delta
        let g = p.blob.diff, h = historyBlob(0, i).data, u = scratch[0][i].data
        SolverMath.elementwise(count) { r in
            for j in r {
                let x = g[j]
                h[j] = SolverMath.powx(x, 2) + h[j]
                u[j] = x / (SolverMath.powx(h[j], 0.5) + delta)
            }
        }
        SolverMath.axpby(count, localRate, u, 0, g)
    }
}
