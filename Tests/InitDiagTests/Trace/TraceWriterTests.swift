import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

private let runInfo = TraceRunInfo(
    netName: "VGG19-cifar", scheme: "w=caffe-msra,b=zero", seed: -42, batchSize: 128, data: "synthetic:7",
    netPrototxt: "name: \"VGG19\"\nlayer { name: \"conv1/3x3\" type: \"Convolution\" }\n",
    solverPrototxt: "base_lr: 0.01\n", created: Date(timeIntervalSince1970: 1_790_000_000),
    extraAttributes: ["threads": .int(2)])

/// Layers exercising every kind of series and every name that needs escaping.
private let layout = TraceLayout(layers: [
    TraceLayerLayout(name: "data", type: "Input", index: 0, tops: ["data", "label"]),
    TraceLayerLayout(name: "conv1/3x3", type: "Convolution", index: 1, bottoms: ["data"], tops: ["conv1/3x3"],
                     fanIn: 27, fanOut: 576, weightFiller: "xavier", biasFiller: "constant(0)",
                     extraAttributes: ["predicted_forward_std": .double(0.8125), "note": .string("Ünïcode ✓")],
                     recordsForward: true, recordsBackward: true, paramCount: 2),
    TraceLayerLayout(name: ".", type: "ReLU", index: 2, bottoms: ["conv1/3x3"], tops: ["conv1/3x3"],
                     recordsForward: true, recordsBackward: true),
    TraceLayerLayout(name: "loss%", type: "SoftmaxWithLoss", index: 3, bottoms: ["conv1/3x3", "label"], tops: ["loss"],
                     recordsForward: false, recordsBackward: true),
])

/// A distinct value for every (step, series): any misplaced value shows.
private func value(step: Int, series: Int) -> Double { Double(step) * 1000 + Double(series) + 0.25 }

private func stepValues(_ step: Int) -> [Double] { (0..<layout.seriesCount).map { value(step: step, series: $0) } }

private func writeSteps(_ writer: TraceWriter, _ range: Range<Int>) throws {
    for k in range {
        try writer.append(iteration: 10 * k, loss: 2.302585 - Double(k) * 0.01, learningRate: 0.01, values: stepValues(k))
    }
}

@Suite struct TraceWriterTests {
    @Test func layoutOrdersSeriesAndSlots() {
        // data: 11 forward; conv: 11 + 8 + 2 × (8 + 8 + 1); relu: 11 + 8; loss: 8.
        #expect(layout.seriesCount == 11 + (19 + 34) + 19 + 8)
        #expect(layout.slots[0] == TraceLayerSlots(forward: 0, backward: nil, params: []))
        #expect(layout.slots[1].forward == 11 && layout.slots[1].backward == 22)
        #expect(layout.slots[1].params[0] == TraceParamSlots(data: 30, grad: 38, updateRatio: 46))
        #expect(layout.slots[1].params[1] == TraceParamSlots(data: 47, grad: 55, updateRatio: 63))
        #expect(layout.seriesNames[46] == "param0/update_ratio" && layout.seriesNames[30] == "param0/data/mean")
        #expect(layout.slots[3].forward == nil && layout.seriesNames.last == "backward/nonfinite_count")
        #expect(layout.layerIndex(named: "conv1/3x3") == 1 && layout.layerIndex(named: "loss%") == 3)
        #expect(layout.layerIndex(named: "nope") == nil)
    }

