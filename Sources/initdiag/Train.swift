import ArgumentParser
import Foundation
import InitDiag

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a net with Caffe's solver semantics, recording every layer.",
        discussion: """
        Runs Caffe's Solver::Step: test phases per test_interval/test_iter, the lr policy, momentum, \
        weight decay, lr_mult/decay_mult, iter_size, clip_gradients, display lines in Caffe's wording \
        (and debug_info lines when the solver sets debug_info). With --trace, every recorded step's \
        statistics go to an HDF5 trace (docs/trace-format.md) that h5py, HDFView and h5dump open, \
        also while the run goes on.

        Exit codes: 0 done, 2 bad input or usage (one line naming the file and line, or the layer), \
        1 internal failure, 130 interrupted: SIGINT/SIGTERM stop at the next iteration boundary (a \
        test phase within one test batch), leave the trace `interrupted` and, with --snapshot, \
        write a snapshot to --resume from (docs/cli.md).
        """)

    @OptionGroup var flags: RunFlags

    @Option(help: "Initial weights: a Caffe HDF5 snapshot (.caffemodel.h5) or a binary .caffemodel, matched by layer name.")
    var weights: String?

    @Option(parsing: .unconditional, help: "Overrides the solver's max_iter.")
    var iterations: Int?

    @Option(help: "Write the HDF5 trace here.")
    var trace: String?

    @Option(parsing: .unconditional, help: "Record statistics every N iterations (1 = every iteration).")
    var recordEvery: Int = 1

    @Option(parsing: .unconditional, help: "Count the histograms (docs/trace-format.md) at recorded steps whose iteration is a multiple of N, and at the last; other steps get rows of -1. 1 = every recorded step (costs about 4.5% of an iteration each time on the seed net).")
    var histogramEvery: Int = TrainingOptions.defaultHistogramEvery

    @Option(help: "Write Caffe HDF5 snapshots (<prefix>_iter_<i>.caffemodel.h5 + .solverstate.h5) into this folder at the solver's snapshot interval and at the end.")
    var snapshot: String?

    @Option(help: "Resume from a .solverstate.h5 or a Caffe binary .solverstate (its weights file is found beside it).")
    var resume: String?

    @Option(parsing: .unconditional, help: "Overrides test_iter (batches per test phase).")
    var testIter: Int?

    @Option(parsing: .unconditional, help: "Overrides test_interval.")
    var testInterval: Int?

    @Flag(help: "No progress and no Caffe log lines; only the result (errors still go to stderr).")
    var quiet = false

    @Option(parsing: .unconditional, help: "Seconds between progress lines on stderr when it is not a terminal (a log file).")
    var progressEvery: Double = 30

    func validate() throws {
        if flags.solver == nil && flags.net == nil { throw ValidationError("give --solver SOLVER.prototxt or --net NET.prototxt") }
        if let i = iterations, i < 0 { throw ValidationError("--iterations must be non-negative, got \(i)") }
        if recordEvery < 1 { throw ValidationError("--record-every must be at least 1, got \(recordEvery)") }
        if histogramEvery < 1 { throw ValidationError("--histogram-every must be at least 1, got \(histogramEvery)") }
        if let t = testIter, t < 0 { throw ValidationError("--test-iter must be non-negative, got \(t)") }
        if let t = testInterval, t < 0 { throw ValidationError("--test-interval must be non-negative, got \(t)") }
        if !(progressEvery > 0) { throw ValidationError("--progress-every must be a positive number of seconds, got \(progressEvery)") }
    }

    func run() throws {
        let setup = try flags.setup()
        if iterations == nil && setup.solver.maxIter <= 0 && flags.solver == nil && setup.netFormat == .onnx {
            throw InputError("\(flags.net ?? "net"): an ONNX net without --solver has no max_iter; give --iterations N")
        }
        var options = TrainingOptions()
        options.iterations = iterations
        options.tracePath = trace
        options.recordEvery = recordEvery
        options.histogramEvery = histogramEvery
        options.snapshotDirectory = snapshot
        options.resumeFrom = resume
        options.weightsPath = weights
        options.testIterations = testIter
        options.testInterval = testInterval
        options.threads = try flags.threadCount
        options.command = invocation()
        Signals.install()
        let printer = ProgressPrinter()
        printer.quiet = quiet
        printer.logInterval = progressEvery
        let trainer = try Trainer(setup: setup, options: options, emit: printer.handle)
        let result = try trainer.run()
        printer.finishLine()
        say("Optimization done: \(result.status.rawValue) after \(result.iterations) iterations; verdict \(result.diagnosis.verdict.rawValue)")
        if let r = result.stopReason { say("  \(r)") }
        if let t = trace { say("trace: \(t)") }
        if result.status == .interrupted { throw ExitCode(130) }
    }
}

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Diagnose before you train: one forward and one backward pass at initialisation, recorded.",
        discussion: "Prints what the initialisation predicts (where the input is gone, the cause, what to try) and the findings at initialisation; with --trace, also writes a trace with that one step (iteration 0).")

    @OptionGroup var flags: RunFlags

    @Option(help: "Weights to probe instead of the fillers (.caffemodel.h5 or .caffemodel).")
    var weights: String?

    @Option(help: "Which phase's net to probe: train or test.")
    var phase: PhaseOption = .train

    @Option(help: "Write the HDF5 trace here (as train: none by default).")
    var trace: String?

    func validate() throws {
        if flags.solver == nil && flags.net == nil { throw ValidationError("give --solver SOLVER.prototxt or --net NET.prototxt") }
    }

    func run() throws {
        let setup = try flags.setup()
        var options = TrainingOptions()
        options.tracePath = trace
        options.weightsPath = weights
        options.phase = phase.phase
        options.threads = try flags.threadCount
        options.command = invocation()
        options.testIterations = 0
        let trainer = try Trainer(setup: setup, options: options, emit: ProgressPrinter().handle)
        let result = try trainer.probeOnce()
        // What the initialisation predicts first; the verdict of one step is always inconclusive.
        say(formatProbePrediction(result.diagnosis, run: result.record))
        say(formatDiagnosisText(result.diagnosis, trace: trace), terminator: "")
    }
}

struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the verdict and findings of one trace.",
        discussion: "Applies the verdict rules (docs/verdicts.md; Sources/InitDiagDiagnosis/Diagnosis/RULES.md) to a trace written by probe, train or sweep.")

    @Argument(help: "An initdiag trace (.h5).")
    var trace: String

    @Flag(help: "Print JSON: {verdict, findings, first_collapsed_layer, status, …}.")
    var json = false

    @Option(name: .customLong("at-iteration"), parsing: .unconditional,
            help: "Diagnose the run as it stood at this iteration: only the steps and test phases recorded up to it (what a shorter run would have been told).")
    var atIteration: Int?

    func validate() throws {
        if let atIteration, atIteration < 0 { throw ValidationError("--at-iteration must be ≥ 0 (got \(atIteration))") }
    }

    func run() throws {
        let whole = try RunRecord(trace: trace)
        let record = atIteration.map { whole.prefix(throughIteration: $0) } ?? whole
        let d = diagnose(record)
        // How the run ended, when it did not finish: the verdict covers only what was recorded.
        var status: String?
        let last = record.iterations.last.map { " after iteration \($0)" } ?? ""
        if let atIteration, record.iterations.count < whole.iterations.count {
            status = "as of iteration \(atIteration): the verdict covers the first \(record.iterations.count) of the trace's \(whole.iterations.count) recorded steps (it goes on to iteration \(whole.iterations.last ?? 0))"
        }
        if status == nil {
            switch record.status {
            case "interrupted": status = "interrupted\(last): the run was stopped before it finished; the verdict covers its \(record.iterations.count) recorded steps"
            case "running": status = "not closed\(last): the run is still going or was killed; the verdict covers the \(record.iterations.count) steps flushed so far"
            default: status = nil
            }
        }
        if json {
            var text = try formatDiagnosisJSON(d)
            if let data = text.data(using: .utf8), var object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                object["status"] = record.status
                if let status { object["status_note"] = status }
                if let out = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) {
                    text = String(decoding: out, as: UTF8.self)
                }
            }
            say(text)
        } else {
            var text = formatDiagnosisText(d, trace: trace)
            if let status {
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                let at = lines.first?.hasPrefix("trace:") == true ? 1 : 0
                text = (lines[..<at] + ["status:                \(status)"] + lines[at...]).joined(separator: "\n")
            }
            say(text, terminator: "")
        }
    }
}
