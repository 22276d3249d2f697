import InitDiagCore
import InitDiagTrace
import InitDiagEngine
import InitDiagDiagnosis
import CBLAS
import Foundation
import Synchronization

/// Set by SIGINT/SIGTERM (see `InterruptSignal.install`); runs stop at the next iteration
/// boundary, leaving their trace `interrupted` and everything finished intact.
public enum InterruptSignal {
    static let flag = Atomic<Bool>(false)
    public static var isSet: Bool { flag.load(ordering: .relaxed) }
    public static func set() { flag.store(true, ordering: .relaxed) }
    public static func reset() { flag.store(false, ordering: .relaxed) }
}

/// How a training run is driven (the flags of `train`, `sweep` and `probe`).
public struct TrainingOptions: Sendable {
    /// Overrides the solver's max_iter.
    public var iterations: Int?
    /// Record statistics every N iterations (the first and last are always recorded).
    public var recordEvery: Int = 1
    /// Count the histograms (docs/trace-format.md "Histograms") at the recorded steps whose
    /// iteration is a multiple of N, at the last, and at the first when the bins are still to be
    /// chosen (a fresh run; a resumed one keeps its trace's bins and cadence); the other
    /// recorded steps get rows of −1 (`TraceHistogramBins.notCounted`) and NaN quantiles.
    public var histogramEvery: Int = TrainingOptions.defaultHistogramEvery
    /// `--histogram-every`'s default. Counting a histogram costs about one scattered increment
    /// per value; on the seed net at batch 128 that is ≈ 4.5% of an iteration on the steps that
    /// count them (Reports/BENCHMARKS.md, "What recording costs"): every 10th step keeps the
    /// probes' whole overhead near 3% while a 300-iteration run still has 31 rows per blob.
    public static let defaultHistogramEvery = 10
    public var tracePath: String?
    public var snapshotDirectory: String?
    /// Resume from a `.solverstate.h5` (with its `.caffemodel.h5` beside it, or --weights).
    public var resumeFrom: String?
    public var weightsPath: String?
    /// Where `w=lsuv` writes the weights it produced (a Caffe HDF5 snapshot that `--weights`,
    /// here or in real Caffe, loads); nil: `lsuv.caffemodel.h5` beside the trace, or nowhere
    /// without a trace.
    public var lsuvSnapshotPath: String?
    /// nil: the setup's (`RunSetup.momentumStyle`: PyTorch's for an ONNX net run without a
    /// solver file, Caffe's otherwise).
    public var momentumStyle: MomentumStyle? = nil
    /// Override test_iter (each test net) and test_interval; nil keeps the solver's.
    public var testIterations: Int?
    public var testInterval: Int?
    /// Stop as soon as `settledVerdict` says the outcome is settled (sweep), checked every
    /// `settleCheckEvery` recorded steps.
    public var stopWhenSettled = false
    public var settleCheckEvery = 10
    public var threads: Int = 1
    /// The command line that started the run: kept in the trace (root attribute `command`) with
    /// the thread count, so a trace says how to make it again.
    public var command: String?
    /// Record in-place ReLUs inside their own pass (see `Probe`); off only to compare.
    public var fuseReLUStatistics = Probe.fusesReLUByDefault
    /// The phase of the instrumented net (`probe --phase test`); training always uses TRAIN.
    public var phase: Phase = .TRAIN
    /// What defines the run, written to the trace as `run_identity` (nil: computed from the
    /// setup and these options, `RunIdentity(setup:options:)`).
    public var identity: RunIdentity?
    public init() {}
}

/// What the run tells its caller while it goes: log lines (Caffe's wording) and progress.
public struct TrainingEvent: Sendable {
    public enum Kind: Sendable { case log(String), progress(iteration: Int, of: Int, loss: Float, lr: Float, itPerSec: Double) }
    public var kind: Kind
}

/// The outcome of a run.
public struct TrainingResult: Sendable {
    public var status: TraceStatus
    public var record: RunRecord
    public var diagnosis: Diagnosis
    public var iterations: Int
    /// Why the run ended early, if it did ("settled: learning", "diverged at …").
    public var stopReason: String?
}

/// A training run with Caffe's solver semantics (Solver::Step), instrumented by a `Probe`: the
/// train net, its test net sharing the weights, the solver (`makeSolver`), the trace.
public final class Trainer {
    public let setup: RunSetup
    public let options: TrainingOptions
    public let rng: RandomSource
    public let trainNet: Net
    public let testNet: Net?
    public let solver: any Solver
    public let probe: Probe
    /// Takes the debug_info lines during the passes (nil unless the solver sets debug_info).
    private var debugObserver: DebugInfoObserver?
    private let initializer: ParameterInitializer
    private let inputFeeder: DataFeeder?
    private let testInputFeeder: DataFeeder?
    private var trace: TraceWriter?
    public private(set) var record: RunRecord
    private let emit: (TrainingEvent) -> Void
    private var smoothed: SmoothedLoss
    /// Draws taken from the run's generator since the nets were built: what the layers declare
    /// per forward (`Layer.generatorDrawsPerForward`; CPU Dropout in phase TRAIN takes one per
    /// element, BVLC/caffe dropout_layer.cpp caffe_rng_bernoulli). Fillers and the data
    /// transformers' seeds draw at build time. Saved with snapshots so a resume replays them.
    private var generatorDraws: Int64 = 0
    /// `w=lsuv`: the per-layer outcome of LSUV and the loss on its batch with the final weights.
    public private(set) var lsuvResult: (layers: [LSUV.LayerResult], loss: Float)?

