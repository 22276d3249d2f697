import InitDiagBench
import ArgumentParser
import InitDiag

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training iterations of a net: median forward, backward, update, per layer, and peak memory.",
        discussion: "Default data is the built-in synthetic set. Compare side by side with scripts/reference/bench_torch.py (same net, same threads) — see Reports/BENCHMARKS.md.")

    @OptionGroup var flags: RunFlags

    @Option(parsing: .unconditional, help: "Timed iterations after 2 warm-up iterations.")
    var iterations: Int = 5

    @Option(help: "Record statistics (on) or not (off); 'alternate' measures their cost side by side: in one process, rounds of three iterations (off, on without histograms, on with histograms, the order cycling) and each overhead is the median paired difference.")
    var probes: ProbesMode = .on

    @Flag(help: "Time only the probes' statistics kernels on blobs shaped like the seed net's at --batch-size (default 128), against a plain sum of the same bytes and the plain ReLU passes; no training.")
    var statisticsOnly = false

    @Flag(help: "Time every convolution algorithm that applies (im2col-gemm, winograd-f23, winograd-f43) on the seed net's 16 3×3 layers at --batch-size (default 128), forward + backward side by side, and show which one the automatic choice takes; no training.")
    var convolutions = false

    @Flag(help: "Print JSON: {iteration_s, forward_s, backward_s, update_s, peak_rss_bytes, layers: [{name, forward_s, backward_s}]}.")
    var json = false

    func validate() throws {
        guard iterations > 0 else { throw ValidationError("--iterations must be positive, got \(iterations)") }
    }

    func run() throws {
        if convolutions {
            say(try ConvBench.compareAlgorithms(batch: flags.batchSize ?? 128, threads: try flags.threadCount))
            return
        }
        if statisticsOnly {
            say(ProbeBenchmark.run(batch: flags.batchSize ?? 128, threads: try flags.threadCount))
            return
        }
        var f = flags
        if f.data == nil { f.data = "synthetic" }
        let setup = try f.setup()
        if probes == .alternate {
            let result = try Bench.runAlternating(setup: setup, pairs: iterations, threads: try f.threadCount)
            say(json ? result.json() : result.table(), terminator: json ? "\n" : "")
            return
        }
        let result = try Bench.run(setup: setup, iterations: iterations, probes: probes == .on, threads: try f.threadCount)
        say(json ? result.json() : result.table(), terminator: json ? "\n" : "")
    }
}

enum ProbesMode: String, ExpressibleByArgument, CaseIterable { case on, off, alternate }
