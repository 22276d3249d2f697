import InitDiagTrace
import InitDiagCore
import Foundation

/// Caffe's BINARYPROTO solver states (BVLC/caffe src/caffe/solvers/sgd_solver.cpp,
/// SnapshotSolverStateToBinaryProto / RestoreSolverStateFromBinaryProto): a `SolverState` message
/// with iter, learned_net, every history blob (`history_`, in order: for AdaDelta and Adam the
/// 2N blobs of both sets, as in the HDF5 state) as a BlobProto with its N-D shape, and
/// current_step. initdiag's resume counters have no place in it: a binary state resumes as Caffe
/// does (data and random draws start over).
extension CaffeSnapshot {
    /// Reads a solver state in either format. Caffe's Solver::Restore decides by the name
    /// (".h5" → HDF5, otherwise binary); a file that starts with HDF5's signature is read as HDF5
    /// whatever its name.
    public static func readAnySolverState(from path: String) throws -> CaffeSolverState {
        if path.hasSuffix(".h5") || isHDF5(path: path) { return try readSolverState(from: path) }
        return try readBinarySolverState(from: path)
    }

    /// Writes a BINARYPROTO `.solverstate` (resume counters and generator state are not written).
    public static func writeBinarySolverState(_ state: CaffeSolverState, to path: String) throws {
        guard let iter = Int32(exactly: state.iter), let step = Int32(exactly: state.currentStep) else {
            throw InputError("\(path): iteration \(state.iter) / step \(state.currentStep) does not fit Caffe's int")
        }
        var message = SolverState()
        message.iter = iter
        message.learnedNet = state.learnedNet
        message.currentStep = step
        message.history = state.history.map { blob in
            var proto = BlobProto()
            proto.shape = BlobShape(dim: blob.shape.map(Int64.init))
            proto.data = blob.values
            return proto
        }
        do {
            try Data(message.encode()).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw InputError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// Reads a BINARYPROTO `.solverstate`; InputError naming the file when it is missing, truncated
    /// or a history blob's size does not match its shape.
    public static func readBinarySolverState(from path: String) throws -> CaffeSolverState {
        let message = try SolverState.decode(try Prototxt.readFile(path, what: "solver state"), path: path)
        var history: [CaffeSnapshotBlob] = []
        for (i, proto) in message.history.enumerated() {
            let shape = proto.resolvedShape
            let values = proto.values
            guard shape.reduce(1, *) == values.count else {
                throw InputError("\(path): history blob \(i) has \(values.count) values for shape \(shape)")
            }
            history.append(CaffeSnapshotBlob(shape: shape, values: values))
        }
        return CaffeSolverState(iter: Int(message.iter), learnedNet: message.learnedNet ?? "",
                                currentStep: Int(message.currentStep), history: history)
    }
}
