import InitDiagCore
import InitDiagTrace
import CBLAS

/// Caffe's Nesterov solver (BVLC/caffe src/caffe/solvers/nesterov_solver.cpp), CPU path:
///
///     saved = h                          (caffe_copy into update_)
///     h     = μ·h + local_rate·g         (caffe_cpu_axpby)
///     g     = (1 + μ)·h − μ·saved        (caffe_cpu_axpby(1 + μ, h, −μ, saved); copy into diff)
///     w    −= g
///
/// With `.torch` (PyTorch torch/optim/sgd.py, nesterov=True): b = μ·b + g; g = g + μ·b;
/// step = local_rate·g. Both agree while the rate is constant.
///
/// Parameters as SGD (momentum default 0). History: one blob per param; one scratch blob
/// (Caffe's update_) per param.
public final class NesterovSolver: SolverBase, @unchecked Sendable {
    override public class var typeName: String { "Nesterov" }
    override class var supportsTorchStyle: Bool { true }
    override class var scratchPerParam: Int { 1 }

    override func computeUpdateValue(_ i: Int, rate: Float, localRate: Float) {
        let p = params[i]
        let n = blasint(p.blob.count), count = p.blob.count
        let momentum = param.momentum
        let g = p.blob.diff, h = historyBlob(0, i).data
        switch momentumStyle {
        case .caffe:
            let saved = scratch[0][i].data
            saved.update(from: h, count: count)
            SolverMath.axpby(count, localRate, g, momentum, h)
            SolverMath.axpby(count, Float(1) + momentum, h, -momentum, saved)
            g.update(from: saved, count: count)
        case .torch:
            sscalParallel(Int(n), momentum, h)
            saxpyParallel(Int(n), 1, g, h)
            saxpyParallel(Int(n), momentum, h, g)
            sscalParallel(Int(n), localRate, g)
        }
    }
}