    @Test func everyDatasetAndAttributeReadsBackThroughReaderAndH5dump() throws {
        let folder = try TraceTestSupport.scratchFolder("roundtrip")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("trace.h5").path
        let writer = try TraceWriter(path: path, run: runInfo, layout: layout, flushEvery: 10)
        try writeSteps(writer, 0..<23)
        try writer.appendTest(iteration: 100, loss: 2.1, accuracy: 0.25)
        try writer.appendTest(iteration: 200, loss: 1.9, accuracy: .nan)
        let findings = #"[{"kind":"input-collapse","layer":"fc8","detail":"between_sample_std 1e-7"}]"#
        try writer.finish(status: .finished, verdict: "stuck-at-chance", findings: findings)
        #expect(writer.status == .finished)

        // Our reader.
        let reader = try TraceReader(path: path)
        #expect(reader.attributes["format"] == .string("initdiag-trace"))
        #expect(reader.attributes["format_version"] == .int(1))
        #expect(reader.attributes["initdiag_version"] == .string(initdiagVersion))
        #expect(reader.attributes["created_utc"] == .string("2026-09-21T14:13:20Z"))
        #expect(reader.attributes["net_name"] == .string("VGG19-cifar"))
        #expect(reader.attributes["scheme"] == .string("w=caffe-msra,b=zero"))
        #expect(reader.attributes["seed"] == .int(-42) && reader.attributes["batch_size"] == .int(128))
        #expect(reader.attributes["data"] == .string("synthetic:7"))
        #expect(reader.attributes["net_prototxt"] == .string(runInfo.netPrototxt))
        #expect(reader.attributes["solver_prototxt"] == .string("base_lr: 0.01\n"))
        #expect(reader.attributes["threads"] == .int(2))
        #expect(reader.status == "finished")
        #expect(reader.verdict == "stuck-at-chance" && reader.findings == findings)
        #expect(reader.stepCount == 23)
        let steps = try reader.steps()
        #expect(steps.iteration == (0..<23).map { Int64(10 * $0) })
        #expect(steps.loss == (0..<23).map { 2.302585 - Double($0) * 0.01 })
        #expect(steps.lr == [Double](repeating: 0.01, count: 23))
        let test = try reader.testSeries()
        #expect(test.iteration == [100, 200] && test.loss == [2.1, 1.9])
        #expect(test.accuracy[0] == 0.25 && test.accuracy[1].isNaN)

        #expect(reader.layers.map(\.name) == ["data", "conv1/3x3", ".", "loss%"])
        #expect(reader.layers.map(\.groupName) == ["data", "conv1%2F3x3", "%2E", "loss%25"])
        let conv = try #require(reader.layer(named: "conv1/3x3"))
        #expect(conv.type == "Convolution" && conv.index == 1 && conv.bottoms == ["data"] && conv.tops == ["conv1/3x3"])
        #expect(conv.attributes["fan_in"] == .int(27) && conv.attributes["fan_out"] == .int(576))
        #expect(conv.attributes["weight_filler"] == .string("xavier"))
        #expect(conv.attributes["bias_filler"] == .string("constant(0)"))
        #expect(conv.attributes["predicted_forward_std"] == .double(0.8125))
        #expect(conv.attributes["note"] == .string("Ünïcode ✓"))
        #expect(reader.layer(named: "loss%")?.bottoms == ["conv1/3x3", "label"])
        #expect(reader.layer(named: "data")?.attributes["fan_in"] == nil)
        // Every series of every layer, value by value.
        for (s, relative) in layout.seriesNames.enumerated() {
            let layerName = layout.layers[layout.seriesLayer[s]].name
            let values = try reader.series(layer: layerName, relative)
            #expect(values == (0..<23).map { value(step: $0, series: s) }, "\(layerName) \(relative)")
        }
        for (li, layer) in layout.layers.enumerated() {
            let expected = layout.seriesNames.indices.filter { layout.seriesLayer[$0] == li }.map { layout.seriesNames[$0] }
            #expect(reader.layer(named: layer.name)?.seriesNames == expected.sorted())
        }
        #expect(throws: InputError.self) { try reader.series(layer: "data", "backward/mean") }
        #expect(throws: InputError.self) { try reader.series(layer: "nope", "forward/mean") }

        // h5dump: strings are variable-length UTF-8 text, datasets extendible and chunked by 256.
        let status = try TraceTestSupport.h5dump(["-a", "/status", path])
        #expect(status.status == 0)
        #expect(status.output.contains("STRSIZE H5T_VARIABLE") && status.output.contains("CSET H5T_CSET_UTF8"))
        #expect(status.output.contains("(0): \"finished\""))
        let format = try TraceTestSupport.h5dump(["-a", "/format_version", path])
        #expect(format.output.contains("H5T_STD_I64LE") && format.output.contains("(0): 1"))
        let loss = try TraceTestSupport.h5dump(["-p", "-m", "%.17g", "-d", "/steps/loss", path])
        #expect(loss.output.contains("DATASPACE  SIMPLE { ( 23 ) / ( H5S_UNLIMITED ) }"))
        #expect(loss.output.contains("CHUNKED ( 256 )") && loss.output.contains("H5T_IEEE_F64LE"))
        let dumped = TraceTestSupport.dumpedNumbers(loss.output)
        #expect(dumped.count == 23 && dumped == steps.loss)
        let iterations = try TraceTestSupport.h5dump(["-d", "/steps/iteration", path])
        #expect(iterations.output.contains("H5T_STD_I64LE"))
        #expect(TraceTestSupport.dumpedNumbers(iterations.output) == (0..<23).map { Double(10 * $0) })
        let ratio = try TraceTestSupport.h5dump(["-m", "%.17g", "-d", "/layers/conv1%2F3x3/param1/update_ratio", path])
        #expect(TraceTestSupport.dumpedNumbers(ratio.output) == (0..<23).map { value(step: $0, series: 63) })
        let name = try TraceTestSupport.h5dump(["-a", "/layers/%2E/name", path])
        #expect(name.output.contains("(0): \".\""))
        let diagnosis = try TraceTestSupport.h5dump(["-a", "/diagnosis/verdict", path])
        #expect(diagnosis.output.contains("(0): \"stuck-at-chance\""))
        let filler = try TraceTestSupport.h5dump(["-a", "/layers/conv1%2F3x3/weight_filler", path])
        #expect(filler.output.contains("(0): \"xavier\""))
        // (h5dump 1.10 prints non-ASCII bytes as octal escapes; the UTF-8 text is checked by our
        // reader above.)
        let whole = try TraceTestSupport.h5dump([path])
        #expect(whole.status == 0 && whole.output.contains("GROUP \"test\"") && whole.output.contains("GROUP \"%2E\""))
    }

