import InitDiagCore
import InitDiagTrace
import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's Adam solver (BVLC/caffe src/caffe/solvers/adam_solver.cpp), CPU path, per element with
/// g the regularised gradient, β1 = momentum, β2 = momentum2, ε = delta, t = iter + 1:
///
///     m = β1·m + (1 − β1)·g                     (caffe_cpu_axpby(1 − β1, diff, β1, m))
///     v = β2·v + (1 − β2)·g²                    (caffe_mul(diff, diff, t); caffe_cpu_axpby(1 − β2, t, β2, v))
///     correction = √(1 − β2^t) / (1 − β1^t)     (pow(float, int) in double, rounded to float once)
///     step = (local_rate·correction) · m/(√v + ε)
///                                               (caffe_powx(v, 0.5); caffe_add_scalar(ε); caffe_div(m, ·);
///                                                caffe_cpu_scale(local_rate·correction))
///     w −= step
///
/// This is Caffe's form, not PyTorch's: ε is added to √v itself (PyTorch adds it to √v̂ =
/// √v/√(1 − β2^t)), and the bias correction multiplies the rate.
///
/// Parameters: base_lr and lr_policy, momentum β1 (caffe.proto default 0; BVLC's example 0.9),
/// momentum2 β2 (0.999), delta ε (1e-8), weight_decay/regularization_type, clip_gradients,
/// iter_size; Caffe checks nothing more. History: 2N blobs, all m then all v (AdamPreSolve appends
/// the v set after SGDSolver's), as they are written to a solverstate; one scratch blob (temp_)
/// per param. Parameters with lr_mult 0 update m and v as in Caffe and do not move.
public final class AdamSolver: SolverBase, @unchecked Sendable {
    override public class var typeName: String { "Adam" }
    override class var historyNames: [String] { ["m", "v"] }
    override class var scratchPerParam: Int { 1 }
    override class var updatesFrozenParams: Bool { true }

    /// Caffe's `correction` at update `t` (1-based), a float.
    static func correction(beta1: Float, beta2: Float, t: Int) -> Float {
        Float((Double(1) - pow(Double(beta2), Double(t))).squareRoot() / (Double(1) - pow(Double(beta1), Double(t))))
    }

    override func computeUpdateValue(_ i: Int, rate: Float, localRate: Float) {
        let p = params[i]
        let count = p.blob.count
        let beta1 = param.momentum, beta2 = param.momentum2, eps = param.delta
        let correction = Self.correction(beta1: beta1, beta2: beta2, t: iter + 1)
        let g = p.blob.diff, m = historyBlob(0, i).data, v = historyBlob(1, i).data, t = scratch[0][i].data
        SolverMath.axpby(count, Float(1) - beta1, g, beta1, m)
        SolverMath.elementwise(count) { r in
            for j in r { t[j] = g[j] * g[j] }
        }
        SolverMath.axpby(count, Float(1) - beta2, t, beta2, v)
        SolverMath.elementwise(count) { r in
            for j in r { g[j] = m[j] / (SolverMath.powx(v[j], 0.5) + eps) }
        }
        SolverMath.scale(count, localRate * correction, g)
    }
}