    public init(setup: RunSetup, options: TrainingOptions, emit: @escaping (TrainingEvent) -> Void = { _ in }) throws {
        self.setup = setup
        self.options = options
        self.emit = emit
        Engine.configureThreads(options.threads)
        let rng = RandomSource(seed: setup.seed)
        self.rng = rng
        let initializer = ParameterInitializer(scheme: setup.scheme)
        self.initializer = initializer
        let phase = options.phase
        var trainState = NetState(phase: phase)
        if phase == .TRAIN, let s = setup.solver.trainState { trainState.level = s.level; trainState.stage = s.stage }
        let train = try Net(setup.net, state: trainState,
                            context: LayerContext(phase: phase, rng: rng, batchSources: setup.batchSources(phase: phase, rng: rng)),
                            initializer: initializer.initialize, givenInitializer: initializer.redrawGiven)
        // Every layer excluded by include/exclude rules (e.g. all `include { phase: TEST }`): the
        // run would "train" nothing and exit 0.
        if train.layers.isEmpty {
            throw InputError("net '\(setup.net.name)' has no layers in phase \(phase) (include/exclude rules leave none)")
        }
        self.trainNet = train
        self.inputFeeder = try setup.inputFeeder(net: train, phase: phase, rng: rng)
        // The test net exists when the solver tests (test_iter given); its fillers draw too, as in
        // Caffe, before its weights are replaced by the train net's.
        let testIters = options.testIterations ?? Int(setup.solver.testIter.first ?? 0)
        if testIters > 0 && phase == .TRAIN {
            var testState = NetState(phase: .TEST)
            if let s = setup.solver.testState.first { testState.level = s.level; testState.stage = s.stage }
            let test = try Net(setup.net, state: testState,
                               context: LayerContext(phase: .TEST, rng: rng, batchSources: setup.batchSources(phase: .TEST, rng: rng)),
                               initializer: initializer.initialize, givenInitializer: initializer.redrawGiven)
            test.shareWeights(from: train)
            self.testNet = test
            self.testInputFeeder = try setup.inputFeeder(net: test, phase: .TEST, rng: rng)
        } else {
            self.testNet = nil
            self.testInputFeeder = nil
        }
        if let w = options.weightsPath { try Trainer.loadWeights(w, into: train) }
        if options.weightsPath == nil, setup.scheme.weights == .lsuv {
            lsuvResult = try Trainer.initializeLSUV(train, setup: setup, phase: phase, state: trainState,
                                                    initializer: initializer, options: options)
        }
        self.solver = try makeSolver(param: setup.solver,
                                     params: train.params.map { LearnableParam(blob: $0.blob, lrMult: $0.lrMult, decayMult: $0.decayMult, name: $0.displayName) },
                                     momentumStyle: options.momentumStyle ?? setup.momentumStyle)
        self.smoothed = try SmoothedLoss(averageLoss: Int(max(1, setup.solver.averageLoss)))
        let layout = Probe.layout(for: train) { li in Trainer.layerAttributes(train, li, initializer) }
        self.probe = Probe(net: train, layout: layout, threads: options.threads, fuseReLU: options.fuseReLUStatistics)
        self.record = RunRecord(attributes: [:], layers: layout.layers.map {
            LayerRecord(name: $0.name, type: $0.type, index: $0.index,
                        attributes: Trainer.textAttributes($0), series: [:])
        })
        train.observer = probe
        if setup.solver.debugInfo {
            let d = DebugInfoObserver(next: probe)
            debugObserver = d
            train.observer = d
        }
        solver.gradientObserver = { [probe] k, _ in probe.recordGradient(param: k) }
        if let samples = testSamplesPerPhase { record.attributes["test_samples"] = String(samples) }
        if let resume = options.resumeFrom { try self.resume(from: resume) }
    }

    // MARK: Attributes

    /// Images per test phase (test_iter × the test net's batch), what a test accuracy's binomial
    /// spread depends on (RULES.md); nil without a test net.
    var testSamplesPerPhase: Int? {
        guard let net = testNet else { return nil }
        let n = options.testIterations ?? Int(setup.solver.testIter.first ?? 0)
        guard n > 0, let li = net.layers.indices.first(where: { type(of: net.layers[$0]).role == .data }),
              let top = net.topVecs[li].first, let b = top.shape.first else { return nil }
        return n * b
    }

    /// The attributes of layer `li`'s trace group, from what the layer declares: `role`,
    /// `mean_field` (`MeanFieldRule.attribute`) and `mean_field_blobs` for every layer; for the
    /// blobs the schemes target (`Layer.schemeTargets`) Caffe's fans of the weight, the weight and
    /// bias filler labels and their variances; for other layers with declared fillers `fillers`,
    /// their labels joined by "; ".
    static func layerAttributes(_ net: Net, _ li: Int, _ initializer: ParameterInitializer) -> TraceLayerLayout.Attributes {
        let layer = net.layers[li]
        let blobs = layer.blobs
        var a = TraceLayerLayout.Attributes()
        a.extra["role"] = .string(type(of: layer).role.rawValue)
        a.extra["mean_field"] = .string(layer.meanField.attribute)
        a.extra["mean_field_blobs"] = .string(layer.meanFieldBlobs.attribute)
        // BatchNorm told to use global statistics that were never accumulated (Caffe
        // batch_norm_layer.cpp: scale factor blobs[2] = 0 → mean and variance taken as 0, so the
        // layer divides by √eps): every untrained deploy net with BatchNorm.
        if let bn = layer as? BatchNormLayer, bn.useGlobalStats, blobs.count == 3, blobs[2].count > 0,
           blobs[2].data[0] == 0 {
            a.extra["bn_statistics_unset"] = .double(1 / Double(bn.eps).squareRoot())
        }
        let fillers = initializer.fillers(for: layer)
        guard !fillers.isEmpty else { return a }
        // Blobs that came with the net (ONNX initializers): the file's values, their variance measured.
        let given = !net.layerParams[li].blobs.isEmpty
        let labels = initializer.labels(for: layer, given: given)
        guard let t = layer.schemeTargets, t.weight < blobs.count, t.weight < fillers.count else {
            a.extra["fillers"] = .string(labels.joined(separator: "; "))
            return a
        }
        func variance(_ k: Int) -> Double? {
            given && !initializer.redraws(layer, blob: k) ? ParameterInitializer.measuredVariance(blobs[k])
                : fillerVariance(fillers[k], shape: blobs[k].shape)
        }
        let w = blobs[t.weight]
        let fans = caffeFans(w.shape)
        a.fanIn = fans.fanIn
        a.fanOut = fans.fanOut
        a.weightFiller = labels[t.weight]
        if let v = variance(t.weight) { a.extra["weight_variance"] = .double(v) }
        if let b = t.bias, b < blobs.count, b < fillers.count {
            a.biasFiller = labels[b]
            if let v = variance(b) { a.extra["bias_variance"] = .double(v) }
        }
        return a
    }

