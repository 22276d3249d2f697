import InitDiagCore
import InitDiagTrace
import CBLAS

/// Caffe's AdaDelta solver (BVLC/caffe src/caffe/solvers/adadelta_solver.cpp), CPU path, per
/// element with g the regularised gradient, h the history of squared gradients and h2 the
/// history of squared updates:
///
///     h  = μ·h + (1 − μ)·g²                    (caffe_powx(g, 2); caffe_cpu_axpby(1 − μ, update, μ, h))
///     u  = g · √((h2 + δ) / (h + δ))           (caffe_set(δ, temp); caffe_add(temp, h2, update);
///                                               caffe_add(temp, h, temp); caffe_div; caffe_powx(·, 0.5);
///                                               caffe_mul(diff, update, diff))
///     h2 = μ·h2 + (1 − μ)·u²                   (caffe_powx(diff, 2); caffe_cpu_axpby)
///     step = local_rate · u                    (caffe_cpu_scale; Caffe multiplies the rate at the end)
///     w −= step
///
/// Parameters: base_lr (BVLC's example uses 1.0) and lr_policy, momentum μ (the decay; caffe.proto
/// default 0), delta δ (1e-8), weight_decay/regularization_type, clip_gradients, iter_size; Caffe
/// checks nothing more. History: 2N blobs, all h then all h2 (AdaDeltaPreSolve appends the
/// second set after SGDSolver's), as they are written to a solverstate; one scratch blob (update_)
/// per param. Parameters with lr_mult 0 update both histories as in Caffe and do not move.
public final class AdaDeltaSolver: SolverBase, @unchecked Sendable {
    override public class var typeName: String { "AdaDelta" }
    override class var historyNames: [String] { ["history", "update_history"] }
    override class var scratchPerParam: Int { 1 }
    override class var updatesFrozenParams: Bool { true }

    override func computeUpdateValue(_ i: Int, rate: Float, localRate: Float) {
        let p = params[i]
        let count = p.blob.count
        let delta = param.delta, momentum = param.momentum
        let g = p.blob.diff, h = historyBlob(0, i).data, h2 = historyBlob(1, i).data, u = scratch[0][i].data
        SolverMath.elementwise(count) { r in
            for j in r { u[j] = SolverMath.powx(g[j], 2) }
        }
        SolverMath.axpby(count, Float(1) - momentum, u, momentum, h)
        SolverMath.elementwise(count) { r in
            for j in r {
                let ratio = (delta + h2[j]) / (delta + h[j])
                let x = g[j] * SolverMath.powx(ratio, 0.5)
                g[j] = x
                u[j] = SolverMath.powx(x, 2)
            }
        }
        SolverMath.axpby(count, Float(1) - momentum, u, momentum, h2)
        SolverMath.scale(count, localRate, g)
    }
}
