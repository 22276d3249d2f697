import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagEngine

/// An ONNX file where a net is taken (issue 15): the solver it runs with when no solver file is
/// given, the command-line solver values, what the schemes do to the file's initializers, and the
/// input's scaling. References: the file's initializers read independently of the run (the
/// importer's blobs), PyTorch's rules (torch/nn/modules/conv.py reset_parameters: U(±1/√fan_in),
/// variance 1/(3·fan_in)) and Caffe's xavier on a 1-D bias (U(±√3), variance 1).
@Suite struct ONNXRunTests {
    static let model = ConformanceSupport.reference("onnx") + "/vgg19_bn_w16.onnx"

    static func setup(_ scheme: String = "w=as-declared", solver: String? = nil, overrides: SolverOverrides = SolverOverrides()) throws -> RunSetup {
        try RunSetup.load(solverPath: solver, netPath: model, data: "synthetic", scheme: try Scheme(parsing: scheme),
                          seed: 5, batchSize: 4, overrides: overrides)
    }

    /// The file's initializers by layer name (as imported, before any run).
    static func fileBlobs() throws -> [String: [[Float]]] {
        var out: [String: [[Float]]] = [:]
        for l in try ONNXImport.importModel(path: model).net.layer where !l.blobs.isEmpty { out[l.name] = l.blobs.map(\.values) }
        return out
    }

    static func trainNet(_ setup: RunSetup) throws -> Trainer {
        var o = TrainingOptions()
        o.iterations = 0
        o.threads = 1
        o.testIterations = 0
        return try Trainer(setup: setup, options: o)
    }

    @Test func theTraceKeepsTheNetWithoutTheFilesWeights() throws {
        // The trace's net_prototxt of an ONNX run: the layers, not the initializers (printed, the
        // full VGG19-BN's made a 460 MB attribute); the weights stay in the file net_path names.
        let setup = try Self.setup()
        let blobs = setup.net.layer.reduce(0) { $0 + $1.blobs.count }
        #expect(blobs > 0)
        let text = Trainer.netTextForTrace(setup.net)
        #expect(text.hasPrefix("# \(blobs) weight blobs of the net's file (net_path) left out of this copy\n"))
        #expect(!text.contains("blobs {"))
        #expect(text.contains("type: \"Convolution\""))
        #expect(text.utf8.count * 10 < Prototxt.format(setup.net).utf8.count)
        // A prototxt net has no blobs: its text is unchanged.
        let seed = try Prototxt.loadNet(path: fixture("seed/train_val.prototxt"))
        #expect(Trainer.netTextForTrace(seed) == Prototxt.format(seed))
    }

    @Test func noSolverFileGivesPyTorchSGD() throws {
        let s = try Self.setup()
        #expect(s.netFormat == .onnx)
        #expect(s.solver.type == "SGD" && s.solver.lrPolicy == "fixed" && s.solver.baseLr == 0.01)
        #expect(s.solver.momentum == 0.9 && s.solver.weightDecay == 5e-4)
        #expect(s.momentumStyle == .torch)
        #expect(s.inputTransform.scale == Float(1.0 / 255.0))
        #expect(s.notices.contains { $0.message.contains("no solver given") && $0.message.contains("torch style") })
        let t = try Self.trainNet(s)
        #expect((t.solver as? SolverBase)?.momentumStyle == .torch)
        // Weight decay on every parameter, as PyTorch applies it: biases and BatchNorm's γ, β
        // have decay_mult 1; only the running statistics are not learned.
        let bn = t.trainNet.params.filter { $0.displayName.contains("BatchNormalization") }
        let bnAffine = bn.filter { $0.lrMult != 0 }
        #expect(bnAffine.count == 2 * 16 && bnAffine.allSatisfy { $0.decayMult == 1 && $0.lrMult == 1 })
        #expect(bn.filter { $0.lrMult == 0 }.allSatisfy { $0.displayName.hasSuffix("/2") || $0.displayName.hasSuffix("/3") })
        #expect(t.trainNet.params.filter { $0.displayName.hasSuffix("/1") && $0.displayName.contains("Conv") }.allSatisfy { $0.decayMult == 1 })
    }

