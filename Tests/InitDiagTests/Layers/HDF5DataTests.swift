import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// HDF5Data (BVLC/caffe src/caffe/layers/hdf5_data_layer.cpp) with files the tests write.
@Suite(.serialized) struct HDF5DataLayerTests {
    typealias Kit = CaffeLayerTestKit

    /// Writes `name.h5` in `dir` with `data` (rows, features) = row id + feature/100 and `label`
    /// (rows) = row id, ids from `firstRow`. Returns the path.
    @discardableResult
    static func writeFile(_ dir: String, _ name: String, rows: Int, features: Int = 3, firstRow: Int = 0,
                          labelShape: [Int]? = nil, dataShape: [Int]? = nil, labelRows: Int? = nil) throws -> String {
        let path = dir + "/" + name
        let file = try HDF5File.create(path: path)
        let data = (0..<(rows * features)).map { Float(firstRow + $0 / features) + Float($0 % features) / 100 }
        try data.withUnsafeBufferPointer { try file.createFloatDataset("data", shape: dataShape ?? [rows, features], values: $0) }
        let lr = labelRows ?? rows
        let labels = (0..<lr).map { Float(firstRow + $0) }
        try labels.withUnsafeBufferPointer { try file.createFloatDataset("label", shape: labelShape ?? [lr], values: $0) }
        try file.close()
        return path
    }