    @Test func h5dumpOpensTheTraceWhileTheWriterHoldsIt() throws {
        let folder = try TraceTestSupport.scratchFolder("live")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("live.h5").path
        let writer = try TraceWriter(path: path, run: runInfo, layout: layout, flushEvery: 10)
        try writeSteps(writer, 0..<13)
        // 10 steps flushed, 3 buffered.
        let live = try TraceTestSupport.h5dump(["-d", "/steps/iteration", "-a", "/status", path])
        #expect(live.status == 0, "\(live.output)")
        #expect(TraceTestSupport.dumpedNumbers(live.output).prefix(10) == ArraySlice((0..<10).map { Double(10 * $0) }))
        #expect(live.output.contains("\"running\""))
        // Our reader in this same process, while the writer is open.
        let reader = try TraceReader(path: path)
        #expect(reader.stepCount == 10 && reader.status == "running")
        #expect(try reader.series(layer: ".", "backward/max") == (0..<10).map { value(step: $0, series: layout.slots[2].backward! + 5) })

        try writer.flushNow()
        let flushed = try TraceTestSupport.h5dump(["-d", "/steps/iteration", path])
        #expect(TraceTestSupport.dumpedNumbers(flushed.output).count == 13)
        try writer.markInterrupted()
        let interrupted = try TraceTestSupport.h5dump(["-a", "/status", path])
        #expect(interrupted.output.contains("\"interrupted\""))
        try writeSteps(writer, 13..<15)
        try writer.finish(status: .diverged)
        let done = try TraceReader(path: path)
        #expect(done.status == "diverged" && done.stepCount == 15 && done.verdict == nil)
        #expect(throws: TraceWriterError.self) { try writer.append(iteration: 0, loss: 0, learningRate: 0, values: stepValues(0)) }
    }