    static func textAttributes(_ l: TraceLayerLayout) -> [String: String] {
        var a: [String: String] = ["bottoms": l.bottoms.joined(separator: ","), "tops": l.tops.joined(separator: ",")]
        if let v = l.fanIn { a["fan_in"] = String(v) }
        if let v = l.fanOut { a["fan_out"] = String(v) }
        if let v = l.weightFiller { a["weight_filler"] = v }
        if let v = l.biasFiller { a["bias_filler"] = v }
        for (k, v) in l.extraAttributes { a[k] = v.description }
        return a
    }

    // MARK: Weights

    /// `w=lsuv`: LSUV (Mishkin & Matas 2016) on a replica of the train net built from the same
    /// seed — the same orthogonal pre-init and the same first batch — so the run itself still
    /// starts from its first batch and its generator state is untouched; the resulting weights are
    /// copied into `train` and written as a Caffe HDF5 snapshot (`lsuvSnapshotPath`). Cost: one
    /// more net in memory while it runs, one forward of the batch plus one forward of a layer per
    /// rescaling (≤ 20 per Convolution / InnerProduct).
    static func initializeLSUV(_ train: Net, setup: RunSetup, phase: Phase, state: NetState,
                               initializer: ParameterInitializer, options: TrainingOptions) throws -> (layers: [LSUV.LayerResult], loss: Float) {
        let rng = RandomSource(seed: setup.seed)
        let replica = try Net(setup.net, state: state,
                              context: LayerContext(phase: phase, rng: rng, batchSources: setup.batchSources(phase: phase, rng: rng)),
                              initializer: initializer.initialize, givenInitializer: initializer.redrawGiven)
        if let f = try setup.inputFeeder(net: replica, phase: phase, rng: rng) {
            let ids = replica.inputBlobIDs
            try f.nextBatch(data: replica.blobs[ids[0]], label: ids.count > 1 ? replica.blobs[ids[1]] : nil)
        }
        let result = try LSUV.apply(to: replica)
        for li in train.layers.indices {
            for (k, blob) in train.layers[li].blobs.enumerated() where k < replica.layers[li].blobs.count {
                blob.setData(replica.layers[li].blobs[k].dataArray)
            }
        }
        let path = options.lsuvSnapshotPath
            ?? options.tracePath.map { (($0 as NSString).deletingLastPathComponent as NSString).appendingPathComponent("lsuv.caffemodel.h5") }
        if let path {
            let owners = Set(train.params.map { ObjectIdentifier($0.blob) })
            var seen = Set<ObjectIdentifier>()
            let layers: [(name: String, blobs: [any CaffeSnapshotWritable])] = train.layerParams.enumerated().map { li, lp in
                (lp.name, train.layers[li].blobs.filter { b in
                    let id = ObjectIdentifier(b)
                    return owners.contains(id) ? seen.insert(id).inserted : true
                })
            }
            try CaffeSnapshot.writeWeights(to: path, netLayers: layers)
        }
        return result
    }

    /// Copies weights by layer name (Caffe's CopyTrainedLayersFrom): names the net does not have
    /// are ignored; blob counts and shapes must match. HDF5 snapshots and binary .caffemodel files
    /// are told apart by their signature.
    public static func loadWeights(_ path: String, into net: Net) throws {
        var byName: [String: [(shape: [Int], values: [Float])]] = [:]
        if CaffeSnapshot.isHDF5(path: path) {
            let w = try CaffeSnapshot.readWeights(from: path)
            for (name, blobs) in w.data { byName[name] = blobs.map { ($0.shape, $0.values) } }
        } else {
            let m = try CaffeModel.load(path: path)
            for l in m.layer where !l.blobs.isEmpty { byName[l.name] = l.blobs.map { ($0.resolvedShape, $0.values) } }
        }
        let file = (path as NSString).lastPathComponent
        for (li, lp) in net.layerParams.enumerated() {
            guard let given = byName[lp.name] else { continue }
            let blobs = net.layers[li].blobs
            guard given.count == blobs.count else {
                throw InputError("\(file): layer '\(lp.name)' has \(given.count) blobs, the net expects \(blobs.count)")
            }
            for (k, g) in given.enumerated() {
                guard Net.shapesMatch(g.shape, blobs[k].shape), g.values.count == blobs[k].count else {
                    throw InputError("\(file): layer '\(lp.name)' blob \(k) has shape \(g.shape), the net expects \(blobs[k].shape)")
                }
                if let bad = g.values.firstIndex(where: { !$0.isFinite }) {
                    throw InputError("\(file): layer '\(lp.name)' blob \(k) holds a non-finite value (\(g.values[bad])) at index \(bad)")
                }
                blobs[k].setData(g.values)
            }
        }
    }

    // MARK: Running

    private var maxIter: Int { options.iterations ?? Int(setup.solver.maxIter) }

