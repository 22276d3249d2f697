import InitDiagCore
import InitDiagTrace
/// Caffe's smoothed loss for display (BVLC/caffe src/caffe/solver.cpp, Solver::UpdateSmoothedLoss): the float
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
