import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct DataFeederTests {
    @Test func batchesFollowTheSourceOrderAndWrap() throws {
        let dir = try DataTestSupport.makeSmallCIFAR()
        defer { DataTestSupport.remove(dir) }
        var p = TransformationParameter()
        p.scale = 0.00390625   // 1/256: exact in float, so expected values are exact
        let feeder = try DataFeeder(source: try CIFAR10Source(directory: dir, phase: .TRAIN),
                                    transformer: try DataTransformer(param: p, phase: .TRAIN), batchSize: 4)
        #expect(feeder.dataShape == [4, 3, 32, 32] && feeder.labelShape == [4])
        let data = Blob(name: "data"), label = Blob(name: "label")
        // 6 records, batches of 4: records 0–3, then 4, 5, 0, 1, then 2–5.
        let order = DataTestSupport.smallTrainOrder
        for batch in 0..<3 {
            try feeder.nextBatch(data: data, label: label)
            #expect(data.shape == [4, 3, 32, 32] && label.shape == [4])
            for item in 0..<4 {
                let (file, i) = order[(batch * 4 + item) % 6]
                #expect(label.data[item] == Float(DataTestSupport.label(file: file, item: i)))
                let expected = DataTestSupport.expectedPixels(file: file, item: i).map { Float($0) * 0.00390625 }
                #expect(Array(UnsafeBufferPointer(start: data.data + item * 3072, count: 3072)) == expected, "batch \(batch) item \(item)")
            }
        }
        #expect(feeder.recordsRead == 12)
    }

    @Test func cropShapesAndTestCentre() throws {
        let source = try SyntheticSource(seed: 2, phase: .TEST, count: 10)
        var p = TransformationParameter()
        p.cropSize = 28
        let feeder = try DataFeeder(source: source, transformer: try DataTransformer(param: p, phase: .TEST), batchSize: 3)
        #expect(feeder.dataShape == [3, 3, 28, 28])
        #expect(feeder.recordShape.channels == 3 && feeder.recordShape.height == 32 && feeder.recordShape.width == 32)
        let data = Blob(), label = Blob()
        try feeder.nextBatch(data: data, label: nil)
        #expect(data.shape == [3, 3, 28, 28])
        // Item 1 = synthetic record 1 cropped at offset (2, 2).
        let r = DataRecord()
        source.generate(index: 1, into: r)
        for c in 0..<3 { for h in [0, 13, 27] { for w in [0, 5, 27] {
            #expect(data.data[3 * 28 * 28 + (c * 28 + h) * 28 + w] == Float(r.bytes[(c * 32 + h + 2) * 32 + w + 2]))
        } } }
        _ = label
    }

    @Test func seedingConsumesCaffesDraws() throws {
        var p = TransformationParameter()
        p.mirror = true
        let feeder = try DataFeeder(source: try SyntheticSource(seed: 1, phase: .TRAIN, count: 20),
                                    transformer: try DataTransformer(param: p, phase: .TRAIN), batchSize: 2)
        let rng = RandomSource(seed: 99)
        feeder.seedLikeCaffeDataLayer(from: rng)
        #expect(feeder.transformer.seed == 3_103_284_259)
        #expect(rng.next() == 3_573_189_800)
    }

    @Test func shapeChangeNamesTheRecord() throws {
        let a = DatumCodec.encode(LMDBSourceTests.datum(3, 4, 4, label: 1))
        let b = DatumCodec.encode(LMDBSourceTests.datum(3, 4, 5, label: 2))
        let (dir, db) = try LMDBSourceTests.writeDB([("00000", a), ("00001", a), ("00002", b)])
        defer { DataTestSupport.remove(dir) }
        let feeder = try DataFeeder(source: try LMDBSource(path: db),
                                    transformer: try DataTransformer(param: TransformationParameter(), phase: .TRAIN), batchSize: 2)
        let data = Blob(), label = Blob()
        try feeder.nextBatch(data: data, label: label)
        #expect(label.dataArray == [1, 1])
        let e = DataTestSupport.inputError { try feeder.nextBatch(data: data, label: label) }
        #expect(e?.message.contains("\(db) key '00002'") == true)
        #expect(e?.message.contains("3×4×5") == true)
    }

    @Test func badSetup() throws {
        let source = try SyntheticSource(seed: 1, phase: .TRAIN, count: 10)
        #expect(DataTestSupport.inputError { _ = try DataFeeder(source: source, transformer: try DataTransformer(param: TransformationParameter(), phase: .TRAIN), batchSize: 0) }?.message.contains("batch_size") == true)
        var p = TransformationParameter()
        p.cropSize = 33
        #expect(DataTestSupport.inputError { _ = try DataFeeder(source: source, transformer: try DataTransformer(param: p, phase: .TRAIN), batchSize: 2) }?.message.contains("crop_size 33") == true)
    }
}