    @Test func commandLineSolverValues() throws {
        let s = try Self.setup(overrides: SolverOverrides(baseLr: 0.05, momentum: 0.5, weightDecay: 0, momentumStyle: .caffe))
        #expect(s.solver.baseLr == 0.05 && s.solver.momentum == 0.5 && s.solver.weightDecay == 0 && s.momentumStyle == .caffe)
        #expect(SolverOverrides(baseLr: -1).problem()?.contains("--lr") == true)
        #expect(SolverOverrides(momentum: 1).problem()?.contains("--momentum") == true)
        #expect(SolverOverrides(weightDecay: .nan).problem()?.contains("--weight-decay") == true)
        #expect(SolverOverrides(baseLr: 0.1, momentum: 0.9, weightDecay: 1e-4).problem() == nil)
        // Another momentum style is another experiment.
        var o = TrainingOptions(); o.threads = 1
        let torch = RunIdentity(setup: try Self.setup(), options: o)
        let caffe = RunIdentity(setup: try Self.setup(overrides: SolverOverrides(momentumStyle: .caffe)), options: o)
        #expect(torch["momentum_style"] == "torch" && caffe["momentum_style"] == nil)
    }

    @Test func aSolverFileKeepsCaffeStyle() throws {
        let dir = try CLIHarness.temporaryDirectory("onnx-solver")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("solver.prototxt").path
        try "base_lr: 0.02\nmomentum: 0.8\nlr_policy: \"fixed\"\nmax_iter: 3\n".write(toFile: path, atomically: true, encoding: .utf8)
        let s = try Self.setup(solver: path)
        #expect(s.solver.baseLr == 0.02 && s.solver.momentum == 0.8 && s.momentumStyle == .caffe && s.netFormat == .onnx)
        let t = try Self.setup(solver: path, overrides: SolverOverrides(momentumStyle: .torch))
        #expect(t.momentumStyle == .torch)
    }

    /// `w=as-exported` (= as-declared) keeps every initializer bit for bit.
    @Test func asExportedKeepsTheFile() throws {
        #expect(try Scheme(parsing: "w=as-exported,b=as-exported") == Scheme())
        let file = try Self.fileBlobs()
        let t = try Self.trainNet(try Self.setup("w=as-exported,b=as-exported"))
        var compared = 0
        for (li, lp) in t.trainNet.layerParams.enumerated() {
            guard let blobs = file[lp.name] else { continue }
            for (k, b) in t.trainNet.layers[li].blobs.enumerated() {
                #expect(Array(UnsafeBufferPointer(start: b.data, count: b.count)) == blobs[k], "\(lp.name) blob \(k)")
                compared += 1
            }
        }
        #expect(compared >= 4 * 17 + 2)
    }

    /// `w=torch-default` redraws every Conv/Gemm weight (PyTorch's variance 1/(3·fan_in), within
    /// sampling error) and keeps the biases and the BatchNorm blobs; `b=caffe-xavier` redraws the
    /// biases as Caffe's xavier on a 1-D blob, U(±√3), and keeps the weights.
    @Test func schemesRedrawConvAndGemmBlobs() throws {
        let file = try Self.fileBlobs()
        let t = try Self.trainNet(try Self.setup("w=torch-default"))
        var convs = 0
        for (li, lp) in t.trainNet.layerParams.enumerated() {
            guard let blobs = file[lp.name] else { continue }
            let mine = t.trainNet.layers[li].blobs.map { Array(UnsafeBufferPointer(start: $0.data, count: $0.count)) }
            if lp.type == "Convolution" || lp.type == "InnerProduct" {
                convs += 1
                #expect(mine[0] != blobs[0], "\(lp.name): weight not redrawn")
                #expect(mine[1] == blobs[1], "\(lp.name): bias changed")
                let shape = t.trainNet.layers[li].blobs[0].shape
                let fanIn = shape.dropFirst().reduce(1, *)
                let bound = Float(1 / Double(fanIn).squareRoot())
                #expect(mine[0].allSatisfy { abs($0) <= bound * (1 + 1e-6) })
                let v = mine[0].map { Double($0) * Double($0) }.reduce(0, +) / Double(mine[0].count)
                let expected = 1 / (3 * Double(fanIn))
                // Var of w² for U(±a) is 4a⁴/45: four standard errors.
                let se = (4.0 / 45.0).squareRoot() * Double(bound * bound) / Double(mine[0].count).squareRoot()
                #expect(abs(v - expected) <= 4 * se + 1e-12, "\(lp.name): E[w²] \(v) vs \(expected)")
            } else {
                #expect(mine == blobs, "\(lp.name) changed")
            }
        }
        #expect(convs == 17)

        let x = try Self.trainNet(try Self.setup("b=caffe-xavier"))
        var biases: [Float] = []
        for (li, lp) in x.trainNet.layerParams.enumerated() where lp.type == "Convolution" || lp.type == "InnerProduct" {
            let bl = x.trainNet.layers[li].blobs
            #expect(Array(UnsafeBufferPointer(start: bl[0].data, count: bl[0].count)) == file[lp.name]![0], "\(lp.name): weight changed")
            let b = Array(UnsafeBufferPointer(start: bl[1].data, count: bl[1].count))
            #expect(b != file[lp.name]![1])
            biases += b
        }
        let a = Float(3).squareRoot()
        #expect(biases.allSatisfy { abs($0) <= a * (1 + 1e-6) })
        let v = biases.map { Double($0) * Double($0) }.reduce(0, +) / Double(biases.count)
        let se = (4.0 / 45.0).squareRoot() * 3 / Double(biases.count).squareRoot()
        #expect(abs(v - 1) <= 4 * se, "bias E[b²] \(v) (\(biases.count) values) vs 1")
    }