    static func writeList(_ dir: String, _ entries: [String], name: String = "list.txt") throws -> String {
        let path = dir + "/" + name
        try (entries.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func param(list: String, batch: UInt32, shuffle: Bool = false, tops: [String] = ["data", "label"]) -> LayerParameter {
        Kit.param("HDF5Data", name: "h5") { p in
            var h = HDF5DataParameter()
            h.source = list; h.batchSize = batch; h.shuffle = shuffle
            p.hdf5DataParam = h
            p.top = tops
        }
    }

    /// The labels of `batches` forwards.
    func labels(_ layer: HDF5DataLayer, batches: Int) throws -> [[Float]] {
        let d = Blob(), l = Blob()
        try layer.setUp(bottom: [], top: [d, l])
        var out: [[Float]] = []
        for _ in 0..<batches {
            layer.forward(bottom: [], top: [d, l])
            if let e = layer.lastError { throw e }
            out.append(l.dataArray)
            // Data rows travel with their labels.
            for i in 0..<l.count { #expect(d.data[i * (d.count / l.count)].rounded(.down) == l.data[i]) }
        }
        return out
    }

    @Test func dataSpecHDF5Form() throws {
        #expect(try DataSpec.parse("hdf5:lists/train.txt") == .hdf5(list: "lists/train.txt"))
        #expect(DataSpec.hdf5(list: "a.txt").description == "hdf5:a.txt")
        #expect(throws: InputError.self) { try DataSpec.parse("hdf5:") }
        // hdf5:LIST feeds HDF5Data layers only.
        #expect(throws: InputError.self) { try DataSpec.hdf5(list: "a.txt").open(phase: .TRAIN) }
        // --batch-size reaches HDF5Data's batch_size.
        var net = NetParameter()
        net.layer = [param(list: "l.txt", batch: 10)]
        #expect(net.withBatchSize(4).layer[0].hdf5DataParam?.batchSize == 4)
    }

    @Test func rowsInOrderAcrossFilesWrapping() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Relative names resolve beside the list when they do not exist from the working directory.
        try Self.writeFile(dir, "a.h5", rows: 5)
        try Self.writeFile(dir, "b.h5", rows: 3, firstRow: 5)
        let list = try Self.writeList(dir, ["a.h5", "  b.h5"])
        let layer = try HDF5DataLayer(param: param(list: list, batch: 3), context: Kit.context())
        #expect(HDF5DataLayer.role == .data && layer.meanField == .source && layer.generatorDrawsPerForward == 0)
        let d = Blob(), l = Blob()
        try layer.setUp(bottom: [], top: [d, l])
        #expect(d.shape == [3, 3] && l.shape == [3])
        #expect(try labels(layer, batches: 4) == [[0, 1, 2], [3, 4, 5], [6, 7, 0], [1, 2, 3]])
        #expect((layer.source as? HDF5DataReader)?.recordsRead == 12)
    }

    @Test func fourAxisDataDoubleLabelsAndIntegerLabels() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/img.h5"
        let file = try HDF5File.create(path: path)
        let pixels = (0..<(2 * 2 * 3 * 3)).map { Float($0) }
        try pixels.withUnsafeBufferPointer { try file.createFloatDataset("data", shape: [2, 2, 3, 3], values: $0) }
        let doubles = try file.createExtendibleDataset("label", type: .float64)
        try [0.5, 7.25].withUnsafeBufferPointer { try doubles.append(doubles: $0, at: 0) }
        try file.createInt32Dataset("id", values: [11, 12])
        try file.close()
        let list = try Self.writeList(dir, [path])
        let layer = try HDF5DataLayer(param: param(list: list, batch: 3, tops: ["data", "label", "id"]), context: Kit.context())
        let d = Blob(), l = Blob(), id = Blob()
        try layer.setUp(bottom: [], top: [d, l, id])
        #expect(d.shape == [3, 2, 3, 3] && l.shape == [3] && id.shape == [3])
        layer.forward(bottom: [], top: [d, l, id])
        #expect(layer.lastError == nil)
        #expect(l.dataArray == [0.5, 7.25, 0.5] && id.dataArray == [11, 12, 11])
        #expect(Array(d.dataArray[18..<36]) == Array(pixels[18..<36]) && Array(d.dataArray[36...]) == Array(pixels[0..<18]))
    }

    /// glibc's rand() from its default seed, as std::random_shuffle uses it.
    @Test func glibcRandomMatchesTheCLibrary() {
        var ours = GlibcRandom()
        srand(1)
        for _ in 0..<1000 { #expect(ours.next() == rand()) }
    }

    /// Caffe's shuffle order, restated with the C library's own rand(): file order at set-up and at
    /// each wrap, rows at each load and again when a file's rows run out.
    @Test func shuffleFollowsCaffe() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sizes = [4, 3, 5]
        var first = 0
        var paths: [String] = []
        for (i, n) in sizes.enumerated() {
            paths.append(try Self.writeFile(dir, "f\(i).h5", rows: n, firstRow: first))
            first += n
        }
        let list = try Self.writeList(dir, paths)
        let layer = try HDF5DataLayer(param: param(list: list, batch: 5, shuffle: true), context: Kit.context())
        let got = try labels(layer, batches: 12).flatMap { $0 }

        srand(1)
        func shuffle(_ a: inout [Int]) { if a.count > 1 { for i in 1..<a.count { let j = Int(rand()) % (i + 1); if i != j { a.swapAt(i, j) } } } }
        let starts = [0, 4, 7]
        var files = [0, 1, 2]; shuffle(&files)
        var current = 0
        func load(_ f: Int) -> [Int] { var p = Array(0..<sizes[f]); shuffle(&p); return p }
        var rows = load(files[0]), row = 0
        var expected: [Float] = []
        while expected.count < got.count {
            expected.append(Float(starts[files[current]] + rows[row]))
            row += 1
            if row == sizes[files[current]] {
                current += 1
                if current == 3 { current = 0; shuffle(&files) }
                rows = load(files[current])
                row = 0
                shuffle(&rows)
            }
        }
        #expect(got == expected)
        // Each epoch serves every row once.
        #expect(Set(got.prefix(12)) == Set((0..<12).map(Float.init)))
    }

    @Test func refusals() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func message(_ p: LayerParameter) -> String {
            do { _ = try HDF5DataLayer(param: p, context: Kit.context()); return "" } catch { return "\(error)" }
        }
        let good = try Self.writeFile(dir, "good.h5", rows: 4)
        var withTransform = param(list: try Self.writeList(dir, [good]), batch: 2)
        withTransform.transformParam = TransformationParameter()
        #expect(message(withTransform).contains("does not transform data"))
        #expect(message(param(list: dir + "/none.txt", batch: 2)).contains("none.txt"))
        #expect(message(param(list: try Self.writeList(dir, [], name: "empty.txt"), batch: 2)).contains("names no file"))
        #expect(message(param(list: try Self.writeList(dir, ["missing.h5"], name: "m.txt"), batch: 2)).contains("missing.h5"))
        let rank = try Self.writeFile(dir, "rank.h5", rows: 1, labelShape: [])
        #expect(message(param(list: try Self.writeList(dir, [rank], name: "r.txt"), batch: 2)).contains("scalar"))
        let rows = try Self.writeFile(dir, "rows.h5", rows: 4, labelRows: 3)
        let rowsMessage = message(param(list: try Self.writeList(dir, [rows], name: "rows.txt"), batch: 2))
        #expect(rowsMessage.contains("rows.h5") && rowsMessage.contains("3 rows"))
        #expect(message(param(list: try Self.writeList(dir, [good], name: "g.txt"), batch: 2, tops: ["data", "nope"])).contains("'nope'"))
        // A truncated file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/cut.h5"))
        let cut = message(param(list: try Self.writeList(dir, [dir + "/cut.h5"], name: "c.txt"), batch: 2))
        #expect(cut.contains("cut.h5") && !cut.contains("\n"))
    }