    @Test func anAbandonedWriterLeavesEveryFlushedStepReadable() throws {
        let folder = try TraceTestSupport.scratchFolder("crash")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("crash.h5").path
        let writer = try TraceWriter(path: path, run: runInfo, layout: layout, flushEvery: 10)
        try writeSteps(writer, 0..<27)
        try writer.appendTest(iteration: 50, loss: 2.2, accuracy: 0.1)
        // The process "dies" now: no close, 7 steps and the test result still in memory.
        writer.abandonForTesting()
        let dump = try TraceTestSupport.h5dump([path])
        #expect(dump.status == 0, "\(dump.output.prefix(500))")
        let iterations = try TraceTestSupport.h5dump(["-d", "/steps/iteration", path])
        #expect(TraceTestSupport.dumpedNumbers(iterations.output) == (0..<20).map { Double(10 * $0) })
        let ratio = try TraceTestSupport.h5dump(["-m", "%.17g", "-d", "/layers/conv1%2F3x3/param0/update_ratio", path])
        #expect(TraceTestSupport.dumpedNumbers(ratio.output) == (0..<20).map { value(step: $0, series: 46) })
        let reader = try TraceReader(path: path)
        #expect(reader.stepCount == 20 && reader.status == "running")
        #expect(try reader.testSeries().iteration.isEmpty)
    }

    @Test func aWriterDroppedWithoutFinishFlushesAndSaysInterrupted() throws {
        let folder = try TraceTestSupport.scratchFolder("drop")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("drop.h5").path
        do {
            let writer = try TraceWriter(path: path, run: runInfo, layout: layout, flushEvery: 10)
            try writeSteps(writer, 0..<4)
        }
        let reader = try TraceReader(path: path)
        #expect(reader.stepCount == 4 && reader.status == "interrupted")
        #expect(try reader.series(layer: "data", "forward/input_dependence") == (0..<4).map { value(step: $0, series: 10) })
    }

    @Test func misuseAndBadPathsAreReported() throws {
        let folder = try TraceTestSupport.scratchFolder("misuse")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("t.h5").path
        let writer = try TraceWriter(path: path, run: runInfo, layout: layout)
        #expect(throws: TraceWriterError.wrongValueCount(expected: layout.seriesCount, got: 3)) {
            try writer.append(iteration: 0, loss: 0, learningRate: 0, values: [1, 2, 3])
        }
        try writer.finish(status: .finished)
        #expect(throws: TraceWriterError.closed(path: path)) { try writer.finish(status: .finished) }
        try writer.markInterrupted()  // after finish: nothing to do
        #expect(try TraceReader(path: path).status == "finished")

        let missingFolder = folder.appendingPathComponent("no/such/dir/t.h5").path
        let error = try #require(throws: InputError.self) {
            try TraceWriter(path: missingFolder, run: runInfo, layout: layout)
        }
        #expect(error.message.contains(missingFolder))
        let duplicate = TraceLayout(layers: [TraceLayerLayout(name: "a", type: "ReLU", index: 0),
                                             TraceLayerLayout(name: "a", type: "ReLU", index: 1)])
        #expect(throws: InputError.self) { try TraceWriter(path: path, run: runInfo, layout: duplicate) }
    }

    @Test func readerRejectsFilesThatAreNotTraces() throws {
        let folder = try TraceTestSupport.scratchFolder("notrace")
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = folder.appendingPathComponent("notes.h5").path
        try "not hdf5 at all\n".write(toFile: text, atomically: true, encoding: .utf8)
        let e1 = try #require(throws: InputError.self) { try TraceReader(path: text) }
        #expect(e1.message.hasPrefix(text))
        let weights = folder.appendingPathComponent("w.caffemodel.h5").path
        try CaffeSnapshot.writeWeights(to: weights, layers: [(name: "fc", blobs: [CaffeSnapshotBlob(shape: [1], values: [1])])])
        let e2 = try #require(throws: InputError.self) { try TraceReader(path: weights) }
        #expect(e2.message.contains("not an initdiag trace"))
        let e3 = try #require(throws: InputError.self) { try TraceReader(path: folder.appendingPathComponent("missing.h5").path) }
        #expect(e3.message.contains("missing.h5"))
        // A finished trace cut short (a copy interrupted, a full disk) is refused, not misread.
        let trace = folder.appendingPathComponent("t.h5").path
        let writer = try TraceWriter(path: trace, run: runInfo, layout: layout)
        try writeSteps(writer, 0..<3)
        try writer.finish(status: .finished)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: trace))
        for fraction in [1, 4, 8, 12, 15] {
            let cut = folder.appendingPathComponent("cut\(fraction).h5").path
            try bytes.prefix(bytes.count * fraction / 16).write(to: URL(fileURLWithPath: cut))
            let e = try #require(throws: InputError.self) { try TraceReader(path: cut) }
            #expect(e.message.hasPrefix(cut) && !e.message.contains("\n"))
        }
    }

    @Test func namesEscapeOneToOne() {
        let cases: [(String, String)] = [
            ("conv1", "conv1"), ("a/b", "a%2Fb"), (".", "%2E"), ("", "%"), ("..", ".."), ("x%y", "x%25y"),
            ("tab\tx", "tab%09x"), ("line\nend\u{7F}", "line%0Aend%7F"), ("inception_3a/1x1", "inception_3a%2F1x1"),
            ("ü/é ✓", "ü%2Fé ✓"), ("a%2Fb", "a%252Fb"), ("/", "%2F"), (" ", " "),
        ]
        for (name, link) in cases {
            #expect(TraceNames.escape(name) == link, "\(name)")
            #expect(TraceNames.unescape(link) == name, "\(link)")
            #expect(!TraceNames.escape(name).contains("/") && TraceNames.escape(name) != "." && !TraceNames.escape(name).isEmpty)
        }
        let links = Set(cases.map { TraceNames.escape($0.0) })
        #expect(links.count == cases.count)
    }
}

