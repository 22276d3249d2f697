import ArgumentParser
import Dispatch
import Foundation
import InitDiag

/// Flags shared by the commands that run a net.
struct RunFlags: ParsableArguments {
    @Option(help: "The solver prototxt (its `net` is resolved relative to the solver's folder).")
    var solver: String?

    @Option(help: "The net prototxt (overrides the solver's net; alone, runs with a fixed-lr SGD solver).")
    var net: String?

    @Option(help: ArgumentHelp("Where the images come from: cifar10:DIR, mnist:DIR, lmdb:PATH, leveldb:PATH, synthetic[:SEED] or hdf5:LIST.",
                               discussion: "Without --data each Data layer reads its data_param.source (LMDB or LevelDB, per its backend) and each HDF5Data layer its hdf5_data_param.source."))
    var data: String?

    @Option(help: "The record shape synthetic data generates, C,H,W before the crop (default: what the net's data layer implies).")
    var inputShape: String?

    @Option(help: "The number of classes synthetic labels take (default: the classifier's num_output).")
    var classes: Int?

    @Option(help: "Initialisation scheme, e.g. 'w=caffe-msra,b=zero' or 'w=torch-default,b=torch-default,bn=on,lr=0.1'. Default: as declared.")
    var scheme: String?

    @Option(parsing: .unconditional, help: "Overrides every Data layer's batch_size (and an Input layer's first dimension).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Seeds the run's generator (overrides the solver's random_seed; default 1701).")
    var seed: Int64?

    @Option(parsing: .unconditional, help: "Threads for the engine and OpenBLAS (default: all cores). Same seed and thread count give identical traces.")
    var threads: Int?

    @Option(name: .customLong("lr"), parsing: .unconditional, help: "Overrides the solver's base_lr (an ONNX net without --solver: PyTorch's SGD, lr 0.01).")
    var baseLr: Float?

    @Option(parsing: .unconditional, help: "Overrides the solver's momentum (ONNX default 0.9).")
    var momentum: Float?

    @Option(parsing: .unconditional, help: "Overrides the solver's weight_decay (ONNX default 5e-4, on every parameter as PyTorch applies it: biases and BatchNorm's affine too).")
    var weightDecay: Float?

    @Option(help: "caffe: v ← μv + lr·g, w −= v (Caffe). torch: v ← μv + g, w −= lr·v (PyTorch's SGD). SGD and Nesterov only. Default: torch for an ONNX net without --solver, caffe otherwise.")
    var momentumStyle: MomentumStyle?

    var overrides: SolverOverrides {
        SolverOverrides(baseLr: baseLr, momentum: momentum, weightDecay: weightDecay, momentumStyle: momentumStyle)
    }

    /// Range checks (exit 2, one line) before anything runs. Numeric options parse their value
    /// unconditionally, so `--iterations -1` reaches these checks instead of ArgumentParser's
    /// "Missing value" (it would read -1 as an option).
    func validate() throws {
        if let b = batchSize, b < 1 { throw ValidationError("--batch-size must be positive, got \(b)") }
        if let s = seed, s < 0 { throw ValidationError("--seed must be non-negative, got \(s)") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be positive, got \(t)") }
        if let p = overrides.problem() { throw ValidationError(p) }
    }

    func setup() throws -> RunSetup {
        if solver == nil && net == nil { throw InputError("give --solver SOLVER.prototxt or --net NET.prototxt") }
        let s = try scheme.map { try Scheme(parsing: $0) } ?? Scheme()
        let setup = try RunSetup.load(solverPath: solver, netPath: net, data: data, scheme: s, seed: seed, batchSize: batchSize,
                                      inputShape: inputShape, classes: classes, overrides: overrides)
        for n in setup.notices { note(n.message) }
        return setup
    }

    var threadCount: Int {
        get throws {
            if let t = threads {
                guard t > 0 else { throw InputError("--threads must be positive, got \(t)") }
                return t
            }
            return ProcessInfo.processInfo.activeProcessorCount
        }
    }
}

/// Standard output, written through at once (not block-buffered), so a sweep's progress reaches
/// a log file or a pipe as it happens.
func say(_ s: String, terminator: String = "\n") {
    FileHandle.standardOutput.write(Data((s + terminator).utf8))
}

func note(_ s: String) { FileHandle.standardError.write(Data("initdiag: note: \(s)\n".utf8)) }

func printError(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

/// SIGINT and SIGTERM ask the run to stop at the next iteration boundary, or after the current
/// batch of a test phase (the trace is then finished as `interrupted` and, with --snapshot, a
/// snapshot is written as Caffe's Solve() does after a SIGINT stop, so `--resume` continues);
/// a second signal ends the process at once (exit 130).
enum Signals {
    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []

    static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                if InterruptSignal.isSet { Foundation.exit(130) }
                InterruptSignal.set()
                printError("\ninitdiag: interrupted; finishing the current iteration (or test batch), writing a snapshot when --snapshot is given, closing the trace (again to quit now)\n")
            }
            src.resume()
            sources.append(src)
        }
    }
}

