import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

private func randomFloats(_ n: Int, seed: UInt32) -> [Float] {
    var g = MT19937(seed: seed)
    // Arbitrary bit patterns of finite floats: exercises every mantissa bit, denormals and -0.
    return (0..<n).map { _ in
        var v = Float(bitPattern: g.next())
        while !v.isFinite { v = Float(bitPattern: g.next()) }
        return v
    }
}

private func bitsEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// A small net's weights: conv (4-D weight, 1-D bias), a layer without blobs, a `/` name, a
/// BatchNorm-like layer with a 1-element blob.
private func sampleLayers() -> [(name: String, blobs: [CaffeSnapshotBlob])] {
    var special = randomFloats(2 * 3 * 3 * 3, seed: 1)
    special[0] = -0.0; special[1] = .leastNonzeroMagnitude; special[2] = .greatestFiniteMagnitude; special[3] = -Float.leastNormalMagnitude / 3
    return [
        (name: "data", blobs: []),
        (name: "conv1", blobs: [CaffeSnapshotBlob(shape: [2, 3, 3, 3], values: special),
                                CaffeSnapshotBlob(shape: [2], values: [0.5, -0.25])]),
        (name: "relu1", blobs: []),
        (name: "inception_3a/1x1", blobs: [CaffeSnapshotBlob(shape: [4, 2, 1, 1], values: randomFloats(8, seed: 2))]),
        (name: "bn1", blobs: [CaffeSnapshotBlob(shape: [2], values: [1, 2]), CaffeSnapshotBlob(shape: [2], values: [3, 4]),
                              CaffeSnapshotBlob(shape: [1], values: [999.5])]),
        (name: "fc", blobs: [CaffeSnapshotBlob(shape: [10, 18], values: randomFloats(180, seed: 3)),
                             CaffeSnapshotBlob(shape: [10], values: randomFloats(10, seed: 4))]),
    ]
}

