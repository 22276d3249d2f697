import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine

/// A mean_file that does not exist (every zoo net names examples/cifar10/mean.binaryproto or
/// data/ilsvrc12/imagenet_mean.binaryproto): with --data, the mean Caffe's
/// tools/compute_image_mean.cpp would have written is computed from the TRAIN records; without,
/// one error naming the file, the layer and --data.
let zooCifarQuickPresent = FileManager.default.fileExists(atPath: ComputedMeanTests.quick)

@Suite struct ComputedMeanTests {
    static let quick = packageRoot() + "/../shared/zoo/bvlc/cifar10/cifar10_quick_train_test.prototxt"

    /// Records given in memory.
    final class ListSource: DataSource {
        let records: [DataRecord]
        var position = 0
        init(_ records: [DataRecord]) { self.records = records }
        var recordCount: Int? { records.count }
        var description: String { "list of \(records.count) records" }
        func next(into record: DataRecord) throws {
            let r = records[position % records.count]
            position += 1
            record.channels = r.channels; record.height = r.height; record.width = r.width
            record.bytes = r.bytes; record.floats = r.floats; record.origin = "list"; record.index = position - 1
        }
        func rewind() throws { position = 0 }
    }

    static func record(_ c: Int, _ h: Int, _ w: Int, bytes: [UInt8] = [], floats: [Float] = []) -> DataRecord {
        let r = DataRecord()
        r.channels = c; r.height = h; r.width = w; r.bytes = bytes; r.floats = floats
        return r
    }

    /// Per-element mean of bytes and of float_data, shape 1×C×H×W, the source left rewound.
    @Test func meanOfRecords() throws {
        let a = Self.record(2, 1, 2, bytes: [0, 10, 255, 3])
        let b = Self.record(2, 1, 2, bytes: [1, 20, 255, 4])
        let c = Self.record(2, 1, 2, bytes: [2, 31, 0, 0])
        let source = ListSource([a, b, c])
        try source.next(into: DataRecord())          // not at the start: compute rewinds first
        let mean = try DataMeanFile.compute(from: source, standingInFor: "m.binaryproto")
        #expect(mean.shape == [1, 2, 1, 2])
        #expect(mean.values == [Float(3) / 3, Float(61) / 3, Float(510) / 3, Float(7) / 3])
        #expect(mean.path == "m.binaryproto" && source.position == 0)
        let f = try DataMeanFile.compute(from: ListSource([Self.record(1, 1, 2, floats: [0.5, -1]), Self.record(1, 1, 2, floats: [1.5, 2])]),
                                         standingInFor: "f")
        #expect(f.values == [1, 0.5])
    }

    @Test func recordsOfTwoShapesAreRefused() throws {
        let source = ListSource([Self.record(1, 1, 2, bytes: [1, 2]), Self.record(1, 2, 1, bytes: [1, 2])])
        let e = DataTestSupport.inputError { _ = try DataMeanFile.compute(from: source, standingInFor: "m") }
        #expect(e?.message.contains("list record 1") == true && e?.message.contains("1×2×1") == true)
    }

    /// cifar10_quick on --data cifar10:DIR (two train batches of 3 and 2 records, a test batch that
    /// must not count): the computed mean equals a float64 mean of the pattern bytes, the notice
    /// and the trace attribute say so, and the data blob is the byte minus that mean.
    @Test(.enabled(if: zooCifarQuickPresent, "../shared/zoo is absent: skipping the zoo mean_file check"))
    func cifarQuickComputesItsMean() throws {
        let dir = try DataTestSupport.makeTempDir("mean")
        defer { DataTestSupport.remove(dir) }
        try DataTestSupport.writeCIFARFile(dir + "/data_batch_1.bin", file: 1, records: 3)
        try DataTestSupport.writeCIFARFile(dir + "/data_batch_2.bin", file: 2, records: 2)
        try DataTestSupport.writeCIFARFile(dir + "/test_batch.bin", file: 9, records: 2)
        let setup = try RunSetup.load(solverPath: nil, netPath: Self.quick, data: "cifar10:" + dir, scheme: Scheme(),
                                      seed: 1, batchSize: 2)
        let mean = try #require(setup.computedMeans["examples/cifar10/mean.binaryproto"])
        #expect(mean.shape == [1, 3, 32, 32])
        var maxError = 0.0
        for j in 0..<3072 {
            let items = [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1)]
            let expected = items.reduce(0.0) { $0 + Double(DataTestSupport.pixel(file: $1.0, item: $1.1, j)) } / 5
            maxError = max(maxError, abs(Double(mean.values[j]) - expected))
        }
        #expect(maxError < 1e-4)
        let notes = setup.notices.map(\.message).filter { $0.contains("compute_image_mean") }
        #expect(notes.count == 1)
        #expect(notes.first?.contains("layer 'cifar': mean_file examples/cifar10/mean.binaryproto does not exist") == true)
        #expect(notes.first?.contains("5 TRAIN records") == true)

        let rng = RandomSource(seed: 1)
        let net = try Net(setup.net, state: NetState(phase: .TRAIN),
                          context: LayerContext(phase: .TRAIN, rng: rng, batchSources: setup.batchSources(phase: .TRAIN, rng: rng)),
                          initializer: ParameterInitializer(scheme: Scheme()).initialize)
        _ = try net.forward()
        let data = try #require(net.blob(named: "data"))
        #expect(data.data[0] == Float(DataTestSupport.pixel(file: 1, item: 0, 0)) - mean.values[0])
        #expect(data.data[5] == Float(DataTestSupport.pixel(file: 1, item: 0, 5)) - mean.values[5])

        var options = TrainingOptions()
        options.threads = 1
        options.iterations = 1
        options.testIterations = 0
        options.tracePath = dir + "/trace.h5"
        _ = try Trainer(setup: setup, options: options).run()
        let trace = try TraceReader(path: dir + "/trace.h5")
        #expect(trace.attributes["computed_mean"]?.stringValue == notes.first)
    }

    /// Without --data the layer's own source is read and the missing mean file is an error that
    /// names the file, the layer and --data.
    @Test(.enabled(if: zooCifarQuickPresent, "../shared/zoo is absent: skipping the zoo mean_file check"))
    func withoutDataTheMissingFileIsAnError() throws {
        let setup = try RunSetup.load(solverPath: nil, netPath: Self.quick, data: nil, scheme: Scheme(), seed: 1, batchSize: 2)
        var options = TrainingOptions()
        options.iterations = 1
        options.testIterations = 0
        let e = DataTestSupport.inputError { _ = try Trainer(setup: setup, options: options) }
        let message = try #require(e?.message)
        #expect(message.contains("mean_file examples/cifar10/mean.binaryproto does not exist"))
        #expect(message.contains("layer 'cifar'") && message.contains("--data"))
    }
}
