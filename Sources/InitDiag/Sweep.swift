import InitDiagCore
import InitDiagTrace
import InitDiagEngine
import InitDiagDiagnosis
import Foundation

/// `initdiag sweep`: one instrumented run per scheme, each stopped as soon as its verdict is
/// settled (`settledVerdict`) or at the iteration ceiling, then the report. Finished variants
/// (trace status finished or diverged) are not run again, so rerunning the same command resumes;
/// `shard` runs every n-th variant from i, for job arrays, and `report` merges the traces.
public struct SweepPlan: Sendable {
    public var solverPath: String?
    public var netPath: String?
    public var data: String?
    public var schemes: [Scheme]
    /// The iteration ceiling of every variant.
    public var iterations: Int
    public var batchSize: Int?
    public var seed: Int64?
    public var outputDirectory: String
    /// (i, n): run variants i, i+n, i+2n, … (0-based i).
    public var shard: (index: Int, count: Int)?
    public var testIterations: Int?
    /// Test every N iterations (nil: once, at the ceiling or where the variant settles).
    public var testInterval: Int?
    /// Start afresh: remove the sweep files already in `outputDirectory` (traces, figures,
    /// README.md, summary.json, report.html, fixed/) instead of refusing another experiment's.
    public var force = false
    public var recordEvery: Int = 1
    /// `--histogram-every` (TrainingOptions.histogramEvery).
    public var histogramEvery: Int = TrainingOptions.defaultHistogramEvery
    public var threads: Int = 1
    /// Stop each variant once `settledVerdict` settles it (default). Off (`--no-early-stop`):
    /// every variant runs to the ceiling, e.g. to record the full-run traces the settling rules
    /// are checked against (Tests/InitDiagTests/Diagnosis/SettleTests.swift).
    public var earlyStop = true
    /// `--input-shape` and `--classes` for synthetic data (RunSetup.load).
    public var inputShape: String? = nil
    public var classes: Int? = nil
    /// The command line, for the report.
    public var command: String
    /// `--lr`, `--momentum`, `--weight-decay`, `--momentum-style` (RunSetup.load).
    public var solverOverrides = SolverOverrides()

    public init(solverPath: String?, netPath: String?, data: String?, schemes: [Scheme], iterations: Int,
                batchSize: Int?, seed: Int64?, outputDirectory: String, shard: (index: Int, count: Int)?,
                testIterations: Int?, command: String) {
        self.solverPath = solverPath; self.netPath = netPath; self.data = data; self.schemes = schemes
        self.iterations = iterations; self.batchSize = batchSize; self.seed = seed
        self.outputDirectory = outputDirectory; self.shard = shard; self.testIterations = testIterations
        self.command = command
    }

    public static func parseShard(_ s: String) throws -> (index: Int, count: Int) {
        let parts = s.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n > 0, i >= 0, i < n else {
            throw InputError("--shard '\(s)': expected i/n with 0 ≤ i < n, e.g. 0/4")
        }
        return (i, n)
    }

    public var traceDirectory: String { (outputDirectory as NSString).appendingPathComponent("traces") }

    public func tracePath(_ scheme: Scheme) -> String {
        (traceDirectory as NSString).appendingPathComponent(scheme.slug + ".h5")
    }

    /// The variants this invocation runs (its shard), in sweep order.
    public var selected: [(index: Int, scheme: Scheme)] {
        schemes.enumerated().filter { k, _ in shard.map { k % $0.count == $0.index } ?? true }.map { ($0.offset, $0.element) }
    }
}

public enum SweepEvent: Sendable {
    case variantStarted(index: Int, of: Int, scheme: Scheme)
    case variantSkipped(index: Int, of: Int, scheme: Scheme, status: String)
    case variantFinished(index: Int, of: Int, scheme: Scheme, verdict: Verdict, iterations: Int, reason: String?)
    case training(TrainingEvent)
    case reportWritten(path: String)
}

