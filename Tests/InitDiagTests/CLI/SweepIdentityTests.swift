import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// A sweep folder holds one experiment: rerunning `sweep` into it with anything that defines the
/// runs changed is refused (exit 2, naming what differs) and leaves the old sweep untouched;
/// `--force` starts afresh.
@Suite("Sweep identity", .serialized)
struct SweepIdentityTests {
    /// Every file under `dir` with its bytes.
    static func contents(_ dir: URL) -> [String: Data] {
        var out: [String: Data] = [:]
        for f in CLIHarness.files(under: dir) where !f.hasPrefix(".std") {
            out[f] = (try? Data(contentsOf: dir.appendingPathComponent(f))) ?? Data()
        }
        return out
    }

    @Test("sweep A, then sweep B with another --data into the same --out: exit 2 naming --data, A unchanged; --force gives B's report")
    func collisionRefusedThenForced() throws {
        let dir = try CLIHarness.temporaryDirectory("sweep-id")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let out = dir.appendingPathComponent("sweep-out")
        func args(_ data: String, _ extra: [String] = []) -> [String] {
            ["sweep", "--solver", solver, "--data", data, "--batch-size", "2", "--iterations", "12", "--threads", "1",
             "--schemes", "w=caffe-msra,b=zero;w=caffe-xavier,b=zero", "--out", out.path] + extra
        }
        let a = try CLIHarness.run(args("synthetic:1"), in: dir, timeout: 300)
        #expect(a.status == 0, "\(a.stderr)")
        let before = Self.contents(out)
        #expect(before.keys.contains("summary.json"))
        usleep(1_100_000)   // a rewrite would change the modification time too

        let b = try CLIHarness.run(args("synthetic:2"), in: dir, timeout: 300)
        #expect(b.status == 2, "exit \(b.status): \(b.stdout.suffix(300))")
        #expect(b.errorLines.count == 1, "\(b.stderr)")
        let line = b.errorLines.first ?? ""
        #expect(line.contains("holds a sweep with --data synthetic:1, this one is synthetic:2"), "\(line)")
        #expect(line.contains("--force"), "\(line)")
        #expect(!b.stdout.contains("not run again"))
        #expect(Self.contents(out) == before, "the refused sweep changed the folder")

        // The same with another batch size: named as well.
        let c = try CLIHarness.run(args("synthetic:1").map { $0 == "2" ? "4" : $0 }, in: dir, timeout: 300)
        #expect(c.status == 2)
        #expect(c.errorLines.first?.contains("--batch-size 2, this one is 4") == true, "\(c.stderr)")
        #expect(Self.contents(out) == before)

        // The same command again resumes (nothing differs).
        let again = try CLIHarness.run(args("synthetic:1"), in: dir, timeout: 300)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("already"), "\(again.stdout.prefix(300))")

        // --force: B runs from scratch and the report is B's.
        let forced = try CLIHarness.run(args("synthetic:2", ["--force"]), in: dir, timeout: 300)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(!forced.stdout.contains("not run again"))
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as? [String: Any]
        #expect(summary?["data"] as? String == "synthetic:2", "\(String(describing: summary?["data"]))")
        let trace = try TraceReader(path: out.appendingPathComponent("traces/\(try Scheme(parsing: "w=caffe-msra,b=zero").slug).h5").path)
        #expect(trace.attributes["data"]?.stringValue == "synthetic:2")
        #expect(RunIdentity(trace: trace)?["data"] == "synthetic:2")
    }

    @Test("report refuses to merge traces of different experiments (shards of two sweeps)")
    func reportRefusesMixedTraces() throws {
        let dir = try CLIHarness.temporaryDirectory("report-mixed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, solver) = try CLIHarness.writeTinyNet(in: dir)
        let schemes = try Scheme.parseList("w=caffe-msra,b=zero;w=caffe-xavier,b=zero")
        func plan(_ out: String, _ data: String, shard: Int) -> SweepPlan {
            var p = SweepPlan(solverPath: solver, netPath: nil, data: data, schemes: schemes, iterations: 4, batchSize: 2, seed: 1,
                              outputDirectory: out, shard: (shard, 2), testIterations: 0, command: "test")
            p.threads = 1
            return p
        }
        let a = dir.appendingPathComponent("a").path, b = dir.appendingPathComponent("b").path
        try Sweep.run(plan(a, "synthetic:1", shard: 0)) { _ in }
        try Sweep.run(plan(b, "synthetic:2", shard: 1)) { _ in }
        // Shard 1 of the other sweep copied in beside shard 0.
        try FileManager.default.copyItem(atPath: b + "/traces/\(schemes[1].slug).h5", toPath: a + "/traces/\(schemes[1].slug).h5")
        #expect {
            try Sweep.writeReport(directory: a, schemes: nil, iterations: nil, command: "initdiag report")
        } throws: { e in
            let m = (e as? InputError)?.message ?? ""
            return m.contains("--data synthetic:1") && m.contains("synthetic:2") && m.contains("one report covers one experiment")
        }
    }

    @Test("a file of the user's own in --out survives --force")
    func forceRemovesOnlyOurFiles() throws {
        let dir = try CLIHarness.temporaryDirectory("sweep-force")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o")
        try FileManager.default.createDirectory(at: out.appendingPathComponent("traces"), withIntermediateDirectories: true)
        try "notes".write(to: out.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        try "x".write(to: out.appendingPathComponent("traces/mine.csv"), atomically: true, encoding: .utf8)
        try "old".write(to: out.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        try Sweep.removeSweepFiles(out.path)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("notes.txt").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("traces/mine.csv").path))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("summary.json").path))
    }

    @Test("identity: comments and layout of the prototxt do not count; a changed layer does; the line names each difference")
    func identityEntries() throws {
        let a = RunIdentity(entries: [("net", "aa"), ("data", "synthetic:1"), ("seed", "1")])
        let b = RunIdentity(entries: [("net", "bb"), ("data", "cifar10:x"), ("seed", "1")])
        let diffs = b.differences(recorded: a)
        #expect(diffs.count == 2)
        let line = RunIdentity.mismatchLine("out holds a sweep with", diffs)
        #expect(line == "out holds a sweep with a net whose content hash is aa and --data synthetic:1, this one has a net whose content hash is bb and --data cifar10:x")
        #expect(RunIdentity(json: a.json) == a)
        let t1 = try Prototxt.parseNet("name: \"n\"\nlayer { name: \"d\" type: \"Input\" top: \"x\" }\n", path: "t.prototxt")
        let t2 = try Prototxt.parseNet("# a comment\nname:   \"n\"  layer {name:\"d\" type:\"Input\" top:\"x\"}", path: "t.prototxt")
        let t3 = try Prototxt.parseNet("name: \"n\"\nlayer { name: \"e\" type: \"Input\" top: \"x\" }\n", path: "t.prototxt")
        #expect(RunIdentity.hash(Prototxt.format(t1)) == RunIdentity.hash(Prototxt.format(t2)))
        #expect(RunIdentity.hash(Prototxt.format(t1)) != RunIdentity.hash(Prototxt.format(t3)))
    }
}