    /// Opens the trace (if asked) and runs to max_iter, a settled verdict, a divergence or an
    /// interrupt. The trace ends with its status and diagnosis in every case.
    public func run() throws -> TrainingResult {
        if let path = options.tracePath {
            // `train --resume` onto the trace of the run it continues: the trace is appended to
            // (its steps before the resumed iteration kept, the rest recorded anew).
            let previous = options.resumeFrom != nil && FileManager.default.fileExists(atPath: path)
                ? try previousTrace(path) : nil
            // The old file is moved aside (HDF5 may still hold its inode) until its steps are in
            // the new one.
            let aside = path + ".before-resume"
            if previous != nil {
                try? FileManager.default.removeItem(atPath: aside)
                try FileManager.default.moveItem(atPath: path, toPath: aside)
            }
            trace = try openTrace(path)
            if let previous {
                try carryOver(previous)
                try? FileManager.default.removeItem(atPath: aside)
            }
        }
        let start = Date()
        let startIter = solver.iter
        // Caffe's display line (caffe/src/caffe/solver.cpp, Solver::Step): the rate and the time
        // over the iterations since the previous display line (its iteration_timer_ restarts at
        // each), 0 iter/s on the first line of a run.
        var lastDisplay = (time: start, iter: startIter)
        var status = TraceStatus.finished
        var stopReason: String? = nil
        let testInterval = options.testInterval ?? Int(setup.solver.testInterval)
        let display = Int(setup.solver.display)
        do {
            while solver.iter < maxIter {
                let iter = solver.iter
                if InterruptSignal.isSet { status = .interrupted; stopReason = "interrupted at iteration \(iter)"; break }
                if testNet != nil, testInterval > 0, iter % testInterval == 0, iter > 0 || setup.solver.testInitialization {
                    try test(iteration: iter)
                    if InterruptSignal.isSet { status = .interrupted; stopReason = "interrupted at iteration \(iter) (in its test phase)"; break }
                }
                let recording = iter % max(1, options.recordEvery) == 0 || iter == maxIter - 1
                let stepStart = monotonicSeconds()
                probe.beginStep(recording: recording)
                // (A resumed run keeps the cadence of an uninterrupted one; its first step counts
                // only when the bins are still to be chosen, as at a fresh start.)
                probe.recordsHistograms = recording
                    && (iter % max(1, options.histogramEvery) == 0 || iter == maxIter - 1
                        || (iter == startIter && probe.histogramBins.contains(nil)))
                trainNet.clearParamDiffs()
                let debug = setup.solver.debugInfo && display > 0 && iter % display == 0
                var loss: Float = 0
                let iterSize = Int(max(1, setup.solver.iterSize))
                for _ in 0..<iterSize { loss += try forwardBackward(debug: debug) }
                loss /= Float(iterSize)
                let smooth = smoothed.add(loss, iter: iter, startIter: startIter)
                if display > 0 && iter % display == 0 {
                    let now = Date()
                    let lapse = now.timeIntervalSince(lastDisplay.time)
                    let perSecond = Double(iter - lastDisplay.iter) / (lapse > 0 ? lapse : 1)
                    lastDisplay = (now, iter)
                    log("Iteration \(iter) (\(fmt(perSecond)) iter/s, \(fmt(lapse))s/\(display) iters), loss = \(fmt(Double(smooth)))")
                    logOutputs(trainNet, prefix: "Train net output")
                }
                let gradNorm = recording ? gradientNorm() : .nan
                probe.recordParameterData()
                if debug { log(DebugInfo.allParamsLine(net: trainNet)) }
                let ratios = solver.applyUpdate()
                if display > 0 && iter % display == 0 { log("Iteration \(iter), lr = \(fmt(Double(solver.lastRate)))") }
                probe.recordUpdateRatios(ratios)
                if recording {
                    try appendStep(iteration: iter, loss: Double(loss), lr: Double(solver.lastRate),
                                   wallTime: monotonicSeconds() - stepStart, gradNorm: gradNorm)
                }
                // Caffe's numbering: the iteration just done (its display line says the same).
                emit(TrainingEvent(kind: .progress(iteration: iter, of: maxIter, loss: smooth, lr: solver.lastRate,
                                                   itPerSec: Double(iter + 1 - startIter) / max(Date().timeIntervalSince(start), 1e-9))))
                if !loss.isFinite || probe.firstNonFinite != nil {
                    status = .diverged
                    if let f = probe.firstNonFinite {
                        stopReason = "diverged at iteration \(iter): non-finite \(f.phase) value in layer '\(f.layer)', blob \(f.blob)"
                    } else {
                        stopReason = "diverged at iteration \(iter): the loss is \(loss)"
                    }
                    log(stopReason!)
                    break
                }
                if let every = Int(exactly: setup.solver.snapshot), every > 0, solver.iter % every == 0 { try snapshot() }
                if options.stopWhenSettled, recording, record.iterations.count % max(1, options.settleCheckEvery) == 0,
                   let v = settledVerdict(record), v != .inconclusive {
                    stopReason = "settled at iteration \(iter): \(v.rawValue)"
                    log(stopReason!)
                    break
                }
            }
            // Caffe's Solver::Solve snapshots after Step() returns, also when SIGINT stopped it
            // (sigint_effect STOP, snapshot_after_train true by default): `--resume` continues.
            if status == .finished || status == .interrupted,
               setup.solver.snapshotAfterTrain, options.snapshotDirectory != nil,
               setup.solver.snapshot <= 0 || solver.iter % Int(setup.solver.snapshot) != 0 { try snapshot() }
            if status == .finished {
                if testNet != nil, testInterval > 0, solver.iter % testInterval == 0 || stopReason != nil {
                    try test(iteration: solver.iter)
                }
            }
        } catch {
            // Bad input met mid-run (a corrupt record): keep what was recorded, then report.
            try? trace?.flushNow()
            try? trace?.finish(status: .interrupted)
            throw error
        }
        record.attributes["status"] = status.rawValue
        let diagnosis = diagnose(record)
        if let trace {
            try trace.finish(status: status, verdict: diagnosis.verdict.rawValue, findings: findingsJSON(diagnosis.findings))
        }
        return TrainingResult(status: status, record: record, diagnosis: diagnosis, iterations: solver.iter, stopReason: stopReason)
    }

    /// `initdiag probe`: one forward and one backward at initialisation (or on the given
    /// weights), no update; one recorded step, iteration 0. Parameter gradients are the raw diffs
    /// (no weight decay: there is no update to see them).
    public func probeOnce() throws -> TrainingResult {
        if let path = options.tracePath { trace = try openTrace(path) }
        probe.beginStep(recording: true)
        trainNet.clearParamDiffs()
        let loss: Float
        do { loss = try forwardBackward(debug: setup.solver.debugInfo) } catch {
            try? trace?.finish(status: .interrupted)
            throw error
        }
        probe.recordParameterData()
        for k in trainNet.params.indices { probe.recordGradient(param: k) }
        let rate = LearningRatePolicy.rateIfValid(setup.solver, iter: solver.iter)
        try appendStep(iteration: solver.iter, loss: Double(loss), lr: Double(rate), gradNorm: gradientNorm())
        let status: TraceStatus = loss.isFinite && probe.firstNonFinite == nil ? .finished : .diverged
        record.attributes["status"] = status.rawValue
        let diagnosis = diagnose(record)
        try trace?.finish(status: status, verdict: diagnosis.verdict.rawValue, findings: findingsJSON(diagnosis.findings))
        return TrainingResult(status: status, record: record, diagnosis: diagnosis, iterations: 0,
                              stopReason: status == .diverged ? "non-finite values at initialisation" : nil)
    }

