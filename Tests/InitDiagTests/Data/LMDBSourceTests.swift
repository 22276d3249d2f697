import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct LMDBSourceTests {
    /// Writes an LMDB with the given (key, value) pairs through the converter's writer.
    static func writeDB(_ entries: [(String, [UInt8])], initialMapSize: Int = 1 << 20) throws -> (dir: String, db: String) {
        let dir = try DataTestSupport.makeTempDir("lmdb")
        let db = dir + "/db"
        let writer = try LMDBWriter(path: db, initialMapSize: initialMapSize)
        for (k, v) in entries { writer.put(key: Array(k.utf8), value: v) }
        try writer.close()
        return (dir, db)
    }

    static func datum(_ c: Int32, _ h: Int32, _ w: Int32, label: Int32, fill: UInt8 = 1) -> Datum {
        var d = Datum()
        d.channels = c; d.height = h; d.width = w; d.label = label
        d.data = (0..<Int(c * h * w)).map { UInt8((Int($0) + Int(fill)) % 256) }
        return d
    }

    @Test func datumCodecMatchesCaffeSerialization() throws {
        // convert_cifar_data's value: 08 03 10 20 18 20 22 80 18 <3072 bytes> 28 <label>.
        var d = Datum()
        d.channels = 3; d.height = 32; d.width = 32; d.label = 6
        d.data = (0..<3072).map { UInt8($0 % 251) }
        let bytes = DatumCodec.encode(d)
        #expect(Array(bytes.prefix(9)) == [0x08, 0x03, 0x10, 0x20, 0x18, 0x20, 0x22, 0x80, 0x18])
        #expect(Array(bytes.suffix(2)) == [0x28, 0x06])
        #expect(bytes.count == 9 + 3072 + 2)
        #expect(try Datum.decode(bytes) == d)
        // Float data, negative label, encoded flag round-trip.
        var f = Datum()
        f.channels = 1; f.height = 1; f.width = 2; f.label = -5; f.floatData = [1.5, -2]; f.encoded = true
        #expect(try Datum.decode(DatumCodec.encode(f)) == f)
    }

    @Test func readsTheLMDBWrittenByPython() throws {
        // Fixtures/data/python_lmdb: written by scripts/fixtures/make_lmdb_fixture.py with the
        // `lmdb` package and hand-encoded Datum bytes (not by this code).
        let db = try DataTestSupport.copyDir(DataTestSupport.fixture("python_lmdb"))
        defer { DataTestSupport.remove(db) }
        let json = try Data(contentsOf: URL(fileURLWithPath: DataTestSupport.fixture("python_lmdb_expected.json")))
        let expected = try #require(try JSONSerialization.jsonObject(with: json) as? [[String: Any]])
        #expect(expected.count == 5)
        let source = try LMDBSource(path: db)
        #expect(source.recordCount == 5)
        let record = DataRecord()
        for pass in 0..<2 {
            for (position, e) in expected.enumerated() {
                try source.next(into: record)
                #expect(record.key == e["key"] as? String, "pass \(pass)")
                #expect(record.index == position)
                #expect(record.channels == e["channels"] as? Int)
                #expect(record.height == e["height"] as? Int)
                #expect(record.width == e["width"] as? Int)
                #expect(Int(record.label) == e["label"] as? Int)
                if let bytes = e["bytes"] as? [Int] {
                    #expect(record.bytes == bytes.map { UInt8($0) })
                    #expect(record.floats.isEmpty)
                } else {
                    let floats = try #require(e["floats"] as? [Double])
                    #expect(record.bytes.isEmpty && record.holdsFloats)
                    #expect(record.floats.map { $0.bitPattern } == floats.map { Float($0).bitPattern })
                }
                #expect(record.name == "\(db) key '\(e["key"] as! String)'")
            }
        }
        _ = try source.nextRecord()
        _ = try source.nextRecord()
        try source.rewind()
        let again = try source.nextRecord()
        #expect(again.key == "a_bytes" && again.index == 0)
    }

    @Test func convertThenReadBackIdentical() throws {
        let cifar = try DataTestSupport.makeSmallCIFAR()
        let out = try DataTestSupport.makeTempDir("convert")
        defer { DataTestSupport.remove(cifar); DataTestSupport.remove(out) }
        let summary = try CIFARConverter.convert(directory: cifar, output: out + "/lmdbs")
        #expect(summary.trainRecords == 6 && summary.testRecords == 3)
        #expect(summary.trainPath == out + "/lmdbs/cifar10_train_lmdb")
        // No temporary directory is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + "/lmdbs").sorted() == ["cifar10_test_lmdb", "cifar10_train_lmdb"])

        // Keys "%05d" of k·10000 + i (k = file number − 1).
        let trainKeys = ["00000", "00001", "00002", "10000", "10001", "30000"]
        let raw = try LMDBSource.rawEntries(path: summary.trainPath)
        #expect(raw.map { String(decoding: $0.key, as: UTF8.self) } == trainKeys)
        let train = try LMDBSource(path: summary.trainPath)
        #expect(train.recordCount == 6)
        for ((file, item), (key, entry)) in zip(DataTestSupport.smallTrainOrder, zip(trainKeys, raw)) {
            let r = try train.nextRecord()
            #expect(r.key == key)
            #expect(r.channels == 3 && r.height == 32 && r.width == 32)
            #expect(r.label == Int32(DataTestSupport.label(file: file, item: item)))
            #expect(r.bytes == DataTestSupport.expectedPixels(file: file, item: item))
            // The stored value is exactly Caffe's serialization of that Datum.
            var d = Datum()
            d.channels = 3; d.height = 32; d.width = 32
            d.label = Int32(DataTestSupport.label(file: file, item: item))
            d.data = DataTestSupport.expectedPixels(file: file, item: item)
            #expect(entry.value == DatumCodec.encode(d))
        }
        let test = try LMDBSource(path: summary.testPath)
        for i in 0..<3 {
            let r = try test.nextRecord()
            #expect(r.key == String(format: "%05d", i))
            #expect(r.label == Int32(DataTestSupport.label(file: 0, item: i)))
            #expect(r.bytes == DataTestSupport.expectedPixels(file: 0, item: i))
        }
        // A second conversion into the same place is refused.
        let e = DataTestSupport.inputError { try CIFARConverter.convert(directory: cifar, output: out + "/lmdbs") }
        #expect(e?.message.contains("already exists") == true)
    }

    @Test func converterGrowsTheMap() throws {
        // 3 files × 40 records ≈ 370 KB of values into a 16 KiB initial map: several doublings.
        let cifar = try DataTestSupport.makeTempDir("cifar-big")
        let out = try DataTestSupport.makeTempDir("convert-big")
        defer { DataTestSupport.remove(cifar); DataTestSupport.remove(out) }
        for f in 1...3 { try DataTestSupport.writeCIFARFile(cifar + "/data_batch_\(f).bin", file: f, records: 40) }
        try DataTestSupport.writeCIFARFile(cifar + "/test_batch.bin", file: 0, records: 5)
        let summary = try CIFARConverter.convert(directory: cifar, output: out, initialMapSize: 16 << 10)
        #expect(summary.trainRecords == 120)
        let train = try LMDBSource(path: summary.trainPath)
        #expect(train.recordCount == 120)
        for f in 1...3 {
            for i in 0..<40 {
                let r = try train.nextRecord()
                #expect(r.key == String(format: "%05d", (f - 1) * 10_000 + i))
                #expect(r.label == Int32(DataTestSupport.label(file: f, item: i)))
                #expect(r.bytes == DataTestSupport.expectedPixels(file: f, item: i))
            }
        }
    }

    @Test func writerDoublesTheMapWhenFull() throws {
        let dir = try DataTestSupport.makeTempDir("grow")
        defer { DataTestSupport.remove(dir) }
        let writer = try LMDBWriter(path: dir + "/db", initialMapSize: 16 << 10)
        let value = DatumCodec.encode(Self.datum(3, 32, 32, label: 4))
        for i in 0..<100 { writer.put(key: Array(String(format: "%05d", i).utf8), value: value) }
        try writer.commit()
        try writer.close()
        // 100 values of 3083 bytes do not fit 16 KiB: the map was doubled until they did.
        #expect(writer.mapSize >= 256 << 10)
        #expect(writer.mapSize.nonzeroBitCount == 1)
        let raw = try LMDBSource.rawEntries(path: dir + "/db")
        #expect(raw.count == 100 && raw.allSatisfy { $0.value == value })
    }

    @Test func corruptRecordsNameTheKey() throws {
        let good = DatumCodec.encode(Self.datum(3, 2, 2, label: 1))
        var encodedDatum = Self.datum(3, 2, 2, label: 1)
        encodedDatum.encoded = true
        let cases: [(String, [UInt8], String)] = [
            ("truncated", Array(good.prefix(good.count - 5)), "corrupt Datum"),
            ("badtag", [0x08, 0x03, 0x07], "corrupt Datum"),        // wire type 7 does not exist
            ("longvarint", [0x08] + [UInt8](repeating: 0xFF, count: 11), "corrupt Datum"),
            ("encoded", DatumCodec.encode(encodedDatum), "encoded images are not supported"),
            ("short", DatumCodec.encode({ var d = Self.datum(3, 2, 2, label: 1); d.data.removeLast(); return d }()), "11 bytes"),
            ("zeroshape", DatumCodec.encode(Self.datum(0, 2, 2, label: 1)), "must be positive"),
        ]
        for (key, value, what) in cases {
            let (dir, db) = try Self.writeDB([("a_good", good), ("b_" + key, value)])
            defer { DataTestSupport.remove(dir) }
            let source = try LMDBSource(path: db)
            let r = try source.nextRecord()
            #expect(r.key == "a_good" && r.label == 1)
            let e = DataTestSupport.inputError { _ = try source.nextRecord() }
            #expect(e?.message.contains("\(db) key 'b_\(key)'") == true, "\(key): \(e?.message ?? "no error")")
            #expect(e?.message.contains(what) == true, "\(key): \(e?.message ?? "no error")")
        }
    }

    @Test func notAnLMDB() throws {
        let dir = try DataTestSupport.makeTempDir("notlmdb")
        defer { DataTestSupport.remove(dir) }
        // Missing path, a regular file, an empty directory, a directory with garbage data.mdb.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/file"))
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: dir + "/garbage", withIntermediateDirectories: false)
        try Data(repeating: 0xAB, count: 16384).write(to: URL(fileURLWithPath: dir + "/garbage/data.mdb"))
        for p in ["/missing", "/file", "/empty", "/garbage"] {
            let e = DataTestSupport.inputError { _ = try LMDBSource(path: dir + p) }
            #expect(e?.message.hasPrefix(dir + p) == true, "\(p): \(e?.message ?? "no error")")
        }
        // An LMDB without records.
        let (emptyDir, emptyDB) = try Self.writeDB([])
        defer { DataTestSupport.remove(emptyDir) }
        #expect(DataTestSupport.inputError { _ = try LMDBSource(path: emptyDB) }?.message.contains("no records") == true)
    }

    @Test func recordsReuseStorage() throws {
        let (dir, db) = try Self.writeDB((0..<4).map { ("k\($0)", DatumCodec.encode(Self.datum(3, 8, 8, label: Int32($0), fill: UInt8($0)))) })
        defer { DataTestSupport.remove(dir) }
        let source = try LMDBSource(path: db)
        let record = DataRecord()
        try source.next(into: record)
        let capacity = record.bytes.capacity
        let address = record.bytes.withUnsafeBufferPointer { $0.baseAddress }
        for i in 1..<9 {
            try source.next(into: record)
            #expect(record.label == Int32(i % 4))
            #expect(record.bytes == Self.datum(3, 8, 8, label: 0, fill: UInt8(i % 4)).data)
        }
        // Same buffer after nine records of one shape: no per-record allocation.
        #expect(record.bytes.capacity == capacity)
        #expect(record.bytes.withUnsafeBufferPointer { $0.baseAddress } == address)
    }
}
