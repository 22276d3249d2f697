import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagEngine

/// `initdiag compare` (docs/compare.md): the structural alignment, the differences and their
/// numbers, checked against independent references — the seed prototxt's own fillers (Caffe's
/// xavier: Var = 1/fan_in, on a 1-D bias fan_in 1), the ONNX file's initializers (two-pass
/// Double variance here), PyTorch's default rule Var = 1/(3·fan_in) — and `--run` end to end.
@Suite struct CompareTests {
    static let seed = ConformanceSupport.packageRoot + "/Fixtures/seed/solver.prototxt"
    static let onnx = ConformanceSupport.reference("onnx") + "/vgg19_bn_w16.onnx"

    static func item(_ k: CompareItem.Kind, _ name: String, _ shape: [Int] = []) -> CompareItem {
        CompareItem(kind: k, layer: name, type: k.rawValue, shape: shape)
    }

    /// Pairs by kind and order, not name; BatchNorm, Dropout and an extra classifier unmatched.
    @Test func alignmentByStructure() {
        let a = [Self.item(.conv, "c1", [4, 3, 3, 3]), Self.item(.relu, "r1"), Self.item(.maxPool, "p1", [2, 2]),
                 Self.item(.dropout, "d"), Self.item(.fc, "fc6", [8, 4]), Self.item(.relu, "r6"), Self.item(.fc, "fc8", [10, 8])]
        let b = [Self.item(.conv, "x0", [4, 3, 3, 3]), Self.item(.bn, "x1"), Self.item(.relu, "x2"), Self.item(.maxPool, "x3", [2, 2]),
                 Self.item(.fc, "x4", [10, 4])]
        let al = Compare.align(a, b).map { ($0.a.map { a[$0].layer }, $0.b.map { b[$0].layer }) }
        #expect(al.contains { $0 == ("c1", "x0") } && al.contains { $0 == ("r1", "x2") } && al.contains { $0 == ("p1", "x3") })
        #expect(al.contains { $0.0 == nil && $0.1 == "x1" })
        #expect(al.contains { $0 == ("d", nil) })
        // One classifier pairs with B's only Gemm, the other stays unmatched (2 FC in A, 1 in B).
        #expect(al.filter { $0.0?.hasPrefix("fc") == true && $0.1 == "x4" }.count == 1)
        #expect(al.filter { $0.0?.hasPrefix("fc") == true && $0.1 == nil }.count == 1)
        #expect(al.count == 8)
    }

