import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Three iterations of Nesterov, AdaGrad, RMSProp (with clipping and the inv policy), AdaDelta
/// and Adam on the tiny solver-reference net against Fixtures/reference/solver_adaptive/expected.h5:
/// Caffe's formulas restated in float64 numpy (scripts/reference/make_adaptive_solver_reference.py,
/// gradients from torch float64 autograd). README there.
///
/// Tolerances: every per-iteration slice of the weights, of each history set and of the
/// regularised gradient within 1e-5 of its largest magnitude; the step each update applied
/// (w_before − w_after of the reference, the diff after the update here) within 1e-4 of its
/// largest magnitude; loss 1e-6 and lr 1e-6 relative.
@Suite struct AdaptiveSolverReferenceTests {
    static let paramNames = ["ip1/0", "ip1/1", "ip2/0", "ip2/1"]
    static let sets = ["Nesterov": ["history"], "AdaGrad": ["history"], "RMSProp": ["history"],
                       "AdaDelta": ["history", "update_history"], "Adam": ["m", "v"]]

    private func row(_ file: HDF5File, _ path: String, _ i: Int) throws -> [Double] {
        let (shape, values) = try ConformanceSupport.doubles(file, path)
        let n = shape.dropFirst().reduce(1, *)
        return Array(values[(i * n)..<((i + 1) * n)])
    }

    @Test(arguments: ["Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"])
    func threeIterationsMatchCaffesFormula(_ type: String) throws {
        let dir = ConformanceSupport.reference("solver_adaptive")
        let solverPath = dir + "/\(type.lowercased()).prototxt"
        let (solverParam, _) = try Prototxt.loadSolver(path: solverPath)
        let netParam = try RunSetup.solverNet(solverParam, solverPath: solverPath)
        let net = try ConformanceSupport.buildNet(netParam, phase: .TRAIN, seed: UInt32(solverParam.randomSeed))
        try Trainer.loadWeights(dir + "/weights.caffemodel.h5", into: net)
        #expect(net.params.map(\.displayName) == Self.paramNames)
        let solver = try makeSolver(param: solverParam,
                                    params: net.params.map { LearnableParam(blob: $0.blob, lrMult: $0.lrMult, decayMult: $0.decayMult, name: $0.displayName) })
        #expect(solver.typeName == type)
        let dataFile = try HDF5File.open(path: dir + "/data.h5")
        let data = try ConformanceSupport.floats(dataFile, "data").values
        let label = try ConformanceSupport.floats(dataFile, "label").values
        let expected = try HDF5File.open(path: dir + "/expected.h5")
        var grads = [[Float]](repeating: [], count: net.params.count)
        solver.gradientObserver = { k, blob in grads[k] = blob.diffArray }
        let sets = try #require(Self.sets[type])
        #expect(solver.history.count == sets.count * Self.paramNames.count)
        let losses = try ConformanceSupport.doubles(expected, "\(type)/loss").values
        let rates = try ConformanceSupport.doubles(expected, "\(type)/lr").values
        var report = ConformanceReport()
        var previous = net.params.map { $0.blob.dataArray.map(Double.init) }
        for i in 0..<Int(solverParam.maxIter) {
            try #require(net.blob(named: "data")).setData(data)
            try #require(net.blob(named: "label")).setData(label)
            net.clearParamDiffs()
            let loss = try net.forward()
            net.backward()
            solver.applyUpdate()
            #expect(abs(Double(loss) - losses[i]) <= 1e-6 * abs(losses[i]), "\(type) iteration \(i): loss \(loss) vs \(losses[i])")
            #expect(abs(Double(solver.lastRate) - rates[i]) <= 1e-6 * abs(rates[i]), "\(type) iteration \(i): lr")
            for (k, p) in Self.paramNames.enumerated() {
                let w = try row(expected, "\(type)/weights/\(p)", i)
                report.check("\(type)/weights/\(p)[\(i)]", net.params[k].blob.dataArray, w, tolerance: 1e-5)
                report.check("\(type)/grad/\(p)[\(i)]", grads[k], try row(expected, "\(type)/grad/\(p)", i), tolerance: 1e-5)
                for (s, set) in sets.enumerated() {
                    report.check("\(type)/history/\(set)/\(p)[\(i)]", solver.history[s * Self.paramNames.count + k].dataArray,
                                 try row(expected, "\(type)/history/\(set)/\(p)", i), tolerance: 1e-5)
                }
                let step = zip(previous[k], w).map { $0 - $1 }
                report.check("\(type)/step/\(p)[\(i)]", net.params[k].blob.diffArray, step, tolerance: 1e-4)
                previous[k] = w
            }
        }
        print(report.summary("solver \(type)"))
    }
}