    /// One training iteration for `bench`, timed in its three parts (seconds): forward (data
    /// included), backward, and the update (with the probes' parameter statistics when on).
    public func timedIteration(probes: Bool) throws -> (forward: Double, backward: Double, update: Double) {
        probe.beginStep(recording: probes)
        trainNet.clearParamDiffs()
        let t0 = monotonicSeconds()
        if let f = inputFeeder {
            let ids = trainNet.inputBlobIDs
            try f.nextBatch(data: trainNet.blobs[ids[0]], label: ids.count > 1 ? trainNet.blobs[ids[1]] : nil)
        }
        try trainNet.forward()
        let t1 = monotonicSeconds()
        trainNet.backward()
        let t2 = monotonicSeconds()
        probe.recordParameterData()
        let ratios = solver.applyUpdate()
        probe.recordUpdateRatios(ratios)
        let t3 = monotonicSeconds()
        return (t1 - t0, t2 - t1, t3 - t2)
    }

    /// Forward and backward once (plus Input feeding and debug_info lines).
    private func forwardBackward(debug: Bool) throws -> Float {
        if let f = inputFeeder {
            let ids = trainNet.inputBlobIDs
            try f.nextBatch(data: trainNet.blobs[ids[0]], label: ids.count > 1 ? trainNet.blobs[ids[1]] : nil)
        }
        // Lines are taken right after each layer (DebugInfoObserver), as Caffe does.
        debugObserver?.isActive = debug
        let loss: Float
        do { loss = try trainNet.forward() } catch { debugObserver?.isActive = false; throw error }
        generatorDraws += Trainer.generatorDrawsPerForward(trainNet)
        debugObserver?.drain().forEach(log)
        trainNet.backward()
        debugObserver?.drain().forEach(log)
        debugObserver?.isActive = false
        return loss
    }

    /// Solver::Test: test_iter forward passes of the test net (weights shared); each output
    /// averaged over the passes. Loss = Σ weight·output over loss outputs; accuracy = the first
    /// Accuracy layer's output.
    private func test(iteration: Int) throws {
        guard let net = testNet else { return }
        let n = options.testIterations ?? Int(setup.solver.testIter.first ?? 0)
        guard n > 0 else { return }
        log("Iteration \(iteration), Testing net (#0)")
        var sums = [Double](repeating: 0, count: net.outputBlobIDs.reduce(0) { $0 + net.blobs[$1].count })
        for b in 0..<n {
            // SIGINT takes effect within one test batch; a partial test phase is not recorded.
            if InterruptSignal.isSet { log("Test phase interrupted after \(b) of \(n) batches"); return }
            if let f = testInputFeeder {
                let ids = net.inputBlobIDs
                try f.nextBatch(data: net.blobs[ids[0]], label: ids.count > 1 ? net.blobs[ids[1]] : nil)
            }
            try net.forward()
            var k = 0
            for id in net.outputBlobIDs {
                let b = net.blobs[id]
                for i in 0..<b.count { sums[k] += Double(b.data[i]); k += 1 }
            }
        }
        var k = 0, loss = 0.0, accuracy = Double.nan
        for (o, id) in net.outputBlobIDs.enumerated() {
            let b = net.blobs[id]
            for _ in 0..<b.count {
                let mean = sums[k] / Double(n)
                let w = net.blobLossWeights[id]
                var line = "    Test net output #\(o): \(b.name) = \(fmt(mean))"
                if w != 0 {
                    loss += Double(w) * mean
                    line += " (* \(fmt(Double(w))) = \(fmt(Double(w) * mean)) loss)"
                }
                if accuracy.isNaN, net.layers.indices.contains(where: { net.layers[$0] is AccuracyLayer && net.layerParams[$0].top.first == b.name }) {
                    accuracy = mean
                }
                log(line)
                k += 1
            }
        }
        record.testIterations.append(iteration)
        record.testLoss.append(loss)
        record.testAccuracy.append(accuracy)
        try trace?.appendTest(iteration: iteration, loss: loss, accuracy: accuracy)
    }

    private func logOutputs(_ net: Net, prefix: String) {
        for (o, id) in net.outputBlobIDs.enumerated() {
            let b = net.blobs[id]
            let w = net.blobLossWeights[id]
            for i in 0..<b.count {
                var line = "    \(prefix) #\(o): \(b.name) = \(fmt(Double(b.data[i])))"
                if w != 0 { line += " (* \(fmt(Double(w))) = \(fmt(Double(w * b.data[i]))) loss)" }
                log(line)
            }
        }
    }

    private var predictionsWritten = false

    /// Mean-field predictions (Probes/MeanField.swift) for every layer, from the fillers and the
    /// first batch's measured second moment and between-input correlation; written once, as
    /// layer attributes `predicted_q`, `predicted_correlation`, `sigma_w2`, `bias_second_moment`.
    private func writePredictions() throws {
        predictionsWritten = true
        guard let dataLayer = trainNet.layers.indices.first(where: { type(of: trainNet.layers[$0]).role == .data }),
              let x = trainNet.topVecs[dataLayer].first, x.shape.count >= 2, x.shape[0] > 1 else { return }
        let n = x.shape[0], j = x.count / n
        var sumSq = 0.0, total = [Double](repeating: 0, count: j)
        for a in 0..<n {
            let row = x.data + a * j
            for k in 0..<j { let v = Double(row[k]); sumSq += v * v; total[k] += v }
        }
        let m = sumSq / Double(n * j)
        let cross = (total.reduce(0) { $0 + $1 * $1 } - sumSq) / Double(n * (n - 1) * j)
        // Weights that no filler describes — LSUV's (rescaled on a batch) or loaded with --weights —
        // enter the chain with their measured mean and variance, as a gaussian of those moments
        // (the chain uses nothing else of a filler, docs/mean-field.md); with --weights the
        // biases too. Otherwise the prediction would be that of the declared filler, not of the
        // net that runs.
        let loaded = options.weightsPath != nil
        let measuredWeights = loaded || (setup.scheme.weights == .lsuv && lsuvResult != nil)
        let statistics = BlobStatistics(threads: options.threads)
        func measured(_ blob: Blob) -> FillerParameter {
            let s = statistics.compute(blob)
            var f = FillerParameter()
            f.type = "gaussian"; f.mean = Float(s.mean); f.std = Float(s.std)
            return f
        }
        let predictions = MeanField.predict(
            net: trainNet, inputSecondMoment: m, inputCorrelation: m > 0 ? cross / m : 0,
            fillers: { li in
                let layer = self.trainNet.layers[li]
                var fs = self.initializer.fillers(for: layer)
                guard measuredWeights, let t = layer.schemeTargets else { return fs }
                if t.weight < fs.count, t.weight < layer.blobs.count { fs[t.weight] = measured(layer.blobs[t.weight]) }
                if loaded, let b = t.bias, b < fs.count, b < layer.blobs.count { fs[b] = measured(layer.blobs[b]) }
                return fs
            })
        for (li, p) in predictions.enumerated() {
            guard let p else { continue }
            var attrs: [String: HDF5AttributeValue] = ["predicted_q": .double(p.secondMoment),
                                                       "predicted_correlation": .double(p.correlation)]
            if let w = p.sigmaW2 { attrs["sigma_w2"] = .double(w) }
            if let b = p.biasSecondMoment { attrs["bias_second_moment"] = .double(b) }
            if p.approximate { attrs["prediction_note"] = .string("approximate: pooling/BatchNorm passed through") }
            guard let ti = probe.layout.layerIndex(named: trainNet.layerParams[li].name) else { continue }
            for (k, v) in attrs { record.layers[ti].attributes[k] = v.stringValue ?? v.description }
            try trace?.setLayerAttributes(layer: ti, attrs)
        }
    }