public enum Sweep {
    /// Runs the plan's variants that are not finished yet, then writes the report from every trace
    /// in the output directory (all variants of the plan that have a trace).
    public static func run(_ plan: SweepPlan, emit: @escaping (SweepEvent) -> Void) throws {
        // What defines this sweep: every finished trace in the folder must be of the same
        // experiment, or the report would mix (or silently reuse) another sweep's runs.
        let base = try RunSetup.load(solverPath: plan.solverPath, netPath: plan.netPath, data: plan.data,
                                     scheme: Scheme(), seed: plan.seed, batchSize: plan.batchSize,
                                     overrides: plan.solverOverrides)
        let testIters = plan.testIterations ?? defaultTestIterations(base)
        let testInterval = plan.testInterval ?? (testIters > 0 ? plan.iterations : 0)
        let identity = sweepIdentity(plan, base: base, testIterations: testIters, testInterval: testInterval)
        if plan.force { try removeSweepFiles(plan.outputDirectory) } else { try checkSameExperiment(plan, identity: identity) }
        do {
            try FileManager.default.createDirectory(atPath: plan.traceDirectory, withIntermediateDirectories: true)
        } catch {
            // e.g. --out names an existing file: bad input (exit 2), not an internal failure.
            throw InputError("\(plan.traceDirectory): cannot create the sweep's trace folder (\(posixReason(error, path: plan.traceDirectory)))")
        }
        let total = plan.schemes.count
        for (k, scheme) in plan.selected {
            if InterruptSignal.isSet { break }
            let path = plan.tracePath(scheme)
            if let status = finishedStatus(path) {
                emit(.variantSkipped(index: k, of: total, scheme: scheme, status: status))
                continue
            }
            emit(.variantStarted(index: k, of: total, scheme: scheme))
            // A trace left by an interrupted run is replaced; it is written under a temporary name
            // and renamed once finished, so a finished trace is never half-written.
            let partial = path + ".partial"
            try? FileManager.default.removeItem(atPath: partial)
            let setup = try RunSetup.load(solverPath: plan.solverPath, netPath: plan.netPath, data: plan.data,
                                          scheme: scheme, seed: plan.seed, batchSize: plan.batchSize,
                                          inputShape: plan.inputShape, classes: plan.classes,
                                          overrides: plan.solverOverrides)
            var options = TrainingOptions()
            options.iterations = plan.iterations
            options.tracePath = partial
            // One LSUV snapshot per variant (w=lsuv,b=zero and w=lsuv,lr=0.1 must not overwrite
            // each other), named after the variant's trace.
            options.lsuvSnapshotPath = (plan.traceDirectory as NSString).appendingPathComponent(scheme.slug + ".lsuv.caffemodel.h5")
            options.stopWhenSettled = plan.earlyStop
            options.recordEvery = plan.recordEvery
            options.histogramEvery = plan.histogramEvery
            options.threads = plan.threads
            options.command = plan.command
            options.testIterations = testIters
            options.testInterval = testInterval
            options.identity = identity.setting("scheme", scheme.description)
            let trainer = try Trainer(setup: setup, options: options) { emit(.training($0)) }
            let result = try trainer.run()
            if result.status == .interrupted { break }
            try? FileManager.default.removeItem(atPath: path)
            try FileManager.default.moveItem(atPath: partial, toPath: path)
            emit(.variantFinished(index: k, of: total, scheme: scheme, verdict: result.diagnosis.verdict,
                                  iterations: result.iterations, reason: result.stopReason))
        }
        if InterruptSignal.isSet { return }
        if plan.shard == nil || plan.selected.allSatisfy({ finishedStatus(plan.tracePath($0.scheme)) != nil }) {
            let path = try writeReport(directory: plan.outputDirectory, schemes: plan.schemes, iterations: plan.iterations,
                                       command: plan.command, sources: (plan.solverPath, plan.netPath))
            emit(.reportWritten(path: path))
        }
    }