@Suite struct TraceWriterScaleTests {
    /// A VGG19-sized layout (16 conv + 3 fc with params, ReLUs, pools, loss): every series written
    /// and read back; the time per flush is printed for the report.
    @Test func vggSizedTraceWritesAndReadsBack() throws {
        let folder = try TraceTestSupport.scratchFolder("vgg")
        defer { try? FileManager.default.removeItem(at: folder) }
        var layers: [TraceLayerLayout] = [TraceLayerLayout(name: "data", type: "Data", index: 0)]
        for i in 0..<19 {
            layers.append(TraceLayerLayout(name: "conv\(i)", type: i < 16 ? "Convolution" : "InnerProduct",
                                           index: layers.count, fanIn: 576, fanOut: 576, weightFiller: "xavier",
                                           recordsForward: true, recordsBackward: true, paramCount: 2))
            layers.append(TraceLayerLayout(name: "relu\(i)", type: "ReLU", index: layers.count,
                                           recordsForward: true, recordsBackward: true))
        }
        for i in 0..<5 {
            layers.append(TraceLayerLayout(name: "pool\(i)", type: "Pooling", index: layers.count,
                                           recordsForward: true, recordsBackward: true))
        }
        let big = TraceLayout(layers: layers)
        let path = folder.appendingPathComponent("vgg.h5").path
        let start = Date()
        let writer = try TraceWriter(path: path, run: runInfo, layout: big, flushEvery: 10)
        let created = Date()
        var step = [Double](repeating: 0, count: big.seriesCount)
        for k in 0..<30 {
            for s in 0..<big.seriesCount { step[s] = Double(k) + Double(s) * 1e-4 }
            try writer.append(iteration: k, loss: 2.3, learningRate: 0.01, values: step)
        }
        let written = Date()
        try writer.finish(status: .finished, verdict: "learning", findings: "[]")
        let reader = try TraceReader(path: path)
        #expect(reader.stepCount == 30 && reader.layers.count == layers.count)
        let last = big.seriesCount - 1
        let name = big.layers[big.seriesLayer[last]].name
        #expect(try reader.series(layer: name, big.seriesNames[last]) == (0..<30).map { Double($0) + Double(last) * 1e-4 })
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        print(String(format: "VGG-sized trace: %d series; create %.0f ms; 30 steps in 3 flushes %.0f ms (%.0f ms per flush); file %d KiB",
                     big.seriesCount, created.timeIntervalSince(start) * 1000, written.timeIntervalSince(created) * 1000,
                     written.timeIntervalSince(created) * 1000 / 3, size / 1024))
    }
}