    /// The global l2 norm of the parameter gradients as backward left them (before clipping,
    /// normalisation, weight decay — Caffe's ClipGradients measures the same), owners only.
    private func gradientNorm() -> Double {
        var sumSq = 0.0
        for p in trainNet.params where p.blob.count > 0 {
            let n = Double(cblas_snrm2(Int32(p.blob.count), p.blob.diff, 1))
            sumSq += n * n
        }
        return sumSq.squareRoot()
    }

    private func appendStep(iteration: Int, loss: Double, lr: Double, wallTime: Double = .nan, gradNorm: Double = .nan) throws {
        if !predictionsWritten { try writePredictions() }
        record.iterations.append(iteration)
        record.loss.append(loss)
        record.lr.append(lr)
        let values = probe.values
        let layout = probe.layout
        for (k, name) in layout.seriesNames.enumerated() {
            record.layers[layout.seriesLayer[k]].series[name, default: []].append(values[k])
        }
        let counts = probe.recordsHistograms ? probe.histogramCounts : nil
        appendHistograms(counts, bins: probe.histogramBins)
        try values.withUnsafeBufferPointer { v in
            try trace?.append(iteration: iteration, loss: loss, learningRate: lr, values: v, wallTime: wallTime, gradientNorm: gradNorm,
                              histograms: counts, bins: probe.histogramBins)
        }
    }

    /// One step's histograms into the in-memory record (the trace gets the same rows); nil: a
    /// step without them (rows of `TraceHistogramBins.notCounted`).
    private func appendHistograms(_ counts: UnsafeBufferPointer<Int64>?, bins: [TraceHistogramBins?]) {
        let w = TraceHistogramBins.slotCount
        for (h, slot) in probe.layout.histograms.enumerated() {
            var series = record.layers[slot.layer].histograms[slot.name] ?? TraceHistogramSeries(bins: nil, counts: [])
            if series.bins == nil { series.bins = bins[h] }
            if let counts { series.counts.append(contentsOf: counts[(h * w)..<((h + 1) * w)]) }
            else { series.counts.append(contentsOf: repeatElement(TraceHistogramBins.notCounted, count: w)) }
            record.layers[slot.layer].histograms[slot.name] = series
        }
    }

    /// The net as the trace's `net_prototxt` keeps it: the text of the net without the weights a
    /// layer may carry in its `blobs` (an ONNX import puts the file's initializers there: printed,
    /// VGG19-BN's 20 M values made a 460 MB attribute). The weights come from the net's file,
    /// named by `net_path`; a comment line says how many blobs were left out.
    static func netTextForTrace(_ net: NetParameter) -> String {
        var copy = net
        var dropped = 0
        for i in copy.layer.indices where !copy.layer[i].blobs.isEmpty {
            dropped += copy.layer[i].blobs.count
            copy.layer[i].blobs = []
        }
        let text = Prototxt.format(copy)
        return dropped == 0 ? text
            : "# \(dropped) weight blobs of the net's file (net_path) left out of this copy\n" + text
    }

    private func openTrace(_ path: String) throws -> TraceWriter {
        let info = TraceRunInfo(netName: setup.net.name, scheme: setup.scheme.description, seed: Int64(setup.seed),
                                batchSize: Int64(setup.batchSize), data: setup.data?.description ?? "prototxt data_param.source",
                                netPrototxt: Trainer.netTextForTrace(setup.net), solverPrototxt: Prototxt.format(setup.solver),
                                extraAttributes: ["threads": .int(Int64(options.threads)), "net_path": .string(setup.net.sourcePath),
                                                  "run_identity": .string((options.identity ?? RunIdentity(setup: setup, options: options)).json)]
                                    .merging(testSamplesPerPhase.map { ["test_samples": .int(Int64($0))] } ?? [:]) { a, _ in a }
                                    .merging(options.command.map { ["command": .string($0)] } ?? [:]) { a, _ in a }
                                    .merging(setup.computedMeanNotes.isEmpty ? [:] : ["computed_mean": .string(setup.computedMeanNotes.joined(separator: "\n"))]) { a, _ in a })
        record.attributes.merge(["net_name": info.netName, "scheme": info.scheme, "seed": String(info.seed),
                                 "batch_size": String(info.batchSize), "data": info.data, "status": "running"]) { _, b in b }
        return try TraceWriter(path: path, run: info, layout: probe.layout)
    }

    // MARK: Resuming a trace

    /// The trace a resumed run continues: refused when it is of another experiment (its
    /// `run_identity` differs in anything but the iteration ceiling, test_iter/test_interval,
    /// record_every, histogram_every and threads — a resume may change how long and how often, not what).
    private var previousWallTime: [Double] = [], previousGradNorm: [Double] = []