    /// The entries of a sweep's identity (see `RunIdentity`) that two sweeps must share for one
    /// folder to hold both: net, solver, data, batch size, seed, iteration ceiling, test_iter,
    /// test_interval, record_every. The scheme is per variant (its trace's file name); the thread
    /// count is recorded but not compared: a variant is never resumed part-way (an unfinished one
    /// runs again from iteration 0), so variants run with other thread counts are each a whole,
    /// reproducible run of the same experiment.
    static func sweepIdentity(_ plan: SweepPlan, base: RunSetup, testIterations: Int, testInterval: Int) -> RunIdentity {
        var options = TrainingOptions()
        options.iterations = plan.iterations
        options.testIterations = testIterations
        options.testInterval = testInterval
        options.recordEvery = plan.recordEvery
        options.histogramEvery = plan.histogramEvery
        options.threads = plan.threads
        let identity = RunIdentity(setup: base, options: options)
        // Full runs and early-stopped runs are different experiments: one folder holds one kind.
        return plan.earlyStop ? identity : identity.setting("early_stop", "off")
    }

    static let identityKeysNotCompared: Set<String> = ["scheme", "threads"]

    /// A trace in `DIR/traces/`: an `.h5` that is not a Caffe snapshot written beside the traces
    /// (`<slug>.lsuv.caffemodel.h5` of a `w=lsuv` variant; docs/schemes.md).
    static func isTraceFileName(_ name: String) -> Bool {
        name.hasSuffix(".h5") && !name.hasSuffix(".caffemodel.h5") && !name.hasSuffix(".solverstate.h5")
    }

