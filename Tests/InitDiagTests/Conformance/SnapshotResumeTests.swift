import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Snapshot → resume: a run interrupted at a snapshot and resumed from its `.solverstate.h5`
/// must follow the uninterrupted run's trajectory bit for bit — the training losses, the test
/// losses and the final weights. The tiny nets read the synthetic source (so the data cursor
/// matters) — through an Input layer (raw 0–255 pixels, scaled by a fixed Scale layer), or through
/// Data layers with mirror and random crop — and have a TRAIN-phase Dropout (so the run's
/// generator matters); the lr steps at iteration 3 and the solver tests every 2 iterations.
@Suite struct SnapshotResumeTests {
    static let net = """
    name: "ResumeTiny"
    layer { name: "data" type: "Input" top: "data" top: "label"
      input_param { shape { dim: 4 dim: 3 dim: 32 dim: 32 } shape { dim: 4 } } }
    layer { name: "scaled" type: "Scale" bottom: "data" top: "scaled" param { lr_mult: 0 }
      scale_param { bias_term: false filler { type: "constant" value: 0.00390625 } } }
    layer { name: "conv1" type: "Convolution" bottom: "scaled" top: "conv1"
      convolution_param { num_output: 4 kernel_size: 5 stride: 3
        weight_filler { type: "gaussian" std: 0.1 } bias_filler { type: "constant" value: 0.1 } } }
    layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
    layer { name: "drop1" type: "Dropout" bottom: "conv1" top: "conv1" dropout_param { dropout_ratio: 0.3 } }
    layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
      param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
      inner_product_param { num_output: 10
        weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0 } } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
    """

    static let solver = """
    net: "net.prototxt"
    base_lr: 0.002
    lr_policy: "step"
    gamma: 0.5
    stepsize: 3
    momentum: 0.9
    weight_decay: 0.001
    max_iter: 7
    snapshot: 3
    snapshot_prefix: "tiny"
    test_iter: 1
    test_interval: 2
    display: 0
    random_seed: 5
    """

    /// The same run through Data layers (TRAIN and TEST) whose transformers draw from their own
    /// generators (mirror, random crop in TRAIN): the resume must replay those draws too.
    static let dataLayerNet = """
    name: "ResumeTinyData"
    layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
      transform_param { scale: 0.00390625 mirror: true crop_size: 28 }
      data_param { batch_size: 3 } }
    layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
      transform_param { scale: 0.00390625 crop_size: 28 }
      data_param { batch_size: 5 } }
    layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
      convolution_param { num_output: 4 kernel_size: 4 stride: 3
        weight_filler { type: "gaussian" std: 0.1 } bias_filler { type: "constant" value: 0.1 } } }
    layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
    layer { name: "drop1" type: "Dropout" bottom: "conv1" top: "conv1" dropout_param { dropout_ratio: 0.3 } }
    layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
      inner_product_param { num_output: 10
        weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0 } } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
    """

    private func setUp(_ dir: String, net: String = SnapshotResumeTests.net, solver: String = SnapshotResumeTests.solver) throws -> RunSetup {
        try net.write(toFile: dir + "/net.prototxt", atomically: true, encoding: .utf8)
        try solver.write(toFile: dir + "/solver.prototxt", atomically: true, encoding: .utf8)
        return try RunSetup.load(solverPath: dir + "/solver.prototxt", netPath: nil, data: "synthetic:3",
                                 scheme: Scheme(), seed: nil, batchSize: nil)
    }

    private func weights(_ path: String) throws -> [String: [CaffeSnapshotBlob]] {
        try CaffeSnapshot.readWeights(from: path).data
    }