    /// The inspection of an imported net: kept blobs are "as-exported" with their measured
    /// variance (two-pass Double here), redrawn ones name the scheme's filler and its variance.
    @Test func inspectShowsTheFileOrTheScheme() throws {
        let net = try ONNXImport.importModel(path: Self.model).net
        let plain = try NetInspection(param: net, phase: .TRAIN)
        let conv = try #require(plain.layers.first { $0.name == "/features/features.0/Conv" })
        let w = try Self.fileBlobs()["/features/features.0/Conv"]![0].map(Double.init)
        let mean = w.reduce(0, +) / Double(w.count)
        let twoPass = w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count)
        #expect(conv.params[0].filler == "given" && conv.params[0].description.hasPrefix("as-exported"))
        #expect(abs(conv.params[0].variance! - twoPass) <= 1e-9 * max(1, twoPass))
        let redrawn = try NetInspection(param: net, phase: .TRAIN, scheme: try Scheme(parsing: "w=torch-default"))
        let c2 = try #require(redrawn.layers.first { $0.name == "/features/features.0/Conv" })
        #expect(c2.params[0].description.hasPrefix("torch-default"))
        #expect(abs(c2.params[0].variance! - 1.0 / (3 * 27)) < 1e-6)
        #expect(c2.params[1].description.hasPrefix("as-exported"))
    }

    /// Through the command line: `train --net model.onnx` without a solver file trains; without
    /// --iterations (no max_iter) and with a bad solver value it is refused with one line, exit 2.
    @Test func trainCommandTakesAnONNXFile() throws {
        let bin = try CLIHarness.binary()
        _ = bin
        let dir = try CLIHarness.temporaryDirectory("onnx-train")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ok = try CLIHarness.run(["train", "--net", Self.model, "--data", "synthetic", "--iterations", "2", "--batch-size", "4",
                                     "--threads", "1", "--quiet"], in: dir)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("after 2 iterations"))
        let noIter = try CLIHarness.run(["train", "--net", Self.model, "--data", "synthetic"], in: dir)
        #expect(noIter.status == 2 && noIter.errorLines.count == 1 && noIter.stderr.contains("--iterations"))
        for (flag, value) in [("--lr", "0"), ("--momentum", "1.5"), ("--weight-decay", "-1")] {
            for cmd in ["train", "sweep"] {
                let bad = try CLIHarness.run([cmd, "--net", Self.model, "--data", "synthetic", flag, value, "--iterations", "1", "--out", dir.path + "/s"], in: dir)
                #expect(bad.status == 2 && bad.errorLines.count == 1 && bad.stderr.contains(flag), "\(cmd) \(flag) \(value): \(bad.stderr)")
            }
        }
    }
}
