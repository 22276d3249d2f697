import ArgumentParser
import Foundation
import InitDiag

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a net under every initialisation scheme that could explain its behaviour, and write the report.",
        discussion: """
        Each scheme is its own instrumented training run (trace in OUT/traces/<slug>.h5); each stops \
        as soon as its verdict is settled (clearly learning, pinned at ln C with no spread in its \
        logits, or diverged) or at --iterations. Then OUT/README.md (with SVG figures) and \
        OUT/summary.json name the cause, with the numbers and the variant that fixes it.

        Schemes (docs/schemes.md): w=as-declared|caffe-xavier|caffe-xavier-avg|caffe-msra|caffe-gaussian-0.01|\
        torch-default|torch-kaiming-normal|torch-xavier-uniform, b=as-declared|zero|caffe-xavier|\
        torch-default, bn=off|on, lr=<factor>. Default list:
          w=as-declared,b=as-declared; w=as-declared,b=zero; w=caffe-msra,b=zero; \
        w=caffe-msra,b=zero,lr=0.1; w=torch-default,b=torch-default; \
        w=as-declared,b=as-declared,bn=on; w=torch-default,b=torch-default,bn=on

        Rerunning the same command resumes: finished variants are not run again. A folder holding \
        another experiment's sweep (another net, solver, --data, --batch-size, --seed, --iterations, \
        --test-iter, --test-interval, --record-every or --histogram-every) is refused (exit 2, naming what differs); \
        --force removes that sweep's files (traces, figures, README.md, summary.json) and starts \
        afresh. On a cluster, \
        give each job one shard and merge afterwards, e.g. a Slurm array of 4:
          initdiag sweep --solver S --out OUT --shard $SLURM_ARRAY_TASK_ID/4
          initdiag report OUT        # after all shards

        Exit codes: 0 done, 2 bad input or usage (one line), 1 internal failure, 130 interrupted \
        (SIGINT/SIGTERM: finished variants are kept; the same command resumes). See docs/cli.md; \
        summary.json is described in docs/summary-json.md.
        """)

    @OptionGroup var flags: RunFlags

    @Option(help: "Schemes separated by ';' (or newlines). Default: the list above.")
    var schemes: String?

    @Option(parsing: .unconditional, help: "Iteration ceiling of every variant (default: the solver's max_iter, at most 1000).")
    var iterations: Int?

    @Option(help: "Output folder for traces, figures, README.md and summary.json.")
    var out: String = "sweep-out"

    @Option(help: "Run only every n-th variant starting at i (0-based), e.g. 1/4; merge with `initdiag report`.")
    var shard: String?

    @Option(parsing: .unconditional, help: "Batches per test phase (default: about 1,000 test images, at most the solver's test_iter).")
    var testIter: Int?

    @Option(parsing: .unconditional, help: "Test every N iterations (default: once, at the ceiling or where a variant settles).")
    var testInterval: Int?

    @Option(parsing: .unconditional, help: "Record statistics every N iterations.")
    var recordEvery: Int = 1

    @Option(parsing: .unconditional, help: "Count the histograms (docs/trace-format.md) at recorded steps whose iteration is a multiple of N, and at the last; other steps get rows of -1. 1 = every recorded step (costs about 4.5% of an iteration each time on the seed net).")
    var histogramEvery: Int = TrainingOptions.defaultHistogramEvery

    @Flag(name: .customLong("no-early-stop"),
          help: "Run every variant to --iterations instead of stopping it once its verdict is settled.")
    var noEarlyStop = false

    @Flag(help: "Only the variant lines and the report's path: no progress, no Caffe log lines.")
    var quiet = false

    @Option(parsing: .unconditional, help: "Seconds between progress lines on stderr when it is not a terminal (a log file).")
    var progressEvery: Double = 30

    @Flag(help: "Start afresh: remove the sweep already in --out (its traces, figures, README.md, summary.json) instead of refusing another experiment's.")
    var force = false

    func validate() throws {
        if flags.solver == nil && flags.net == nil { throw ValidationError("give --solver SOLVER.prototxt or --net NET.prototxt") }
        if flags.scheme != nil && schemes != nil { throw ValidationError("give --scheme (one) or --schemes (a list), not both") }
        if let i = iterations, i < 1 { throw ValidationError("--iterations must be at least 1, got \(i)") }
        if recordEvery < 1 { throw ValidationError("--record-every must be at least 1, got \(recordEvery)") }
        if histogramEvery < 1 { throw ValidationError("--histogram-every must be at least 1, got \(histogramEvery)") }
        if let t = testIter, t < 0 { throw ValidationError("--test-iter must be non-negative, got \(t)") }
        if let t = testInterval, t < 0 { throw ValidationError("--test-interval must be non-negative, got \(t)") }
        if !(progressEvery > 0) { throw ValidationError("--progress-every must be a positive number of seconds, got \(progressEvery)") }
    }

    func run() throws {
        // --scheme S is the one-variant list "S".
        let list = try (schemes ?? flags.scheme).map { try Scheme.parseList($0) } ?? Scheme.defaultSweep
        guard !list.isEmpty else { throw InputError("--schemes: the list is empty") }
        if Set(list.map(\.slug)).count != list.count { throw InputError("--schemes: a scheme is listed twice") }
        // Resolve once up front so bad input fails before any variant runs.
        var f = flags
        f.scheme = nil
        let probeSetup = try f.setup()
        if iterations == nil && probeSetup.solver.maxIter <= 0 && flags.solver == nil && probeSetup.netFormat == .onnx {
            throw InputError("\(flags.net ?? "net"): an ONNX net without --solver has no max_iter; give --iterations N")
        }
        let ceiling = iterations ?? min(1000, max(1, Int(probeSetup.solver.maxIter)))
        var plan = SweepPlan(solverPath: flags.solver, netPath: flags.net, data: flags.data, schemes: list,
                             iterations: ceiling, batchSize: flags.batchSize, seed: flags.seed, outputDirectory: out,
                             shard: try shard.map(SweepPlan.parseShard), testIterations: testIter,
                             command: invocation())
        plan.recordEvery = recordEvery
        plan.histogramEvery = histogramEvery
        plan.testInterval = testInterval
        plan.force = force
        plan.earlyStop = !noEarlyStop
        plan.threads = try flags.threadCount
        plan.inputShape = flags.inputShape
        plan.classes = flags.classes
        plan.solverOverrides = flags.overrides
        Signals.install()
        let printer = ProgressPrinter()
        printer.quiet = quiet
        printer.logInterval = progressEvery
        let started = Date()
        let running = plan.selected.count
        var finished = 0, toRun = running
        printer.sweep = (0, running, started)
        try Sweep.run(plan) { event in
            switch event {
            case let .variantStarted(k, n, scheme):
                printer.prefix = "[\(k + 1)/\(n) \(scheme.description)] "
                say("== variant \(k + 1) of \(n): \(scheme.description) (elapsed \(formatDuration(Date().timeIntervalSince(started))))")
            case let .variantSkipped(k, n, scheme, status):
                toRun -= 1
                printer.sweep = (finished, toRun, started)
                say("== variant \(k + 1) of \(n): \(scheme.description) already \(status); not run again")
            case let .variantFinished(k, n, scheme, verdict, its, reason):
                finished += 1
                printer.sweep = (finished, toRun, started)
                printer.finishLine()
                say("== variant \(k + 1) of \(n): \(scheme.description): \(verdict.rawValue) after \(its) iterations\(reason.map { " (\($0))" } ?? "")")
            case .training(let e):
                // Sweeps are long: keep Caffe's loss and test lines, drop per-output and lr lines.
                if case .log(let line) = e.kind,
                   line.hasPrefix("    Train net output") || (line.hasPrefix("Iteration") && line.contains(", lr = ")) { return }
                printer.handle(e)
            case .reportWritten(let path):
                printer.finishLine()
                say("report: \(path)")
            }
        }
        if InterruptSignal.isSet {
            say("interrupted: finished variants are kept; rerun the same command to resume")
            throw ExitCode(130)
        }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Regenerate DIR/README.md, the figures and DIR/summary.json from the traces in DIR/traces/ (merges sweep shards).")

    @Argument(help: "A sweep's output folder.")
    var directory: String

    func run() throws {
        let path = try Sweep.writeReport(directory: directory, schemes: nil, iterations: nil,
                                         command: invocation())
        say("report: \(path)")
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a data set into a Caffe LMDB, as Caffe's own converter writes it.",
        discussion: "`initdiag convert cifar10 DIR OUT` writes OUT/cifar10_train_lmdb and OUT/cifar10_test_lmdb (keys %05d, Datum 3×32×32, RGB planes unchanged), so real Caffe can read the same data.")

    @Argument(help: "The data set format: cifar10.")
    var format: String

    @Argument(help: "The CIFAR-10 binary folder (data_batch_*.bin, test_batch.bin).")
    var input: String

    @Argument(help: "Output folder.")
    var output: String

    func run() throws {
        guard format == "cifar10" else { throw InputError("convert: unknown format '\(format)'; supported: cifar10") }
        let s = try CIFARConverter.convert(directory: input, output: output)
        say("\(s.trainPath): \(s.trainRecords) records")
        say("\(s.testPath): \(s.testRecords) records")
    }
}