    @Test(arguments: ["input", "data-layers"])
    func resumedRunIsBitIdentical(_ variant: String) throws {
        let dir = try ConformanceSupport.makeTempDir("resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let setup = try setUp(dir, net: variant == "input" ? Self.net : Self.dataLayerNet)

        var straight = TrainingOptions()
        straight.snapshotDirectory = dir + "/straight"
        let full = try Trainer(setup: setup, options: straight).run()
        #expect(full.iterations == 7)
        #expect(full.record.iterations == Array(0..<7))
        // Snapshots at 3 and 6 (the interval), and at the end (7).
        for i in [3, 6, 7] {
            #expect(FileManager.default.fileExists(atPath: dir + "/straight/tiny_iter_\(i).solverstate.h5"))
        }
        // The solver state keeps Caffe's layout (iter, learned_net, current_step, history).
        let state = try CaffeSnapshot.readSolverState(from: dir + "/straight/tiny_iter_3.solverstate.h5")
        #expect(state.iter == 3 && state.history.count == (variant == "input" ? 5 : 4))
        // initdiag's resume counters: the generator's draws (TRAIN Dropout, 3 forwards) and the
        // records each feeder handed out (3 training batches, the tests at 0 and 2).
        let train = try Trainer(setup: setup, options: TrainingOptions())
        let dropoutCount = Int64(try #require(train.trainNet.blob(named: "conv1")).count)
        #expect(state.resumeCounters["generator_draws"] == 3 * dropoutCount)
        // … and the generator itself (624 words and the position), restored without replaying.
        #expect(state.generatorState != nil && state.generatorState?.count == 625)
        if variant == "input" {
            #expect(state.resumeCounters["train_input_records"] == Int64(3 * 4))
            #expect(state.resumeCounters["test_input_records"] == Int64(2 * 4))
        } else {
            #expect(state.resumeCounters["train_layer0_records"] == Int64(3 * 3))
            #expect(state.resumeCounters["test_layer0_records"] == Int64(2 * 5))
        }

        var resumed = TrainingOptions()
        resumed.snapshotDirectory = dir + "/resumed"
        resumed.resumeFrom = dir + "/straight/tiny_iter_3.solverstate.h5"
        let rest = try Trainer(setup: setup, options: resumed).run()
        #expect(rest.record.iterations == Array(3..<7))

        // Training losses of iterations 3…6: identical Float values.
        let a = full.record.loss.suffix(4).map { Float($0) }, b = rest.record.loss.map { Float($0) }
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "straight \(a) vs resumed \(b)")
        #expect(Array(full.record.lr.suffix(4)) == rest.record.lr)
        // Test phases after the resume point (iterations 4 and 6) see the same test batches.
        let fullTests = Dictionary(uniqueKeysWithValues: zip(full.record.testIterations, full.record.testLoss))
        #expect(full.record.testIterations == [0, 2, 4, 6])
        #expect(rest.record.testIterations == [4, 6])
        for (i, loss) in zip(rest.record.testIterations, rest.record.testLoss) {
            #expect(fullTests[i]?.bitPattern == loss.bitPattern, "test loss at \(i)")
        }
        // The final weights and momentum history agree bit for bit.
        let w1 = try weights(dir + "/straight/tiny_iter_7.caffemodel.h5"), w2 = try weights(dir + "/resumed/tiny_iter_7.caffemodel.h5")
        let sameWeights = w1 == w2
        #expect(sameWeights, "the final weights differ")
        let h1 = try CaffeSnapshot.readSolverState(from: dir + "/straight/tiny_iter_7.solverstate.h5")
        let h2 = try CaffeSnapshot.readSolverState(from: dir + "/resumed/tiny_iter_7.solverstate.h5")
        let sameHistory = h1.history == h2.history
        #expect(sameHistory, "the final momentum history differs")
        #expect(h1.iter == 7 && h2.iter == 7)
    }

    /// A solver state written without initdiag's extra datasets (as Caffe writes it) still
    /// resumes: weights, history and iteration are restored; the data and the generator start
    /// over, which is Caffe's own behaviour.
    @Test func caffeSolverStateWithoutExtrasResumes() throws {
        let dir = try ConformanceSupport.makeTempDir("resume-caffe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let setup = try setUp(dir)
        var straight = TrainingOptions()
        straight.snapshotDirectory = dir + "/straight"
        straight.iterations = 3
        _ = try Trainer(setup: setup, options: straight).run()
        var state = try CaffeSnapshot.readSolverState(from: dir + "/straight/tiny_iter_3.solverstate.h5")
        #expect(!state.resumeCounters.isEmpty)
        state.resumeCounters = [:]
        state.generatorState = nil
        try CaffeSnapshot.writeSolverState(state, to: dir + "/caffe.solverstate.h5")
        var resumed = TrainingOptions()
        resumed.resumeFrom = dir + "/caffe.solverstate.h5"
        resumed.iterations = 4
        let trainer = try Trainer(setup: setup, options: resumed)
        #expect(trainer.solver.iter == 3)
        let rest = try trainer.run()
        #expect(rest.record.iterations == [3])
    }

    /// A state from before the generator itself was saved (draw count only) resumes on the same
    /// trajectory by replaying the draws; a damaged generator state is refused with its name.
    @Test func drawCountOnlyStateReplaysAndABadGeneratorStateIsRefused() throws {
        let dir = try ConformanceSupport.makeTempDir("resume-draws")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let setup = try setUp(dir)
        var straight = TrainingOptions()
        straight.snapshotDirectory = dir + "/straight"
        straight.iterations = 5
        let full = try Trainer(setup: setup, options: straight).run()
        var state = try CaffeSnapshot.readSolverState(from: dir + "/straight/tiny_iter_3.solverstate.h5")
        state.generatorState = nil
        try CaffeSnapshot.writeSolverState(state, to: dir + "/old.solverstate.h5")
        var resumed = TrainingOptions()
        resumed.resumeFrom = dir + "/old.solverstate.h5"
        resumed.iterations = 5
        let rest = try Trainer(setup: setup, options: resumed).run()
        #expect(full.record.loss.suffix(2).map { Float($0).bitPattern } == rest.record.loss.map { Float($0).bitPattern })

        var bad = try CaffeSnapshot.readSolverState(from: dir + "/straight/tiny_iter_3.solverstate.h5")
        bad.generatorState = Array(repeating: 1, count: 625)   // position 1 is fine …
        bad.generatorState![624] = 700                         // … 700 is not
        try CaffeSnapshot.writeSolverState(bad, to: dir + "/bad.solverstate.h5")
        #expect(throws: InputError.self) { try CaffeSnapshot.readSolverState(from: dir + "/bad.solverstate.h5") }
    }

    /// The solver of each type (the SGD run above plus momentum-free SGD's siblings): snapshot at
    /// 3, resume, and the losses, final weights and every history blob (2N for AdaDelta and Adam,
    /// in Caffe's order) agree bit for bit with the uninterrupted run.
    @Test(arguments: SolverRegistry.typeNames.filter { $0 != "SGD" })
    func everySolverResumesBitIdentically(_ type: String) throws {
        let dir = try ConformanceSupport.makeTempDir("resume-\(type)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var solver = Self.solver + "\ntype: \"\(type)\"\n"
        // Solvers that refuse momentum (AdaGrad, RMSProp) run with momentum 0.
        var check = SolverParameter()
        check.type = type; check.lrPolicy = "fixed"; check.momentum = 0.9
        if (try? makeSolver(param: check, params: [])) == nil { solver = solver.replacingOccurrences(of: "momentum: 0.9", with: "momentum: 0") }
        if type == "RMSProp" { solver += "rms_decay: 0.95\n" }
        if type == "Adam" { solver += "momentum2: 0.99\ndelta: 1e-6\n" }
        let setup = try setUp(dir, solver: solver)
        var straight = TrainingOptions()
        straight.snapshotDirectory = dir + "/straight"
        let full = try Trainer(setup: setup, options: straight).run()
        #expect(full.iterations == 7)
        let params = 5
        let sets = try #require(SolverRegistry.types.first { $0.typeName == type }).historyNames.count
        let state = try CaffeSnapshot.readSolverState(from: dir + "/straight/tiny_iter_3.solverstate.h5")
        #expect(state.history.count == sets * params)
        // The second set is not a copy of the first (it holds v, or the squared updates).
        if sets == 2 { #expect(state.history[params + 2].values != state.history[2].values) }

        var resumed = TrainingOptions()
        resumed.snapshotDirectory = dir + "/resumed"
        resumed.resumeFrom = dir + "/straight/tiny_iter_3.solverstate.h5"
        let trainer = try Trainer(setup: setup, options: resumed)
        #expect(trainer.solver.typeName == type && trainer.solver.iter == 3)
        let rest = try trainer.run()
        let a = full.record.loss.suffix(4).map { Float($0).bitPattern }, b = rest.record.loss.map { Float($0).bitPattern }
        #expect(a == b, "\(type): losses after the resume differ")
        let sameWeights = try weights(dir + "/straight/tiny_iter_7.caffemodel.h5") == weights(dir + "/resumed/tiny_iter_7.caffemodel.h5")
        #expect(sameWeights, "\(type): the final weights differ")
        let h1 = try CaffeSnapshot.readSolverState(from: dir + "/straight/tiny_iter_7.solverstate.h5")
        let h2 = try CaffeSnapshot.readSolverState(from: dir + "/resumed/tiny_iter_7.solverstate.h5")
        #expect(h1.history.count == sets * params && h1.history == h2.history, "\(type): the final history differs")
        // The weights moved (the run trained), so the equality above is not vacuous.
        let first = try weights(dir + "/straight/tiny_iter_3.caffemodel.h5")
        #expect(try weights(dir + "/straight/tiny_iter_7.caffemodel.h5")["fc"] != first["fc"])

        // The same state as Caffe's BINARYPROTO .solverstate: every history blob round-trips, and
        // resuming from it is bit-identical to resuming from the HDF5 state without initdiag's
        // extras (both start the data over, as Caffe does).
        var plain = state
        plain.resumeCounters = [:]
        plain.generatorState = nil
        try CaffeSnapshot.writeSolverState(plain, to: dir + "/plain.solverstate.h5")
        try CaffeSnapshot.writeBinarySolverState(plain, to: dir + "/binary.solverstate")
        let binary = try CaffeSnapshot.readAnySolverState(from: dir + "/binary.solverstate")
        #expect(binary == plain)
        func finalState(_ from: String, _ out: String) throws -> CaffeSolverState {
            var options = TrainingOptions()
            options.resumeFrom = from
            options.snapshotDirectory = out
            _ = try Trainer(setup: setup, options: options).run()
            return try CaffeSnapshot.readSolverState(from: out + "/tiny_iter_7.solverstate.h5")
        }
        let fromBinary = try finalState(dir + "/binary.solverstate", dir + "/from-binary")
        let fromPlain = try finalState(dir + "/plain.solverstate.h5", dir + "/from-plain")
        #expect(fromBinary.history.count == sets * params && fromBinary.history == fromPlain.history)
        let sameBinaryWeights = try weights(dir + "/from-binary/tiny_iter_7.caffemodel.h5") == weights(dir + "/from-plain/tiny_iter_7.caffemodel.h5")
        #expect(sameBinaryWeights)
        // A truncated binary state is one InputError naming the file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/binary.solverstate"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/cut.solverstate"))
        do {
            _ = try CaffeSnapshot.readAnySolverState(from: dir + "/cut.solverstate")
            Issue.record("a truncated solverstate was read")
        } catch let e as InputError {
            #expect(e.message.contains("cut.solverstate"))
        }

        // A state of another solver's history length is refused naming the count.
        let other = try setUp(dir, solver: Self.solver)
        if sets == 2 {
            var wrong = TrainingOptions()
            wrong.resumeFrom = dir + "/straight/tiny_iter_3.solverstate.h5"
            #expect(throws: InputError.self) { _ = try Trainer(setup: other, options: wrong) }
        }
    }
}
