import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The package root, found from this file's path.
func packageRoot(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}

func fixture(_ relative: String) -> String { packageRoot() + "/Fixtures/" + relative }

func temporaryDirectory(_ name: String = #function) -> String {
    let dir = NSTemporaryDirectory() + "initdiag-\(name.filter { $0.isLetter || $0.isNumber })-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite(.serialized) struct TrainerTests {
    func setup(_ scheme: String = "w=as-declared,b=as-declared", lr: Float? = nil, seed: Int64? = nil) throws -> RunSetup {
        var s = try RunSetup.load(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: nil, data: "synthetic",
                                  scheme: try Scheme(parsing: scheme), seed: seed, batchSize: nil)
        if let lr { s.solver.baseLr = lr }
        return s
    }

    @Test func trainsAndWritesTheTrace() throws {
        let dir = temporaryDirectory()
        var options = TrainingOptions()
        options.tracePath = dir + "/t.h5"
        options.iterations = 12
        var lines: [String] = []
        let trainer = try Trainer(setup: try setup("w=caffe-msra,b=zero"), options: options) { e in
            if case .log(let l) = e.kind { lines.append(l) }
        }
        let result = try trainer.run()
        #expect(result.status == .finished)
        #expect(result.iterations == 12)
        // Caffe's display and test wording.
        #expect(lines.contains { $0.hasPrefix("Iteration 0, Testing net (#0)") })
        #expect(lines.contains { $0.hasPrefix("Iteration 5 (") && $0.contains("loss = ") })
        // Caffe's rate and lapse cover the iterations since the previous display line (solver.cpp:
        // iteration_timer_ restarts at each), 0 iter/s on the first: the lapse is not cumulative.
        #expect(lines.contains { $0.hasPrefix("Iteration 0 (0 iter/s, ") })
        // "Iteration 10 (R iter/s, Ts/5 iters)": R·T is the iterations since the last line, 5 (a
        // lapse counted from the start would give 10).
        let line10 = try #require(lines.first { $0.hasPrefix("Iteration 10 (") })
        let numbers = line10.dropFirst("Iteration 10 (".count).split(separator: " ")
        let rate = try #require(Double(numbers[0])), lapse = try #require(Double(numbers[2].prefix { $0 != "s" }))
        #expect(abs(rate * lapse - 5) < 0.01, "\(line10)")
        #expect(lines.contains { $0.hasPrefix("    Test net output #0: accuracy = ") })
        #expect(lines.contains("Iteration 10, lr = 0.01"))

        let r = try TraceReader(path: dir + "/t.h5")
        #expect(r.status == "finished")
        let steps = try r.steps()
        #expect(steps.iteration == Array(0..<12).map(Int64.init))
        #expect(steps.lr.allSatisfy { $0 == Double(Float(0.01)) })
        #expect(r.layers.map(\.name) == ["data", "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "loss"])
        let conv = try #require(r.layer(named: "conv1"))
        #expect(conv.attributes["fan_in"]?.intValue == 27)
        #expect(conv.seriesNames.contains("param0/update_ratio"))
        #expect(conv.seriesNames.contains("forward/between_sample_std"))
        #expect(!r.layer(named: "data")!.seriesNames.contains { $0.hasPrefix("backward/") })
        // Tests at 0 and 10 (test_interval), then none at 12 (not a multiple).
        #expect(try r.testSeries().iteration == [0, 10])
        // The recorded loss is the forward pass's loss, also in memory.
        #expect(result.record.loss.map { $0 } == steps.loss)
        #expect(r.verdict != nil)
    }

    @Test func sameSeedSameTrace() throws {
        func run() throws -> RunRecord {
            var options = TrainingOptions()
            options.iterations = 4
            options.testIterations = 0
            options.threads = 1
            return try Trainer(setup: try setup(), options: options).run().record
        }
        let a = try run(), b = try run()
        #expect(a.loss == b.loss)
        for (la, lb) in zip(a.layers, b.layers) {
            for (k, v) in la.series { #expect(v.elementsEqual(lb.series[k] ?? []) { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(la.name)/\(k)") }
        }
    }

    @Test func hugeLearningRateDivergesAndNamesTheSite() throws {
        let dir = temporaryDirectory()
        var options = TrainingOptions()
        options.tracePath = dir + "/d.h5"
        options.iterations = 30
        options.testIterations = 0
        let result = try Trainer(setup: try setup("w=caffe-msra,b=zero", lr: 1e8), options: options).run()
        #expect(result.status == .diverged)
        #expect(result.diagnosis.verdict == .diverged)
        #expect(result.stopReason?.contains("layer '") == true)
        let finding = try #require(result.diagnosis.findings.first { $0.kind == .nonFinite })
        #expect(finding.layer != nil)
        #expect(finding.detail.contains("iteration"))
        #expect(try TraceReader(path: dir + "/d.h5").status == "diverged")
    }

    @Test func recordEveryKeepsTheLastStep() throws {
        var options = TrainingOptions()
        options.iterations = 10
        options.recordEvery = 4
        options.testIterations = 0
        let r = try Trainer(setup: try setup(), options: options).run()
        // Every 4th iteration and the last.
        #expect(r.record.iterations == [0, 4, 8, 9])
    }

    @Test func probeRecordsOneStepWithoutUpdating() throws {
        let dir = temporaryDirectory()
        var options = TrainingOptions()
        options.tracePath = dir + "/p.h5"
        options.testIterations = 0
        let trainer = try Trainer(setup: try setup(), options: options)
        let before = trainer.trainNet.params[0].blob.dataArray
        let result = try trainer.probeOnce()
        #expect(trainer.trainNet.params[0].blob.dataArray == before)
        #expect(result.record.iterations == [0])
        let conv = try #require(result.record.layers.first { $0.name == "conv1" })
        #expect((conv.series["param1/data/std"]?[0] ?? 0) > 0.5)   // xavier bias: std ≈ 1
        #expect(conv.series["param0/grad/l2"]?[0].isFinite == true)
    }

    @Test func xavierBiasFillerMatchesCaffeQuirk() throws {
        // The declared filler on a 1-D bias gives variance 1.0 (fan_in 1): visible in the trace's
        // layer attributes before anything runs.
        var options = TrainingOptions()
        options.testIterations = 0
        let trainer = try Trainer(setup: try setup(), options: options)
        let attrs = trainer.record.layers.first { $0.name == "fc1" }!.attributes
        // s = sqrt(3/1) in float, variance s²/3: 1 to float precision.
        #expect(abs((attrs["bias_variance"].flatMap(Double.init) ?? 0) - 1.0) < 1e-6)
        #expect(attrs["bias_filler"]?.contains("1.732") == true)
    }

    @Test func meanFieldPredictionsAreWrittenAndFitTheFirstLayer() throws {
        let dir = temporaryDirectory()
        var options = TrainingOptions()
        options.tracePath = dir + "/m.h5"
        options.testIterations = 0
        let result = try Trainer(setup: try setup(), options: options).probeOnce()
        let r = try TraceReader(path: dir + "/m.h5")
        let conv = try #require(r.layer(named: "conv1"))
        let predicted = try #require(conv.attributes["predicted_q"]?.doubleValue)
        #expect(abs((conv.attributes["sigma_w2"]?.doubleValue ?? 0) - 1) < 1e-3)        // xavier: Var·fan_in = 1
        #expect(abs((conv.attributes["bias_second_moment"]?.doubleValue ?? 0) - 1) < 1e-3) // xavier bias: 1
        // Measured E[z²] of conv1's output at step 0 against σ_w²·E[x²] + E[b²]: one layer from the
        // measured input, so only the finite width (8 filters, 27 inputs each) separates them.
        let l = try #require(result.record.layers.first { $0.name == "conv1" })
        let mean = l.series["forward/mean"]![0], std = l.series["forward/std"]![0]
        let measured = mean * mean + std * std
        #expect(measured / predicted > 0.5 && measured / predicted < 2, "measured \(measured) predicted \(predicted)")
        #expect(r.layer(named: "relu1")?.attributes["predicted_correlation"]?.doubleValue != nil)
    }
}
