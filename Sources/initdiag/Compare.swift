import ArgumentParser
import Foundation
import InitDiag

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two nets layer by layer and list every difference that changes training; --run sweeps both.",
        discussion: """
        A and B are each a solver prototxt (its net is compared), a net prototxt or an ONNX file. \
        The nets are aligned by structure (weighted layers and their shapes, BatchNorm, ReLU, \
        pooling, Dropout), not by names, and the differences are listed with their numbers: \
        architecture (layers on one side only), each aligned layer's initialisation (the filler and \
        the variance it gives; for an ONNX file the measured variance and PyTorch's default rule), \
        the solver (rate, momentum style, weight decay on biases), the data preprocessing. With \
        --run both sides are swept on --data: each as declared and with the other side's \
        BatchNorm (bn=on) or bias initialisation (b=torch-default, b=caffe-xavier) swapped in where a \
        scheme can do it, and the report names which swaps flip the verdict (docs/compare.md).
        """)

    @Argument(help: "The first net: a solver prototxt, a net prototxt or an ONNX file.")
    var a: String

    @Argument(help: "The second net, as A.")
    var b: String

    @Option(help: "A solver prototxt for A when A is a net file (default: Caffe's fixed-lr SGD for a prototxt, PyTorch's SGD for ONNX).")
    var solverA: String?

    @Option(help: "A solver prototxt for B when B is a net file.")
    var solverB: String?

    @Option(help: "Write DIR/README.md and DIR/summary.json (with --run also the sweeps DIR/a and DIR/b).")
    var out: String?

    @Flag(name: .customLong("run"), help: "Sweep both sides on --data (needs --out): as declared and with each cheap swap.")
    var runSweeps = false

    @Option(help: "The data both sides run on with --run (as in train: cifar10:DIR, synthetic, …).")
    var data: String?

    @Option(parsing: .unconditional, help: "The iteration ceiling of every run (variants settle earlier).")
    var iterations: Int = 150

    @Option(parsing: .unconditional, help: "The batch size of every run (default: each side's own).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Test batches per test phase (default: ⌈1000 / batch size⌉, so both sides test).")
    var testIter: Int?

    @Option(parsing: .unconditional, help: "Seeds every run (default 1701 or the solver's random_seed).")
    var seed: Int64?

    @Option(parsing: .unconditional, help: "Threads per run (default: all cores).")
    var threads: Int?

    @Option(help: "The sides whose swaps run with --run: a, b, or a,b (each side's as-declared run always runs).")
    var swapSides: String = "a,b"

    @Option(name: .customLong("note"), help: "A line for the report's Notes, e.g. how B was exported (repeatable).")
    var notes: [String] = []

    @Flag(help: "Print the summary JSON instead of the text.")
    var json = false

    func validate() throws {
        if runSweeps && out == nil { throw ValidationError("--run needs --out DIR (the sweeps and the report go there)") }
        if runSweeps && data == nil { throw ValidationError("--run needs --data (both sides run on the same data)") }
        let sides = swapSides.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if sides.isEmpty || !sides.allSatisfy({ $0 == "a" || $0 == "b" || $0 == "none" }) {
            throw ValidationError("--swap-sides must be a, b, a,b or none, got '\(swapSides)'")
        }
        if iterations < 1 { throw ValidationError("--iterations must be at least 1, got \(iterations)") }
        if let b = batchSize, b < 1 { throw ValidationError("--batch-size must be positive, got \(b)") }
        if let t = testIter, t < 0 { throw ValidationError("--test-iter must be non-negative, got \(t)") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be positive, got \(t)") }
        if let s = seed, s < 0 { throw ValidationError("--seed must be non-negative, got \(s)") }
    }

    func run() throws {
        let sideA = try CompareSide.load(label: "A", path: a, solver: solverA)
        let sideB = try CompareSide.load(label: "B", path: b, solver: solverB)
        for n in sideA.setup.notices + sideB.setup.notices { note(n.message) }
        let result = Compare.run(a: sideA, b: sideB)
        var runResult: CompareRunResult?
        if runSweeps, let out, let data {
            say(Compare.text(result))
            let batch = batchSize ?? min(sideA.setup.batchSize, sideB.setup.batchSize)
            var plan = CompareRunPlan(data: data, iterations: iterations, batchSize: batch, seed: seed,
                                      outputDirectory: out, command: invocation())
            plan.threads = try threads ?? ProcessInfo.processInfo.activeProcessorCount
            plan.testIterations = testIter ?? (1000 + batch - 1) / batch
            plan.swapSides = Set(swapSides.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0 != "none" })
            Signals.install()
            let started = Date()
            runResult = try Compare.runSweeps(result, plan: plan) { side, event in
                switch event {
                case let .variantStarted(k, n, scheme):
                    say("== \(side) variant \(k + 1) of \(n): \(scheme.description) (elapsed \(formatDuration(Date().timeIntervalSince(started))))")
                case let .variantSkipped(k, n, scheme, status):
                    say("== \(side) variant \(k + 1) of \(n): \(scheme.description) already \(status); not run again")
                case let .variantFinished(k, n, scheme, verdict, its, reason):
                    say("== \(side) variant \(k + 1) of \(n): \(scheme.description): \(verdict.rawValue) after \(its) iterations\(reason.map { " (\($0))" } ?? "")")
                case .training, .reportWritten: break
                }
            }
            if InterruptSignal.isSet {
                say("interrupted: finished variants are kept; rerun the same command to resume")
                throw ExitCode(130)
            }
        }
        if let out {
            do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
                throw InputError("\(out): cannot create the folder (\(error.localizedDescription))")
            }
            let md = Compare.markdown(result, run: runResult, commands: [invocation()], notes: notes)
            try write(md, to: (out as NSString).appendingPathComponent("README.md"))
            let object = Compare.json(result, run: runResult)
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            try write(String(decoding: data, as: UTF8.self) + "\n", to: (out as NSString).appendingPathComponent("summary.json"))
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: Compare.json(result, run: runResult), options: [.prettyPrinted, .sortedKeys])
            say(String(decoding: data, as: UTF8.self))
        } else if let runResult {
            say("")
            for line in runResult.deciding { say(line) }
        } else {
            say(Compare.text(result), terminator: "")
        }
        if let out { say("report: \((out as NSString).appendingPathComponent("README.md"))") }
    }

    func write(_ text: String, to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw InputError("\(path): cannot write it (\(error.localizedDescription))")
        }
    }
}