    /// A later file with other row shapes stops the run from Net.forward, naming the file.
    @Test func laterBadFileStopsTheForward() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try Self.writeFile(dir, "a.h5", rows: 2)
        let b = try Self.writeFile(dir, "b.h5", rows: 2, features: 4)
        let list = try Self.writeList(dir, [a, b])
        var net = NetParameter()
        // Batch 1: the first forward serves a's row 0; the second serves row 1 and then loads b
        // (Caffe's Next() loads the next file right after a file's last row).
        net.layer = [param(list: list, batch: 1)]
        let built = try ConformanceSupport.buildNet(net, phase: .TRAIN)
        try built.forward()
        do {
            try built.forward()
            Issue.record("expected the second file to be refused")
        } catch let e as InputError {
            #expect(e.message.contains("b.h5") && e.message.contains("[4]"))
        }
    }

    /// BVLC's hdf5_classification net (data 10×4 floats + label) trains 3 iterations on a list given
    /// with --data hdf5:LIST (the net's own source path does not exist here).
    @Test func zooNetTrainsThreeIterations() throws {
        let net = packageRoot() + "/../shared/zoo/bvlc/hdf5_classification/nonlinear_auto_train.prototxt"
        guard FileManager.default.fileExists(atPath: net) else {
            print("skipping zooNetTrainsThreeIterations: \(net) not found")
            return
        }
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try HDF5File.create(path: dir + "/train.h5")
        var g = MT19937(seed: 5)
        let x = (0..<(40 * 4)).map { _ in Float(g.next()) / 4_294_967_296 * 2 - 1 }
        let y = (0..<40).map { Float((x[$0 * 4] * x[$0 * 4 + 1] > 0) ? 1 : 0) }
        try x.withUnsafeBufferPointer { try file.createFloatDataset("data", shape: [40, 4], values: $0) }
        try y.withUnsafeBufferPointer { try file.createFloatDataset("label", shape: [40], values: $0) }
        try file.close()
        let list = try Self.writeList(dir, [dir + "/train.h5"])
        // Without --data the missing source is named and --data hdf5:LIST suggested.
        let own = try RunSetup.load(solverPath: nil, netPath: net, data: nil, scheme: Scheme(), seed: 1, batchSize: nil)
        do {
            _ = try Trainer(setup: own, options: TrainingOptions())
            Issue.record("expected the missing source to be refused")
        } catch let e as InputError {
            #expect(e.message.contains("train.txt") && e.message.contains("hdf5:LIST"))
        }
        let setup = try RunSetup.load(solverPath: nil, netPath: net, data: "hdf5:" + list, scheme: Scheme(), seed: 1, batchSize: nil)
        var options = TrainingOptions()
        options.iterations = 3
        options.testIterations = 0
        let result = try Trainer(setup: setup, options: options).run()
        #expect(result.status == .finished && result.iterations == 3)
        #expect(result.record.loss.count == 3 && result.record.loss.allSatisfy { $0.isFinite && $0 > 0 })
        let trainer = try Trainer(setup: setup, options: options)
        #expect(trainer.trainNet.blob(named: "data")?.shape == [10, 4])
        #expect(trainer.trainNet.blob(named: "label")?.shape == [10])
    }

    /// Snapshot at 3, resume: the shuffled HDF5 stream continues where it was (bit-identical losses).
    @Test func shuffledResumeIsBitIdentical() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var paths: [String] = []
        for i in 0..<2 { paths.append(try Self.writeFile(dir, "p\(i).h5", rows: 5, features: 4, firstRow: i * 5)) }
        let list = try Self.writeList(dir, paths)
        // Labels are row ids 0…9: ten classes.
        try """
        name: "h5net"
        layer { name: "data" type: "HDF5Data" top: "data" top: "label" hdf5_data_param { source: "\(list)" batch_size: 3 shuffle: true } }
        layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 10 weight_filler { type: "gaussian" std: 0.1 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
        """.write(toFile: dir + "/net.prototxt", atomically: true, encoding: .utf8)
        try """
        net: "net.prototxt"
        base_lr: 0.1 momentum: 0.9 lr_policy: "fixed" max_iter: 7 snapshot: 3 snapshot_prefix: "h5" snapshot_format: HDF5 random_seed: 3
        """.write(toFile: dir + "/solver.prototxt", atomically: true, encoding: .utf8)
        let setup = try RunSetup.load(solverPath: dir + "/solver.prototxt", netPath: nil, data: nil, scheme: Scheme(), seed: nil, batchSize: nil)
        var straight = TrainingOptions()
        straight.snapshotDirectory = dir + "/straight"
        straight.testIterations = 0
        let full = try Trainer(setup: setup, options: straight).run()
        #expect(full.iterations == 7)
        let state = try CaffeSnapshot.readSolverState(from: dir + "/straight/h5_iter_3.solverstate.h5")
        #expect(state.resumeCounters["train_layer0_records"] == 9)
        var resumed = TrainingOptions()
        resumed.snapshotDirectory = dir + "/resumed"
        resumed.resumeFrom = dir + "/straight/h5_iter_3.solverstate.h5"
        resumed.testIterations = 0
        let rest = try Trainer(setup: setup, options: resumed).run()
        let a = full.record.loss.suffix(4).map { Float($0).bitPattern }, b = rest.record.loss.map { Float($0).bitPattern }
        #expect(a == b)
    }
}
