import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The command line without traps: what `--help` lists works, every command takes `--net`, range
/// errors say the range, semantic errors name file and line, notes appear only when they apply.
@Suite("CLI traps", .serialized)
struct CLITrapsTests {
    func tiny(_ label: String) throws -> (dir: URL, net: String, solver: String) {
        let dir = try CLIHarness.temporaryDirectory(label)
        let (net, solver) = try CLIHarness.writeTinyNet(in: dir)
        return (dir, net, solver)
    }

    @Test("sweep --help lists --scheme and sweep accepts it (a one-variant sweep); --test-interval is taken")
    func sweepScheme() throws {
        let (dir, _, solver) = try tiny("trap-scheme")
        defer { try? FileManager.default.removeItem(at: dir) }
        let help = try CLIHarness.run(["sweep", "--help"], in: dir)
        #expect(help.stdout.contains("--scheme") && help.stdout.contains("--test-interval") && help.stdout.contains("--force"))
        let out = try CLIHarness.run(["sweep", "--solver", solver, "--data", "synthetic", "--batch-size", "2", "--iterations", "3",
                                      "--threads", "1", "--scheme", "w=caffe-msra,b=zero", "--test-interval", "5",
                                      "--out", dir.appendingPathComponent("o").path], in: dir, timeout: 120)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("== variant 1 of 1: w=caffe-msra,b=zero"), "\(out.stdout.prefix(300))")
        let trace = try TraceReader(path: dir.appendingPathComponent("o/traces/\(try Scheme(parsing: "w=caffe-msra,b=zero").slug).h5").path)
        #expect(RunIdentity(trace: trace)?["test_interval"] == "5")
        let both = try CLIHarness.run(["sweep", "--solver", solver, "--scheme", "w=caffe-msra,b=zero", "--schemes", "w=caffe-msra,b=zero"], in: dir)
        #expect(both.status == 2 && both.errorLines.count == 1, "\(both.stderr)")
    }

    @Test("inspect takes --net like every command (the positional stays); a solver file inspects its net")
    func inspectNet() throws {
        let (dir, net, solver) = try tiny("trap-inspect")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try CLIHarness.run(["inspect", "--net", net], in: dir)
        let b = try CLIHarness.run(["inspect", net], in: dir)
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        #expect(a.stdout == b.stdout && a.stdout.contains("conv1"))
        let s = try CLIHarness.run(["inspect", solver], in: dir)
        #expect(s.status == 0, "\(s.stderr)")
        #expect(s.stderr.contains("is a solver file; its net is \(net)"), "\(s.stderr)")
        #expect(!s.stderr.contains("unknown field"))
        #expect(s.stdout == a.stdout)
        let none = try CLIHarness.run(["inspect"], in: dir)
        #expect(none.status == 2 && none.errorLines.count == 1)
    }

    @Test("probe needs no --trace (as train); --iterations -1 gives the range, not 'Missing value'")
    func probeAndRanges() throws {
        let (dir, _, solver) = try tiny("trap-probe")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try CLIHarness.run(["probe", "--solver", solver, "--data", "synthetic", "--threads", "1"], in: dir, timeout: 120)
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout.contains("verdict:"))
        for (args, message) in [(["train", "--iterations", "-1"], "--iterations must be non-negative, got -1"),
                                (["sweep", "--iterations", "-1"], "--iterations must be at least 1, got -1"),
                                (["train", "--batch-size", "-4"], "--batch-size must be positive, got -4"),
                                (["train", "--test-interval", "-2"], "--test-interval must be non-negative, got -2"),
                                (["train", "--threads", "0"], "--threads must be positive, got 0")] {
            let out = try CLIHarness.run(args + ["--solver", solver], in: dir)
            #expect(out.status == 2, "\(args): exit \(out.status)")
            #expect(out.errorLines.count == 1 && out.errorLines[0].contains(message), "\(args): \(out.stderr)")
            #expect(!out.stderr.contains("Missing value"))
        }
    }

    @Test("--help documents exit code 130 and points at docs/, never at docs/README.md (README neither)")
    func helpDocs() throws {
        let dir = try CLIHarness.temporaryDirectory("trap-help")
        defer { try? FileManager.default.removeItem(at: dir) }
        for cmd in [[], ["train"], ["sweep"]] {
            let h = try CLIHarness.run(cmd + ["--help"], in: dir)
            #expect(h.stdout.contains("130"), "\(cmd) --help does not document 130")
            #expect(h.stdout.contains("docs/"), "\(cmd)")
        }
        for cmd in [[], ["inspect"], ["probe"], ["train"], ["sweep"], ["report"], ["diagnose"], ["bench"], ["convert"]] {
            let h = try CLIHarness.run(cmd + ["--help"], in: dir)
            #expect(!h.stdout.contains("SPEC"), "\(cmd) --help points at SPEC")
        }
        let readme = try String(contentsOf: CLIHarness.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(!readme.contains("docs/README.md"))
    }

    @Test("semantic errors name file and line; inspect refuses an unknown filler type")
    func semanticErrorsLocated() throws {
        let (dir, net, solver) = try tiny("trap-semantic")
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = try String(contentsOfFile: net, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let convLine = (lines.firstIndex { $0.contains("type: \"Convolution\"") } ?? 0) + 1
        // An unknown filler type on the conv.
        try text.replacingOccurrences(of: "num_output: 4 kernel_size: 3 stride: 2 weight_filler { type: \"xavier\" }",
                                      with: "num_output: 4 kernel_size: 3 stride: 2 weight_filler { type: \"xavierr\" }")
            .write(toFile: net, atomically: true, encoding: .utf8)
        let i = try CLIHarness.run(["inspect", "--net", net], in: dir)
        #expect(i.status == 2, "exit \(i.status): \(i.stdout)")
        #expect(i.errorLines.first?.hasPrefix("initdiag: error: net.prototxt:\(convLine): ") == true, "\(i.stderr)")
        #expect(i.errorLines.first?.contains("unknown filler type 'xavierr'") == true)
        #expect(!i.stdout.contains("(unknown)"))
        let t = try CLIHarness.run(["train", "--solver", solver, "--data", "synthetic", "--iterations", "1"], in: dir)
        #expect(t.status == 2)
        #expect(t.errorLines.first?.hasPrefix("initdiag: error: net.prototxt:\(convLine): ") == true, "\(t.stderr)")
        // A kernel larger than the padded input: the conv's shape check, located.
        try text.replacingOccurrences(of: "kernel_size: 3 stride: 2", with: "kernel_size: 40 stride: 2")
            .write(toFile: net, atomically: true, encoding: .utf8)
        let k = try CLIHarness.run(["inspect", "--net", net], in: dir)
        #expect(k.status == 2)
        #expect(k.errorLines.first?.hasPrefix("initdiag: error: net.prototxt:\(convLine): ") == true, "\(k.stderr)")
        // Stride 0.
        try text.replacingOccurrences(of: "kernel_size: 3 stride: 2", with: "kernel_size: 3 stride: 0")
            .write(toFile: net, atomically: true, encoding: .utf8)
        let z = try CLIHarness.run(["inspect", "--net", net], in: dir)
        #expect(z.status == 2)
        #expect(z.errorLines.first?.hasPrefix("initdiag: error: net.prototxt:\(convLine): ") == true, "\(z.stderr)")
    }

    @Test("the solver_mode GPU note only when the solver says GPU; a trace in a missing folder; cifar10: on the parent folder")
    func notesAndPaths() throws {
        let (dir, _, solver) = try tiny("trap-notes")
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = try CLIHarness.run(["probe", "--solver", solver, "--data", "synthetic", "--threads", "1"], in: dir, timeout: 120)
        #expect(plain.status == 0)
        #expect(!plain.stderr.contains("GPU"), "\(plain.stderr)")
        try (String(contentsOfFile: solver, encoding: .utf8) + "solver_mode: GPU\n").write(toFile: solver, atomically: true, encoding: .utf8)
        let gpu = try CLIHarness.run(["probe", "--solver", solver, "--data", "synthetic", "--threads", "1"], in: dir, timeout: 120)
        #expect(gpu.status == 0)
        #expect(gpu.stderr.contains("solver_mode GPU"), "\(gpu.stderr)")

        let missing = dir.appendingPathComponent("nope/T.h5").path
        let t = try CLIHarness.run(["train", "--solver", solver, "--data", "synthetic", "--iterations", "1", "--trace", missing], in: dir)
        #expect(t.status == 2)
        #expect(t.errorLines.count == 1 && t.errorLines[0].contains("folder \(dir.appendingPathComponent("nope").path) does not exist"), "\(t.stderr)")
        #expect(!t.stderr.contains("HDF5"))

        let parent = dir.appendingPathComponent("cifar")
        let batches = parent.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: batches, withIntermediateDirectories: true)
        for name in ["data_batch_1.bin", "test_batch.bin"] {
            try Data(count: 3073).write(to: batches.appendingPathComponent(name))
        }
        let c = try CLIHarness.run(["probe", "--solver", solver, "--data", "cifar10:\(parent.path)", "--threads", "1"], in: dir, timeout: 120)
        #expect(c.status == 2)
        #expect(c.errorLines.first?.contains("its subfolder cifar-10-batches-bin holds them: use cifar10:\(batches.path)") == true, "\(c.stderr)")
    }
}
