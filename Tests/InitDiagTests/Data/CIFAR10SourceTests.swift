import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct CIFAR10SourceTests {
    @Test func smallFilesReadInFileOrderAndWrap() throws {
        let dir = try DataTestSupport.makeSmallCIFAR()
        defer { DataTestSupport.remove(dir) }
        let source = try CIFAR10Source(directory: dir, phase: .TRAIN)
        #expect(source.recordCount == 6)
        #expect(source.files.map { $0.records } == [3, 2, 1])
        let record = DataRecord()
        // Two passes: the stream wraps to data_batch_1.bin record 0 after data_batch_4.bin.
        for pass in 0..<2 {
            for (file, item) in DataTestSupport.smallTrainOrder {
                try source.next(into: record)
                #expect(record.channels == 3 && record.height == 32 && record.width == 32, "pass \(pass)")
                #expect(record.label == Int32(DataTestSupport.label(file: file, item: item)))
                #expect(record.bytes == DataTestSupport.expectedPixels(file: file, item: item))
                #expect(record.origin.hasSuffix("data_batch_\(file).bin"))
                #expect(record.index == item)
                #expect(record.key == nil)
                #expect(record.name == "\(dir)/data_batch_\(file).bin record \(item)")
            }
        }
        try source.rewind()
        try source.next(into: record)
        #expect(record.bytes == DataTestSupport.expectedPixels(file: 1, item: 0))
        // Random access by global position.
        try source.record(at: 4, into: record)
        #expect(record.bytes == DataTestSupport.expectedPixels(file: 2, item: 1))
    }

    @Test func testPhaseReadsTestBatch() throws {
        let dir = try DataTestSupport.makeSmallCIFAR()
        defer { DataTestSupport.remove(dir) }
        let source = try CIFAR10Source(directory: dir, phase: .TEST)
        #expect(source.recordCount == 3)
        #expect(source.description.contains("test_batch.bin"))
        for i in 0..<4 {
            let r = try source.nextRecord()
            #expect(r.label == Int32(DataTestSupport.label(file: 0, item: i % 3)))
            #expect(r.bytes == DataTestSupport.expectedPixels(file: 0, item: i % 3))
        }
    }

    @Test func badFileSizeNamesFileAndSize() throws {
        let dir = try DataTestSupport.makeTempDir("cifar-bad")
        defer { DataTestSupport.remove(dir) }
        try DataTestSupport.writeCIFARFile(dir + "/data_batch_1.bin", file: 1, records: 2)
        try DataTestSupport.writeCIFARFile(dir + "/data_batch_2.bin", file: 2, records: 2, extraBytes: 5)
        let e = DataTestSupport.inputError { _ = try CIFAR10Source(directory: dir, phase: .TRAIN) }
        #expect(e?.message.contains("\(dir)/data_batch_2.bin") == true)
        #expect(e?.message.contains("\(2 * 3073 + 5) bytes") == true)
    }

    @Test func missingFilesNameTheDirectory() throws {
        let dir = try DataTestSupport.makeTempDir("cifar-empty")
        defer { DataTestSupport.remove(dir) }
        let e = DataTestSupport.inputError { _ = try CIFAR10Source(directory: dir, phase: .TRAIN) }
        #expect(e?.message.contains(dir) == true)
        #expect(e?.message.contains("data_batch_1.bin") == true)
        // Train files only: TEST has nothing to read.
        try DataTestSupport.writeCIFARFile(dir + "/data_batch_1.bin", file: 1, records: 1)
        let e2 = DataTestSupport.inputError { _ = try CIFAR10Source(directory: dir, phase: .TEST) }
        #expect(e2?.message.contains("test_batch.bin") == true)
        let e3 = DataTestSupport.inputError { _ = try CIFAR10Source(directory: dir + "/nope", phase: .TRAIN) }
        #expect(e3?.message.contains(dir + "/nope") == true)
    }

    @Test func emptyFilesAreSkippedButAllEmptyIsAnError() throws {
        let dir = try DataTestSupport.makeTempDir("cifar-zero")
        defer { DataTestSupport.remove(dir) }
        try DataTestSupport.writeCIFARFile(dir + "/data_batch_1.bin", file: 1, records: 0)
        #expect(DataTestSupport.inputError { _ = try CIFAR10Source(directory: dir, phase: .TRAIN) }?.message.contains("no records") == true)
        try DataTestSupport.writeCIFARFile(dir + "/data_batch_2.bin", file: 2, records: 2)
        try DataTestSupport.writeCIFARFile(dir + "/data_batch_3.bin", file: 3, records: 0)
        let source = try CIFAR10Source(directory: dir, phase: .TRAIN)
        #expect(source.recordCount == 2)
        let labels = try (0..<5).map { _ in try source.nextRecord().label }
        let expected = [0, 1, 0, 1, 0].map { Int32(DataTestSupport.label(file: 2, item: $0)) }
        #expect(labels == expected)
    }

    // The real data set (shared copy or INITDIAG_CIFAR10); skipped with a message when absent.
    @Test(.enabled(if: DataTestSupport.realCIFAR10 != nil,
                   "CIFAR-10 binary data not found (set INITDIAG_CIFAR10 or put it at ../shared/data/cifar-10-batches-bin beside the repository); skipping the real-data check"))
    func realCIFAR10() throws {
        let dir = try #require(DataTestSupport.realCIFAR10)
        print("real CIFAR-10: checking the 50,000 training records in \(dir)")
        let train = try CIFAR10Source(directory: dir, phase: .TRAIN)
        #expect(train.recordCount == 50_000)
        let record = DataRecord()
        var first: [Int32] = []
        var counts = [Int](repeating: 0, count: 10)
        var firstBytes: [UInt8] = []
        for i in 0..<50_000 {
            try train.next(into: record)
            if i < 10 { first.append(record.label) }
            if i == 0 { firstBytes = record.bytes }
            if i < 10_000 { counts[Int(record.label)] += 1 }
            if i == 10_000 { #expect(record.origin.hasSuffix("data_batch_2.bin") && record.index == 0) }
        }
        // README.md of the shared copy: first ten labels and per-class counts of data_batch_1.bin.
        #expect(first == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3])
        #expect(counts == [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981])
        // After 50000 records the stream wraps to the first one.
        try train.next(into: record)
        #expect(record.label == 6 && record.index == 0 && record.bytes == firstBytes)
        #expect(record.origin.hasSuffix("data_batch_1.bin"))

        let test = try CIFAR10Source(directory: dir, phase: .TEST)
        let testCount = try #require(test.recordCount)
        #expect(testCount % 1000 == 0 && testCount >= 1000)
        let testLabels = try (0..<10).map { _ in try test.nextRecord().label }
        #expect(testLabels == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1])
    }
}