/// Progress on a terminal: one line rewritten in place; elsewhere (a log file, CI) one line per
/// `logInterval` seconds on stderr, besides Caffe's periodic lines on stdout. Iterations are
/// Caffe's numbers (the one just done, as its display line says). In a sweep the line names the
/// variant k of n, its ETA (an upper bound: a variant stops once its verdict settles) and the
/// sweep's. `quiet`: no progress and no Caffe lines.
final class ProgressPrinter: @unchecked Sendable {
    let isTerminal = isatty(STDERR_FILENO) != 0
    var quiet = false
    var logInterval: Double = 30
    var prefix = ""
    /// In a sweep: variants of this invocation finished so far, how many it runs, when it began.
    var sweep: (done: Int, total: Int, started: Date)?
    private var lastPrint = Date()

    func handle(_ e: TrainingEvent) {
        guard !quiet else { return }
        switch e.kind {
        case .log(let line):
            if isTerminal { printError("\r\u{1B}[K") }
            say(line)
        case let .progress(iteration, total, loss, lr, itPerSec):
            let now = Date()
            let wait = isTerminal ? 0.2 : logInterval
            guard now.timeIntervalSince(lastPrint) >= wait || (isTerminal && iteration == total - 1) else { return }
            lastPrint = now
            let eta = itPerSec > 0 ? Double(max(0, total - iteration - 1)) / itPerSec : .infinity
            var text = String(format: "%@iteration %d of %d  loss %.4f  lr %.3g  %.2f it/s  ETA %@%@", prefix, iteration, total,
                              Double(loss), Double(lr), itPerSec, sweep == nil ? "" : "≤ ", formatDuration(eta))
            if let sw = sweep, sw.total > 0 {
                let done = Double(sw.done) + Double(iteration + 1) / Double(max(1, total))
                let elapsed = now.timeIntervalSince(sw.started)
                text += "  sweep ETA ≤ " + formatDuration(done > 0 ? elapsed * (Double(sw.total) - done) / done : .infinity)
            }
            printError(isTerminal ? "\r\u{1B}[K" + text : "progress: " + text + "\n")
        }
    }

    func finishLine() { if isTerminal && !quiet { printError("\r\u{1B}[K") } }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, (t % 3600) / 60)
        : t >= 60 ? String(format: "%dm%02ds", t / 60, t % 60) : "\(t)s"
}

extension MomentumStyle: ExpressibleByArgument {}

/// This command line as a shell would need it typed again (`initdiag` and the arguments, each
/// quoted when it holds anything beyond letters, digits and `_./:=,+@%-`): for traces and reports.
func invocation() -> String {
    let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,+@%-")
    return (["initdiag"] + CommandLine.arguments.dropFirst().map { arg in
        arg.isEmpty || !arg.allSatisfy(plain.contains) ? "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'" : arg
    }).joined(separator: " ")
}
