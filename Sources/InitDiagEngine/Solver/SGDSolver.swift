import InitDiagCore
import InitDiagTrace
import CBLAS

/// Caffe's SGD solver (BVLC/caffe src/caffe/solvers/sgd_solver.cpp, SGDSolver::ComputeUpdateValue),
/// CPU path, on the shared `SolverBase` (rate policy, clipping, iter_size, weight decay, update).
///
/// * `.caffe` (Caffe): h ← μ·h + local_rate·g (caffe_cpu_axpby(local_rate, diff, momentum,
///   history)); diff ← h; w ← w − diff. The rate lives inside the history.
/// * `.torch` (PyTorch torch/optim/sgd.py, dampening 0): b ← μ·b + g (the first step's b = 0
///   gives b = g, PyTorch's clone); step = local_rate·b.
///
/// Parameters: base_lr, lr_policy (…), momentum (default 0), weight_decay (0),
/// regularization_type ("L2"), clip_gradients (−1: off), iter_size (1). History: one blob per
/// param (Caffe's momentum history, or PyTorch's momentum buffer).
public final class SGDSolver: SolverBase, @unchecked Sendable {
    override public class var typeName: String { "SGD" }
    override class var supportsTorchStyle: Bool { true }

    override func computeUpdateValue(_ i: Int, rate: Float, localRate: Float) {
        let p = params[i]
        let n = blasint(p.blob.count), count = p.blob.count
        let momentum = param.momentum
        let g = p.blob.diff, h = historyBlob(0, i).data
        switch momentumStyle {
        case .caffe:
            SolverMath.axpby(count, localRate, g, momentum, h)
            g.update(from: h, count: count)
        case .torch:
            sscalParallel(Int(n), momentum, h)
            saxpyParallel(Int(n), 1, g, h)
            for j in 0..<count { g[j] = localRate * h[j] }
        }
    }
}