    private func previousTrace(_ path: String) throws -> RunRecord {
        let reader: TraceReader
        do { reader = try TraceReader(path: path) } catch {
            throw InputError("--trace \(path) exists but is not an initdiag trace; give another --trace to resume into")
        }
        let loose: Set<String> = ["iterations", "test_iter", "test_interval", "record_every", "histogram_every", "threads"]
        let mine = (options.identity ?? RunIdentity(setup: setup, options: options))
        if let recorded = RunIdentity(trace: reader) {
            let diffs = mine.removing(loose).differences(recorded: recorded.removing(loose))
            if !diffs.isEmpty {
                throw InputError(RunIdentity.mismatchLine("--trace \(path) holds a run with", diffs) + "; give another --trace (or remove it) to resume into")
            }
            if recorded["threads"] != mine["threads"] {
                log("\(path) was recorded with --threads \(recorded["threads"] ?? "?"), this run uses \(mine["threads"] ?? "?"): the resumed steps are not bit-identical to an uninterrupted run")
            }
        } else {
            throw InputError("--trace \(path) records no run identity (an older initdiag): it cannot be checked against this run; give another --trace")
        }
        previousWallTime = (try? reader.stepSeries("wall_time")) ?? nil ?? []
        previousGradNorm = (try? reader.stepSeries("grad_norm")) ?? nil ?? []
        return try RunRecord(trace: path)
    }

    /// Writes the previous trace's steps and tests before the resumed iteration into the new
    /// trace (and the in-memory record), with its mean-field predictions, so the trace holds the
    /// whole run.
    private func carryOver(_ previous: RunRecord) throws {
        let start = solver.iter
        let layout = probe.layout
        let byName = Dictionary(previous.layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let steps = min(previous.iterations.count, previous.loss.count, previous.lr.count)
        var values = [Double](repeating: .nan, count: layout.seriesCount)
        // The histograms keep the bins the trace chose at its first recorded step.
        let w = TraceHistogramBins.slotCount
        let oldHistograms = layout.histograms.map { byName[layout.layers[$0.layer].name]?.histograms[$0.name] }
        let bins = oldHistograms.map { $0?.bins }
        probe.useHistogramBins(bins)
        var counts = [Int64](repeating: 0, count: layout.histogramValueCount)
        for k in 0..<steps where previous.iterations[k] < start {
            for (s, name) in layout.seriesNames.enumerated() {
                let series = byName[layout.layers[layout.seriesLayer[s]].name]?.series[name]
                values[s] = series.map { k < $0.count ? $0[k] : .nan } ?? .nan
            }
            for (h, old) in oldHistograms.enumerated() {
                for c in 0..<w {
                    counts[h * w + c] = old.map { k < $0.steps ? $0.counts[k * w + c] : TraceHistogramBins.notCounted }
                        ?? TraceHistogramBins.notCounted
                }
            }
            counts.withUnsafeBufferPointer { appendHistograms($0, bins: bins) }
            record.iterations.append(previous.iterations[k])
            record.loss.append(previous.loss[k])
            record.lr.append(previous.lr[k])
            for (s, name) in layout.seriesNames.enumerated() {
                record.layers[layout.seriesLayer[s]].series[name, default: []].append(values[s])
            }
            try trace?.append(iteration: previous.iterations[k], loss: previous.loss[k], learningRate: previous.lr[k], values: values,
                              wallTime: k < previousWallTime.count ? previousWallTime[k] : .nan,
                              gradientNorm: k < previousGradNorm.count ? previousGradNorm[k] : .nan,
                              histograms: counts, bins: bins)
        }
        for k in 0..<min(previous.testIterations.count, previous.testLoss.count, previous.testAccuracy.count)
        where previous.testIterations[k] < start {
            record.testIterations.append(previous.testIterations[k])
            record.testLoss.append(previous.testLoss[k])
            record.testAccuracy.append(previous.testAccuracy[k])
            try trace?.appendTest(iteration: previous.testIterations[k], loss: previous.testLoss[k], accuracy: previous.testAccuracy[k])
        }
        // The predictions were made from the first batch of the run: keep those.
        let keys = ["predicted_q", "predicted_correlation", "sigma_w2", "bias_second_moment", "prediction_note"]
        for (li, layer) in layout.layers.enumerated() {
            guard let old = byName[layer.name] else { continue }
            var attrs: [String: HDF5AttributeValue] = [:]
            for key in keys {
                guard let v = old.attributes[key] else { continue }
                attrs[key] = key == "prediction_note" ? .string(v) : Double(v).map { .double($0) } ?? .string(v)
                record.layers[li].attributes[key] = v
            }
            if !attrs.isEmpty { try trace?.setLayerAttributes(layer: li, attrs) }
        }
        if previous.layers.contains(where: { $0.attributes["predicted_q"] != nil }) { predictionsWritten = true }
        try trace?.flushNow()
        log("Appending to the trace: \(record.iterations.count) recorded steps before iteration \(start) kept")
    }

    // MARK: Snapshots

    /// `<dir>/<prefix stem>_iter_<i>.caffemodel.h5` and `.solverstate.h5` (Caffe's names and HDF5
    /// layouts): every layer in net order, shared (non-owner) parameters left out.
    public func snapshot() throws {
        guard let dir = options.snapshotDirectory else { return }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw InputError("--snapshot \(dir): cannot create the snapshot folder (\(posixReason(error, path: dir)))")
        }
        let prefix = ((setup.solver.snapshotPrefix ?? "snapshot") as NSString).lastPathComponent
        let base = (dir as NSString).appendingPathComponent("\(prefix)_iter_\(solver.iter)")
        let owners = Set(trainNet.params.map { ObjectIdentifier($0.blob) })
        var seen = Set<ObjectIdentifier>()
        let layers: [(name: String, blobs: [any CaffeSnapshotWritable])] = trainNet.layerParams.enumerated().map { li, lp in
            let own = trainNet.layers[li].blobs.filter { b in
                let id = ObjectIdentifier(b)
                if owners.contains(id) { return seen.insert(id).inserted }
                return true   // state blobs (BatchNorm)
            }
            return (lp.name, own)
        }
        try CaffeSnapshot.writeWeights(to: base + ".caffemodel.h5", netLayers: layers, writeDiff: setup.solver.snapshotDiff)
        let history = solver.history.map { CaffeSnapshotBlob(shape: $0.shape, values: $0.dataArray) }
        try CaffeSnapshot.writeSolverState(CaffeSolverState(iter: solver.iter, learnedNet: base + ".caffemodel.h5",
                                                            currentStep: solver.currentStep, history: history,
                                                            resumeCounters: resumeCounters(),
                                                            generatorState: rng.engine.stateWords),
                                           to: base + ".solverstate.h5")
        log("Snapshotting to HDF5 file \(base).caffemodel.h5")
    }

