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

    @Option(help: ArgumentHelp("Where the images come from: cifar10:DIR, mnist:DIR, lmdb:PATH, leveldb:PATH or synthetic[:SEED].",
                               discussion: "Without --data each Data layer reads its data_param.source (LMDB or LevelDB, per its backend)."))
    var data: String?

    @Option(help: "The record shape synthetic data generates, C,H,W before the crop (default: what the net's data layer implies).")
    var inputShape: String?

    @Option(help: "The number of classes synthetic labels take (default: the classifier's num_output).")
    var classes: Int?

    @Option(help: "Initialisation scheme, e.g. 'w=caffe-msra,b=zero' or 'w=torch-default,b=torch-default,bn=on,lr=0.1'. Default: as declared.")
    var scheme: String?

    @Option(help: "Overrides every Data layer's batch_size (and an Input layer's first dimension).")
    var batchSize: Int?

    @Option(help: "Seeds the run's generator (overrides the solver's random_seed; default 1701).")
    var seed: Int64?

    @Option(help: "Threads for the engine and OpenBLAS (default: all cores). Same seed and thread count give identical traces.")
    var threads: Int?

    func setup() throws -> RunSetup {
        if solver == nil && net == nil { throw InputError("give --solver SOLVER.prototxt or --net NET.prototxt") }
        let s = try scheme.map { try Scheme(parsing: $0) } ?? Scheme()
        let setup = try RunSetup.load(solverPath: solver, netPath: net, data: data, scheme: s, seed: seed, batchSize: batchSize,
                                      inputShape: inputShape, classes: classes)
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

/// SIGINT and SIGTERM ask the run to stop at the next iteration boundary (the trace is then
/// finished as `interrupted`); a second signal ends the process at once.
enum Signals {
    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []

    static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                if InterruptSignal.isSet { Foundation.exit(130) }
                InterruptSignal.set()
                printError("\ninitdiag: interrupted; finishing the current iteration and closing the trace (again to quit now)\n")
            }
            src.resume()
            sources.append(src)
        }
    }
}

/// Progress on a terminal: one line rewritten in place; elsewhere (logs, CI) Caffe's periodic lines.
final class ProgressPrinter: @unchecked Sendable {
    let isTerminal = isatty(STDERR_FILENO) != 0
    var prefix = ""
    private var lastPrint = Date.distantPast

    func handle(_ e: TrainingEvent) {
        switch e.kind {
        case .log(let line):
            if isTerminal { printError("\r\u{1B}[K") }
            say(line)
        case let .progress(iteration, total, loss, lr, itPerSec):
            guard isTerminal else { return }
            let now = Date()
            guard now.timeIntervalSince(lastPrint) > 0.2 || iteration == total else { return }
            lastPrint = now
            let eta = itPerSec > 0 ? Double(total - iteration) / itPerSec : 0
            printError(String(format: "\r\u{1B}[K%@iter %d/%d  loss %.4f  lr %.3g  %.2f it/s  ETA %@",
                              prefix, iteration, total, Double(loss), Double(lr), itPerSec, formatDuration(eta)))
        }
    }

    func finishLine() { if isTerminal { printError("\r\u{1B}[K") } }
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