    /// Refuses (InputError, exit 2) when a finished trace in the folder is of another experiment.
    static func checkSameExperiment(_ plan: SweepPlan, identity: RunIdentity) throws {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: plan.traceDirectory) else { return }
        let asked = identity.removing(identityKeysNotCompared)
        let out = plan.outputDirectory
        for name in names.sorted() where isTraceFileName(name) {
            let path = (plan.traceDirectory as NSString).appendingPathComponent(name)
            guard let reader = try? TraceReader(path: path) else {
                throw InputError("\(out) holds traces/\(name), which is not an initdiag trace; use another --out or --force to start afresh")
            }
            guard let recorded = RunIdentity(trace: reader) else {
                throw InputError("\(out) holds a sweep whose traces record no run identity (traces/\(name), an older initdiag), so it cannot be resumed safely; use another --out or --force to start afresh")
            }
            let diffs = asked.differences(recorded: recorded.removing(identityKeysNotCompared))
            if !diffs.isEmpty {
                throw InputError(RunIdentity.mismatchLine("\(out) holds a sweep with", diffs) + "; use another --out or --force to start afresh")
            }
        }
    }

    /// The files a sweep writes into its folder (and nothing else): traces/*.h5 and *.h5.partial,
    /// figures/*.svg, README.md, summary.json, report.html, fixed/; emptied folders go too.
    static func removeSweepFiles(_ directory: String) throws {
        let fm = FileManager.default
        func remove(_ path: String) throws {
            guard fm.fileExists(atPath: path) else { return }
            do { try fm.removeItem(atPath: path) } catch {
                throw InputError("\(path): cannot remove it to start afresh (\(error.localizedDescription))")
            }
        }
        let d = directory as NSString
        for (sub, suffixes) in [("traces", [".h5", ".h5.partial"]), ("figures", [".svg"])] {
            let folder = d.appendingPathComponent(sub)
            guard let names = try? fm.contentsOfDirectory(atPath: folder) else { continue }
            for n in names where suffixes.contains(where: n.hasSuffix) { try remove((folder as NSString).appendingPathComponent(n)) }
            if (try? fm.contentsOfDirectory(atPath: folder))?.isEmpty == true { try? fm.removeItem(atPath: folder) }
        }
        for f in ["README.md", "summary.json", "report.html", "fixed"] { try remove(d.appendingPathComponent(f)) }
    }

    /// About one pass over 1,000 test images: enough for a test accuracy, cheap next to training.
    static func defaultTestIterations(_ setup: RunSetup) -> Int {
        guard let declared = setup.solver.testIter.first, declared > 0 else { return 0 }
        return min(Int(declared), max(1, (1000 + setup.batchSize - 1) / max(1, setup.batchSize)))
    }

    /// "finished"/"diverged" for a trace that needs no rerun, nil otherwise.
    static func finishedStatus(_ path: String) -> String? {
        guard FileManager.default.fileExists(atPath: path), let r = try? TraceReader(path: path),
              let s = r.status, s == "finished" || s == "diverged" else { return nil }
        return s
    }

    /// Builds the report from the traces in `DIR/traces/`: the plan's schemes in order when given,
    /// otherwise every trace found (sorted by file name). Returns the README path.
    @discardableResult
    public static func writeReport(directory: String, schemes: [Scheme]?, iterations: Int?, command: String,
                                   sources: (solver: String?, net: String?)? = nil) throws -> String {
        let traceDir = (directory as NSString).appendingPathComponent("traces")
        var files: [String]
        if let schemes {
            files = schemes.map { $0.slug + ".h5" }.filter { FileManager.default.fileExists(atPath: (traceDir as NSString).appendingPathComponent($0)) }
        } else {
            guard let list = try? FileManager.default.contentsOfDirectory(atPath: traceDir) else {
                throw InputError("\(traceDir): no traces folder; run `initdiag sweep --out \(directory)` first")
            }
            files = list.filter(isTraceFileName).sorted()
        }
        guard !files.isEmpty else { throw InputError("\(traceDir): no traces to report on") }
        var variants: [SweepVariantResult] = []
        var netName = "", data = "", maxIterations = 0
        for f in files {
            let record = try RunRecord(trace: (traceDir as NSString).appendingPathComponent(f))
            let d = diagnose(record)
            // The net's name, else its file (a prototxt without `name:`, like the seed's).
            if let name = record.attributes["net_name"], !name.isEmpty {
                netName = name
            } else if let path = record.attributes["net_path"], !path.isEmpty, netName.isEmpty {
                netName = (path as NSString).lastPathComponent
            }
            data = record.attributes["data"] ?? data
            maxIterations = max(maxIterations, (record.iterations.last ?? -1) + 1)
            variants.append(SweepVariantResult(scheme: record.scheme, slug: String(f.dropLast(3)), trace: "traces/" + f,
                                               run: record, diagnosis: d, testAccuracy: record.testAccuracy.last))
        }
        // One report, one experiment: shards merged here must share what defines their runs.
        var firstIdentity: (file: String, identity: RunIdentity)?
        for (f, v) in zip(files, variants) {
            guard let json = v.run.attributes["run_identity"], let id = RunIdentity(json: json) else { continue }
            let compared = id.removing(identityKeysNotCompared)
            guard let first = firstIdentity else { firstIdentity = (f, compared); continue }
            let diffs = compared.differences(recorded: first.identity)
            if !diffs.isEmpty {
                throw InputError(RunIdentity.mismatchLine("\(traceDir): \(first.file) is of a run with", diffs)
                                 .replacingOccurrences(of: ", this one", with: ", \(f)") + "; one report covers one experiment")
            }
        }
        // To reproduce: the sweep command(s) the traces recorded (one per shard), then this one if
        // it differs (`initdiag report` merging shards).
        var commands: [String] = []
        for v in variants { if let c = v.run.attributes["command"], !commands.contains(c) { commands.append(c) } }
        if !commands.contains(command) { commands.append(command) }
        try writeSweepReport(directory: directory, netName: netName.isEmpty ? "net" : netName, data: data,
                             iterations: iterations ?? maxIterations, variants: variants,
                             command: commands.joined(separator: "\n"),
                             machine: machineDescription(),
                             fix: fixedCopy(variants: variants, sources: sources ?? (nil, variants.first?.run.attributes["net_path"]),
                                            solverKnown: sources != nil))
        return (directory as NSString).appendingPathComponent("README.md")
    }

    /// The fixed copy of the user's files for the best variant that trained (`rankedLearners`):
    /// `PrototxtFix` makes the text edits, the report writes them with their diff.
    static func fixedCopy(variants: [SweepVariantResult], sources: (solver: String?, net: String?),
                          solverKnown: Bool = true) -> FixedCopyOutcome {
        guard let best = rankedLearners(variants.map(\.outcome)).first else {
            return .notWritten("no variant trained, so there is no edit this sweep has shown to work")
        }
        do {
            let scheme = try Scheme(parsing: best.scheme)
            if scheme == Scheme() { return .notWritten("the variant that trained best is the net as declared: it needs no edit") }
            if !solverKnown && scheme.lrFactor != 1 {
                return .notWritten("`\(scheme)` changes base_lr, and the traces do not record the solver file; `initdiag sweep` with the same arguments writes it")
            }
            func read(_ path: String) throws -> String {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw InputError("\(path): cannot read it") }
                return text
            }
            var solver: SolverParameter? = nil, solverText: String? = nil, solverNamesNet = false
            if let path = sources.solver {
                solverText = try read(path)
                solver = try Prototxt.parseSolver(solverText!, path: path).0
                solverNamesNet = solver?.net != nil || solver?.trainNet != nil
            }
            // The net file: --net, else the one the solver names (RunSetup's rule), else inline.
            var netPath = sources.net
            if netPath == nil, let s = solver, let path = sources.solver, s.netParam == nil, s.trainNetParam == nil {
                netPath = try RunSetup.solverNet(s, solverPath: path).sourcePath
            }
            let net: NetParameter, netText: String?
            if let netPath {
                netText = try read(netPath)
                net = try Prototxt.parseNet(netText!, path: netPath)
            } else if let inline = solver?.netParam ?? solver?.trainNetParam {
                netText = nil
                net = inline
            } else {
                return .notWritten("the sweep's net file is not known to this report")
            }
            if solver == nil, scheme.lrFactor != 1 { solver = try RunSetup.load(solverPath: nil, netPath: netPath, data: "synthetic", scheme: Scheme(), seed: nil, batchSize: nil).solver }
            let netName = netPath.map { ($0 as NSString).lastPathComponent }
            let fix = try PrototxtFix.make(scheme: scheme, net: net, netText: netText, solverText: solverText, solver: solver,
                                           fixedNetName: netName, solverNamesNet: solverNamesNet)
            var files: [FixedCopyFile] = []
            if let text = fix.netText, let netPath, let netText, let netName {
                files.append(FixedCopyFile(name: netName, originalPath: netPath, original: netText, fixed: text))
            }
            if let text = fix.solverText {
                let name = sources.solver.map { ($0 as NSString).lastPathComponent } ?? "solver.prototxt"
                files.append(FixedCopyFile(name: files.contains { $0.name == name } ? "fixed_" + name : name,
                                           originalPath: sources.solver ?? "", original: solverText ?? "", fixed: text))
            }
            return .written(FixedCopy(scheme: scheme.description, files: files, edits: fix.edits, notes: fix.notes))
        } catch {
            return .notWritten("\((error as? InputError)?.message ?? "\(error)")")
        }
    }

    /// "2 cores, 23.4 GiB, AMD EPYC …, OpenBLAS Cooperlake, Linux 6.1".
    public static func machineDescription() -> String {
        let info = ProcessInfo.processInfo
        var cpu = "unknown CPU"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let name = line.split(separator: ":", maxSplits: 1).last {
            cpu = name.trimmingCharacters(in: .whitespaces)
        }
        return "\(info.activeProcessorCount) cores, \(MemoryGuard.format(Int(clamping: info.physicalMemory))), \(cpu), OpenBLAS \(blasCoreName()), \(info.operatingSystemVersionString)"
    }
}

/// Why a folder could not be created, as one short line: mkdir(2)'s own reason for the path
/// (Foundation's error text on Linux is "The operation could not be completed").
func posixReason(_ error: Error, path: String) -> String {
    if mkdir(path, 0o777) != 0 { return String(cString: strerror(errno)) }
    rmdir(path)
    return (error as NSError).localizedDescription
}