    private func resume(from path: String) throws {
        let state = try CaffeSnapshot.readAnySolverState(from: path)
        var weights = state.learnedNet
        if !FileManager.default.fileExists(atPath: weights) {
            weights = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent((weights as NSString).lastPathComponent)
        }
        if options.weightsPath == nil { try Trainer.loadWeights(weights, into: trainNet) }
        let history = state.history.map { h -> Blob in
            let b = Blob(shape: h.shape)
            b.setData(h.values)
            return b
        }
        // Resume only the same experiment (a state without these counters predates them).
        let identity = options.identity ?? RunIdentity(setup: setup, options: options)
        let differing = Trainer.resumeIdentityKeys.filter { key in
            guard let saved = state.resumeCounters["identity_" + key], let v = identity[key],
                  let h = UInt64(RunIdentity.hash(v), radix: 16) else { return false }
            return saved != Int64(bitPattern: h)
        }
        if !differing.isEmpty {
            let named = differing.map { RunIdentity.describe($0, identity[$0] ?? "").replacingOccurrences(of: "a net whose", with: "the net whose").replacingOccurrences(of: "a solver whose", with: "the solver whose") }
            throw InputError("\(path) was written by another experiment: this run differs in \(differing.joined(separator: ", ")) (this one has \(named.joined(separator: ", "))); resume with the same net, solver and flags")
        }
        try solver.restore(iter: state.iter, currentStep: state.currentStep, history: history)
        log("Resuming from \(path) at iteration \(state.iter)")
        try restoreCounters(state.resumeCounters, generatorState: state.generatorState, path: path)
    }

    // MARK: Exact resume

    /// Caffe restores weights, history, iter and current_step only: its data layers start again
    /// at the first record and its generator at the seed, so a resumed run leaves the
    /// uninterrupted trajectory. initdiag also saves how many records each feeder has handed out
    /// and the run generator's state (and how many draws it has given), restores the generator and
    /// replays the data positions on resume; the
    /// trajectory (losses, weights) is then bit-identical to the uninterrupted run's.
    private var feeders: [(key: String, feeder: ResumableBatchPosition)] {
        var out: [(key: String, feeder: ResumableBatchPosition)] = []
        if let f = inputFeeder { out.append(("train_input_records", f)) }
        if let f = testInputFeeder { out.append(("test_input_records", f)) }
        for (tag, net) in [("train", trainNet), ("test", testNet)] {
            guard let net else { continue }
            for (li, layer) in net.layers.enumerated() {
                if let d = layer as? DataLayer, let f = d.source as? DataFeeder { out.append(("\(tag)_layer\(li)_records", f)) }
                if let d = layer as? HDF5DataLayer, let f = d.source as? ResumableBatchPosition { out.append(("\(tag)_layer\(li)_records", f)) }
            }
        }
        return out
    }

    /// The draws one forward of `net` takes from the run's generator: the sum of what its layers
    /// declare (`Layer.generatorDrawsPerForward`).
    static func generatorDrawsPerForward(_ net: Net) -> Int64 {
        net.layers.reduce(Int64(0)) { $0 + Int64($1.generatorDrawsPerForward) }
    }

    /// The identity entries a solver state must share with the run that resumes it, as 64-bit
    /// hashes in the state's counters (`identity_<key>`).
    static let resumeIdentityKeys = ["net", "solver", "data", "batch_size", "scheme", "seed"]

    private func resumeCounters() -> [String: Int64] {
        var counters: [String: Int64] = ["generator_draws": generatorDraws]
        let identity = options.identity ?? RunIdentity(setup: setup, options: options)
        for key in Trainer.resumeIdentityKeys {
            if let v = identity[key], let h = UInt64(RunIdentity.hash(v), radix: 16) { counters["identity_" + key] = Int64(bitPattern: h) }
        }
        // The generator's next output, to check the replay against on resume.
        var copy = rng.engine
        counters["generator_next"] = Int64(copy.next())
        for (key, feeder) in feeders { counters[key] = Int64(feeder.recordsRead) }
        return counters
    }

    private func restoreCounters(_ counters: [String: Int64], generatorState: [UInt32]?, path: String) throws {
        guard !counters.isEmpty || generatorState != nil else {
            log("\(path) has no data positions or generator state (a Caffe solver state): data and random draws start over")
            return
        }
        for (key, feeder) in feeders {
            guard let read = counters[key] else { continue }
            guard read >= 0, read % Int64(feeder.batchSize) == 0 else {
                throw InputError("\(path): \(CaffeSnapshot.resumeGroup)/\(key) = \(read) is not a whole number of batches of \(feeder.batchSize)")
            }
            // Re-reading the batches (not seeking) also replays the transformer's own draws
            // (mirror, crop) in order.
            for _ in 0..<(read / Int64(feeder.batchSize)) { try feeder.skipBatch() }
        }
        if let draws = counters["generator_draws"] {
            guard draws >= 0 else { throw InputError("\(path): \(CaffeSnapshot.resumeGroup)/generator_draws is negative (\(draws))") }
            if let words = generatorState, let saved = MT19937(stateWords: words) {
                // The saved state: O(1), where replaying the draws costs O(iterations).
                rng.engine = saved
            } else {
                // A state written before the generator itself was saved: replay its draws.
                for _ in 0..<draws { _ = rng.next() }
            }
            generatorDraws = draws
        } else if let words = generatorState, let saved = MT19937(stateWords: words) {
            rng.engine = saved
        }
        if let next = counters["generator_next"] {
            var copy = rng.engine
            if Int64(copy.next()) != next {
                log("\(path): the run's generator could not be restored (another seed or net?); dropout masks will differ from the uninterrupted run")
            }
        }
    }

    private func log(_ s: String) { emit(TrainingEvent(kind: .log(s))) }
    private func fmt(_ v: Double) -> String { DebugInfo.format(v) }
}

extension LearningRatePolicy {
    /// The rate at `iter`, or NaN where the solver's policy is unusable (a bare net probed).
    static func rateIfValid(_ solver: SolverParameter, iter: Int) -> Float {
        guard let p = try? LearningRatePolicy(solver) else { return .nan }
        var step = 0
        return p.rate(iter: iter, currentStep: &step)
    }
}

/// The snapshot writer (Trace/CaffeSnapshot.swift) reads blobs through this view.