@Suite struct CaffeSnapshotTests {
    @Test func weightsRoundTripBitExactAndReadableByH5dump() throws {
        let folder = try TraceTestSupport.scratchFolder("weights")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("net_iter_100.caffemodel.h5").path
        let layers = sampleLayers()
        let diffs = layers.map { layer in
            (name: layer.name, blobs: layer.blobs.map { CaffeSnapshotBlob(shape: $0.shape, values: $0.values.map { $0 * -2 }) })
        }
        try CaffeSnapshot.writeWeights(to: path, layers: layers, diff: diffs)
        // Only the final file remains: the temporary name was renamed away.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["net_iter_100.caffemodel.h5"])

        let read = try CaffeSnapshot.readWeights(from: path)
        #expect(Set(read.layerNames) == Set(layers.map(\.name)))
        for layer in layers {
            let blobs = try #require(read.data[layer.name], "\(layer.name)")
            #expect(blobs.map(\.shape) == layer.blobs.map(\.shape), "\(layer.name)")
            for (a, b) in zip(blobs, layer.blobs) { #expect(bitsEqual(a.values, b.values), "\(layer.name)") }
            let diff = try #require(read.diff?[layer.name])
            for (a, b) in zip(diff, layer.blobs) { #expect(bitsEqual(a.values, b.values.map { $0 * -2 })) }
        }

        let header = try TraceTestSupport.h5dump(["-H", path])
        #expect(header.status == 0)
        #expect(header.output.contains("GROUP \"data\"") && header.output.contains("GROUP \"diff\""))
        #expect(header.output.contains("GROUP \"relu1\"") && header.output.contains("GROUP \"inception_3a\""))
        #expect(header.output.contains("DATASPACE  SIMPLE { ( 2, 3, 3, 3 ) / ( 2, 3, 3, 3 ) }"))
        #expect(header.output.contains("H5T_IEEE_F32LE"))
        let bias = try TraceTestSupport.h5dump(["-d", "/data/conv1/1", path])
        #expect(TraceTestSupport.dumpedNumbers(bias.output) == [0.5, -0.25])
        let nested = try TraceTestSupport.h5dump(["-m", "%.9g", "-d", "/data/inception_3a/1x1/0", path])
        #expect(TraceTestSupport.dumpedNumbers(nested.output).map(Float.init) == layers[3].blobs[0].values)
    }

    @Test func writingFromBlobsEqualsWritingValues() throws {
        let folder = try TraceTestSupport.scratchFolder("blobs")
        defer { try? FileManager.default.removeItem(at: folder) }
        let weight = Blob(name: "w", shape: [3, 2, 2, 2])
        weight.setData(randomFloats(24, seed: 7))
        weight.setDiff(randomFloats(24, seed: 8))
        let bias = Blob(name: "b", shape: [3])
        bias.setData([1, 2, 3])
        let path = folder.appendingPathComponent("b.caffemodel.h5").path
        try CaffeSnapshot.writeWeights(to: path, netLayers: [(name: "conv", blobs: [weight, bias]), (name: "pool", blobs: [])],
                                       writeDiff: true)
        let read = try CaffeSnapshot.readWeights(from: path)
        let conv = try #require(read.data["conv"])
        #expect(conv.count == 2 && conv[0].shape == [3, 2, 2, 2] && bitsEqual(conv[0].values, Array(weight.dataBuffer)))
        #expect(conv[1].values == [1, 2, 3])
        #expect(bitsEqual(try #require(read.diff?["conv"])[0].values, Array(weight.diffBuffer)))
        #expect(read.data["pool"]?.isEmpty == true)
    }

    @Test func nonFiniteWeightsNameLayerAndBlob() throws {
        let folder = try TraceTestSupport.scratchFolder("nan")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("nan.caffemodel.h5").path
        try CaffeSnapshot.writeWeights(to: path, layers: [
            (name: "conv1", blobs: [CaffeSnapshotBlob(shape: [2], values: [1, 2])]),
            (name: "fc7", blobs: [CaffeSnapshotBlob(shape: [2], values: [1, 2]), CaffeSnapshotBlob(shape: [3], values: [0, .nan, 1])]),
        ])
        let error = try #require(throws: InputError.self) { try CaffeSnapshot.readWeights(from: path) }
        #expect(error.message.contains(path) && error.message.contains("'fc7'") && error.message.contains("blob 1"))
        let allowed = try CaffeSnapshot.readWeights(from: path, allowNonFinite: true)
        #expect(allowed.data["fc7"]?[1].values[1].isNaN == true)
    }

    @Test func solverStateRoundTripsInCaffesLayout() throws {
        let folder = try TraceTestSupport.scratchFolder("solver")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("net_iter_7.solverstate.h5").path
        let state = CaffeSolverState(iter: 7, learnedNet: "snap/net_iter_7.caffemodel.h5", currentStep: 2, history: [
            CaffeSnapshotBlob(shape: [2, 3, 3, 3], values: randomFloats(54, seed: 5)),
            CaffeSnapshotBlob(shape: [2], values: [-0.0, 3]),
        ])
        try CaffeSnapshot.writeSolverState(state, to: path)
        let read = try CaffeSnapshot.readSolverState(from: path)
        #expect(read.iter == 7 && read.currentStep == 2 && read.learnedNet == state.learnedNet)
        #expect(read.history.map(\.shape) == [[2, 3, 3, 3], [2]])
        #expect(zip(read.history, state.history).allSatisfy { bitsEqual($0.values, $1.values) })

        let iter = try TraceTestSupport.h5dump(["-d", "/iter", path])
        #expect(iter.output.contains("H5T_STD_I32LE") && iter.output.contains("SIMPLE { ( 1 ) / ( 1 ) }"))
        #expect(TraceTestSupport.dumpedNumbers(iter.output) == [7])
        let net = try TraceTestSupport.h5dump(["-d", "/learned_net", path])
        // Fixed-length, NUL-terminated, as H5LTmake_dataset_string writes it.
        #expect(net.output.contains("STRSIZE \(state.learnedNet.utf8.count + 1);") && net.output.contains("H5T_STR_NULLTERM"))
        #expect(net.output.contains("\"snap/net_iter_7.caffemodel.h5\""))
        let history = try TraceTestSupport.h5dump(["-H", "-g", "/history", path])
        #expect(history.output.contains("DATASET \"0\"") && history.output.contains("DATASET \"1\""))
        // A weights file is not a solver state.
        let weights = folder.appendingPathComponent("w.caffemodel.h5").path
        try CaffeSnapshot.writeWeights(to: weights, layers: [(name: "a", blobs: [])])
        #expect(throws: InputError.self) { try CaffeSnapshot.readSolverState(from: weights) }
        #expect(throws: InputError.self) { try CaffeSnapshot.readWeights(from: path) }
    }

    @Test func corruptTruncatedAndForeignFilesThrowInputErrorNamingTheFile() throws {
        let folder = try TraceTestSupport.scratchFolder("corrupt")
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = folder.appendingPathComponent("good.caffemodel.h5").path
        try CaffeSnapshot.writeWeights(to: good, layers: sampleLayers())
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        #expect(bytes.count > 2000)
        var cases: [(String, Data)] = [
            ("empty", Data()), ("text", Data("layer { name: \"conv1\" }\n".utf8)),
            ("random", Data(randomFloats(512, seed: 11).flatMap { withUnsafeBytes(of: $0) { Array($0) } })),
            ("signature-only", bytes.prefix(8)),
        ]
        for fraction in stride(from: 1, through: 15, by: 1) {
            cases.append(("truncated-\(fraction)of16", bytes.prefix(bytes.count * fraction / 16)))
        }
        cases.append(("truncated-by-1", bytes.prefix(bytes.count - 1)))
        for (name, content) in cases {
            let path = folder.appendingPathComponent("\(name).caffemodel.h5").path
            try content.write(to: URL(fileURLWithPath: path))
            let error = try #require(throws: InputError.self, "\(name)") { try CaffeSnapshot.readWeights(from: path) }
            #expect(error.message.hasPrefix(path), "\(name): \(error.message)")
            #expect(!error.message.contains("\n"), "\(name): one line")
            #expect(throws: InputError.self, "\(name)") { try CaffeSnapshot.readSolverState(from: path) }
        }
        let missing = folder.appendingPathComponent("none.caffemodel.h5").path
        let error = try #require(throws: InputError.self) { try CaffeSnapshot.readWeights(from: missing) }
        #expect(error.message.contains(missing))
    }

    @Test func failedWritesLeaveNoFileBehind() throws {
        let folder = try TraceTestSupport.scratchFolder("failwrite")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("bad.caffemodel.h5").path
        // A blob whose shape does not hold its values fails half-way through the file.
        let bad: [(name: String, blobs: [CaffeSnapshotBlob])] = [
            (name: "ok", blobs: [CaffeSnapshotBlob(shape: [1], values: [1])]),
            (name: "broken", blobs: [CaffeSnapshotBlob(shape: [2, 2], values: [1, 2, 3])]),
        ]
        #expect(throws: InputError.self) { try CaffeSnapshot.writeWeights(to: path, layers: bad) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        // An existing good snapshot is not touched by a failed rewrite.
        try CaffeSnapshot.writeWeights(to: path, layers: [(name: "ok", blobs: [CaffeSnapshotBlob(shape: [1], values: [5])])])
        #expect(throws: InputError.self) { try CaffeSnapshot.writeWeights(to: path, layers: bad) }
        #expect(try CaffeSnapshot.readWeights(from: path).data["ok"]?[0].values == [5])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["bad.caffemodel.h5"])
        let unwritable = folder.appendingPathComponent("no/dir/x.caffemodel.h5").path
        let error = try #require(throws: InputError.self) {
            try CaffeSnapshot.writeWeights(to: unwritable, layers: [(name: "a", blobs: [])])
        }
        #expect(error.message.contains(unwritable))
    }
}