    @Test func seedAgainstTheONNXExport() throws {
        let a = try CompareSide.load(label: "A", path: Self.seed, solver: nil)
        let b = try CompareSide.load(label: "B", path: Self.onnx, solver: nil)
        #expect(a.solverPath == Self.seed && a.netPath == nil && b.solverPath == nil)
        let r = Compare.run(a: a, b: b)
        let pairs = r.alignment.compactMap { p -> (String, String)? in
            guard let i = p.a, let j = p.b else { return nil }
            return (r.itemsA[i].layer, r.itemsB[j].layer)
        }
        #expect(pairs.contains { $0 == ("conv1_1", "/features/features.0/Conv") })
        #expect(pairs.contains { $0 == ("conv5_4", "/features/features.49/Conv") })
        #expect(pairs.contains { $0 == ("fc8", "/classifier/Gemm") })
        #expect(r.itemsA.filter { $0.kind == .conv }.count == 16 && r.itemsB.filter { $0.kind == .conv }.count == 16)

        let arch = r.differences.filter { $0.area == "architecture" }
        let bn = try #require(arch.first { $0.text.hasPrefix("BatchNorm") })
        #expect(bn.text.contains("B has 16") && bn.text.contains("after every convolution") && bn.swap == "a:w=as-declared,b=as-declared,bn=on")
        #expect(arch.contains { $0.text.hasPrefix("Dropout: A has 2") && $0.text.contains("drop6 (Dropout 0.5)") })
        #expect(arch.contains { $0.text.contains("A has 2 that B has no counterpart") && $0.text.contains("fc6") })
        // widths / 16 in the fixture: the shapes differ, and are said to.
        #expect(arch.contains { $0.text.hasPrefix("conv1_1 (Convolution 64×3×3×3) ↔ /features/features.0/Conv (Convolution 4×3×3×3)") })

        // conv1_1's bias: Caffe xavier on a 1-D blob → Var 1; the file's bias measured; PyTorch's
        // rule 1/(3·27).
        let bias = try #require(r.differences.first { $0.text.hasPrefix("conv1_1 ↔ /features/features.0/Conv bias") })
        #expect(bias.text.contains("Caffe xavier on a 1-D blob") && bias.text.contains("Var 1;"))
        #expect(bias.text.contains("Var 1/(3·27) = 0.01235"))
        #expect(bias.swap == "a:w=as-declared,b=torch-default; b:w=as-declared,b=caffe-xavier")
        let fileBias = try #require(try ONNXImport.importModel(path: Self.onnx).net.layer.first { $0.name == "/features/features.0/Conv" }).blobs[1].values.map(Double.init)
        let m = fileBias.reduce(0, +) / Double(fileBias.count)
        let v = fileBias.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(fileBias.count)
        let measured = try #require(r.itemsB.first { $0.layer == "/features/features.0/Conv" }?.bias)
        #expect(abs(measured.variance - v) <= 1e-9 * max(v, 1e-12) + 1e-15)
        #expect(bias.text.contains("Var \(cnum(v)) measured"))
        let w = try #require(r.itemsA.first { $0.layer == "conv1_1" }?.weight)
        #expect(abs(w.variance - 1.0 / 27) < 1e-6)   // xavier: (√(3/fan_in))²/3

        let solver = try #require(r.differences.first { $0.area == "solver" && $0.text.hasPrefix("A SGD") })
        #expect(solver.text.contains("base_lr 0.05 step") && solver.text.contains("(caffe style)") && solver.text.contains("base_lr 0.01 fixed"))
        #expect(solver.text.contains("(torch style)") && solver.text.contains("differ by 5×"))
        #expect(r.differences.contains { $0.text == "batch size: A 128, B 8" })
        #expect(r.same.contains { $0.hasPrefix("weight decay applies to the biases on both sides") })
        #expect(r.same.contains { $0.hasPrefix("data preprocessing: scale 0.003922, no mean") })

        let schemes = try Compare.runSchemes(r)
        #expect(schemes.a.map(\.0.description) == ["w=as-declared,b=as-declared", "w=as-declared,b=as-declared,bn=on",
                                                   "w=as-declared,b=torch-default", "w=as-declared,b=torch-default,bn=on"])
        #expect(schemes.a.last?.1 == "with B's BatchNorm and bias initialisation together")
        #expect(schemes.b.map(\.0.description) == ["w=as-declared,b=as-declared", "w=as-declared,b=caffe-xavier"])
        let onlyA = try Compare.runSchemes(r, sides: ["a"])
        #expect(onlyA.a.count == 4 && onlyA.b.map(\.0.description) == ["w=as-declared,b=as-declared"])
    }

    /// Outcome classes: learns / undecided (inconclusive) / does not learn (stuck, diverged).
    @Test func decidingSwaps() {
        func v(_ side: String, _ scheme: String, _ verdict: String, _ collapsed: String? = nil) -> CompareRunVariant {
            CompareRunVariant(side: side, scheme: scheme, role: scheme, verdict: verdict, iterations: 1, trace: "", firstCollapsed: collapsed)
        }
        #expect(Compare.outcomeClass("learning") == "learns" && Compare.outcomeClass("inconclusive") == "undecided")
        #expect(Compare.outcomeClass("stuck-at-chance") == "does not learn" && Compare.outcomeClass("diverged") == "does not learn")
        #expect(Compare.outcomeClass("plateau") == "undecided")   // a plateau may still be left
        let lines = Compare.deciding([v("A", "w=as-declared,b=as-declared", "stuck-at-chance", "conv3_2"),
                                      v("A", "w=as-declared,b=as-declared,bn=on", "inconclusive"),
                                      v("A", "w=as-declared,b=torch-default", "stuck-at-chance", "conv5_4"),
                                      v("B", "w=as-declared,b=as-declared", "learning"),
                                      v("B", "w=as-declared,b=caffe-xavier", "learning")])
        #expect(lines.count == 3)
        #expect(lines[0].contains("bn=on") && lines[0].contains("from \"does not learn\" to \"undecided\": this difference decides"))
        #expect(lines[0].contains("input gone from conv3_2 on") && lines[0].contains("no layer collapsed"))
        #expect(lines[1].contains("b=torch-default") && lines[1].contains("does not change the outcome")
                && lines[1].contains("moves the first collapsed layer from conv3_2 to conv5_4"))
        #expect(lines[2].hasPrefix("B ") && lines[2].contains("does not change the outcome"))
    }

    /// Neither swap alone changes A's outcome, both together do: "decide together".
    @Test func differencesThatDecideTogether() {
        func v(_ scheme: String, _ role: String, _ verdict: String) -> CompareRunVariant {
            CompareRunVariant(side: "A", scheme: scheme, role: role, verdict: verdict, iterations: 1, trace: "")
        }
        let lines = Compare.deciding([v("w=as-declared,b=as-declared", "as declared", "stuck-at-chance"),
                                      v("w=as-declared,b=as-declared,bn=on", "with B's BatchNorm", "stuck-at-chance"),
                                      v("w=as-declared,b=torch-default", "with B's bias initialisation", "stuck-at-chance"),
                                      v("w=as-declared,b=torch-default,bn=on", "with B's BatchNorm and bias initialisation together", "learning")])
        #expect(lines.count == 3)
        #expect(lines[0].contains("does not change") && lines[1].contains("does not change"))
        #expect(lines[2].contains("these differences decide together"))
    }

    /// End to end through the executable: a tiny prototxt against a tiny ONNX file, --run on
    /// synthetic data for 3 iterations: the report, the summary and both sweeps are written.
    @Test func compareRunThroughTheCLI() throws {
        _ = try CLIHarness.binary()
        let dir = try CLIHarness.temporaryDirectory("compare")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tiny = try CLIHarness.writeTinyNet(in: dir)
        let onnx = ConformanceSupport.packageRoot + "/Fixtures/broken/onnx/valid/model.onnx"
        let plain = try CLIHarness.run(["compare", tiny.solver, onnx], in: dir)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("differences that change training") && plain.stdout.contains("conv1 (Convolution 4×3×3×3)"))
        let out = dir.appendingPathComponent("cmp").path
        let run = try CLIHarness.run(["compare", tiny.solver, onnx, "--run", "--data", "synthetic", "--iterations", "3",
                                      "--threads", "1", "--out", out], in: dir, timeout: 120)
        #expect(run.status == 0, "\(run.stderr)")
        let md = try String(contentsOfFile: out + "/README.md", encoding: .utf8)
        #expect(md.contains("## What decides") && md.contains("## Runs side by side") && md.contains("## Commands"))
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as? [String: Any])
        let runs = try #require(summary["runs"] as? [[String: Any]])
        // A: as declared + B's bias rule; B: as exported + A's constant-0 bias.
        #expect(runs.map { "\($0["side"]!) \($0["scheme"]!)" } == ["A w=as-declared,b=as-declared", "A w=as-declared,b=torch-default",
                                                                   "B w=as-declared,b=as-declared", "B w=as-declared,b=zero"])
        for r in runs { #expect(FileManager.default.fileExists(atPath: out + "/" + (r["trace"] as! String))) }
        #expect(FileManager.default.fileExists(atPath: out + "/a/README.md") && FileManager.default.fileExists(atPath: out + "/b/README.md"))
    }
}
