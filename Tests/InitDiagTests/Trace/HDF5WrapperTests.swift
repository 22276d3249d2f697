import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct HDF5WrapperTests {
    @Test func attributesOfEveryKindRoundTrip() throws {
        let folder = try TraceTestSupport.scratchFolder("attrs")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("a.h5").path
        let values: [String: HDF5AttributeValue] = [
            "s": .string("hello, wörld"), "empty": .string(""), "i": .int(-9_007_199_254_740_993),
            "d": .double(-0.1), "is": .ints([1, -2, 3]), "ds": .doubles([0.5, .infinity, -1e-300]),
        ]
        do {
            let file = try HDF5File.create(path: path)
            let group = try file.createGroup("g")
            for (k, v) in values { try group.setAttribute(k, v) }
            try group.setAttribute("replaced", .string("first"))
            try group.setAttribute("replaced", .int(2))
            try file.close()
        }
        let file = try HDF5File.open(path: path)
        let group = try file.openGroup("g")
        for (k, v) in values { #expect(try group.attribute(k) == v, "\(k)") }
        #expect(try group.attribute("replaced") == .int(2))
        #expect(try group.attribute("missing") == nil)
        #expect(try group.attributeNames() == (Array(values.keys) + ["replaced"]).sorted())
        let dump = try TraceTestSupport.h5dump(["-a", "/g/is", path])
        #expect(TraceTestSupport.dumpedNumbers(dump.output) == [1, -2, 3])
    }

    @Test func groupsDatasetsAndLinks() throws {
        let folder = try TraceTestSupport.scratchFolder("groups")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("g.h5").path
        do {
            let file = try HDF5File.create(path: path)
            let deep = try file.createGroup(path: "a/b/c")
            #expect(deep.path == "/a/b/c")
            let series = try deep.createExtendibleDataset("x", type: .float64, chunk: 4)
            try [1.0, 2, 3].withUnsafeBufferPointer { try series.append(doubles: $0, at: 0) }
            try [4.0, 5, 6, 7, 8].withUnsafeBufferPointer { try series.append(doubles: $0, at: 3) }
            let counts = try file.createExtendibleDataset("n", type: .int64)
            try [Int64.max, Int64.min].withUnsafeBufferPointer { try counts.append(int64s: $0, at: 0) }
            try [Float](repeating: 1.5, count: 6).withUnsafeBufferPointer {
                try file.createFloatDataset("m", shape: [2, 3], values: $0)
            }
            try file.close()
        }
        let file = try HDF5File.open(path: path)
        #expect(try file.childNames() == ["a", "m", "n"])
        #expect(try file.childKind("a") == .group && file.childKind("m") == .dataset)
        #expect(try file.openGroup("a/b").childNames() == ["c"])
        let x = try file.openDataset("a/b/c/x").readDoubles()
        #expect(x.shape == [8] && x.values == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try file.openDataset("n").readInt64s().values == [Int64.max, Int64.min])
        let m = try file.openDataset("m").readFloats()
        #expect(m.shape == [2, 3] && m.values == [Float](repeating: 1.5, count: 6))
        // Errors name the file and the object, with HDF5's own reason.
        let error = try #require(throws: HDF5Error.self) { try file.openGroup("a/zzz") }
        #expect(error.file == path && error.path == "/a/zzz" && !error.reason.isEmpty)
        #expect(error.description.hasPrefix(path))
        #expect(throws: HDF5Error.self) { try file.openDataset("a") }
        #expect(throws: HDF5Error.self) { try file.createGroup("a") }
    }

    /// Why the trace is not written with SWMR (TraceWriter): h5dump 1.10 cannot open a file that
    /// an SWMR writer holds or left behind; our reader can (it falls back to an SWMR read).
    @Test func swmrFilesNeedAnSWMRReader() throws {
        let folder = try TraceTestSupport.scratchFolder("swmr")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("swmr.h5").path
        let file = try HDF5File.create(path: path, latestFormat: true)
        try file.setAttribute("status", .string("running"))
        var series: HDF5Dataset? = try file.createExtendibleDataset("loss", type: .float64)
        try file.startSWMRWrite()
        try [2.5, 2.25].withUnsafeBufferPointer { try series?.append(doubles: $0, at: 0) }
        try file.flush()
        // A snapshot of the disk as a killed SWMR writer would leave it (a separate file, so this
        // process's open handle is not shared).
        let copy = folder.appendingPathComponent("killed.h5").path
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        #expect(try TraceTestSupport.h5dump([path]).status != 0)
        #expect(try TraceTestSupport.h5dump([copy]).status != 0)
        let reader = try HDF5File.open(path: copy, readOnly: true)
        #expect(try reader.openDataset("loss").readDoubles().values == [2.5, 2.25])
        #expect(try reader.attribute("status") == .string("running"))
        try reader.close()
        series = nil  // an open dataset would keep the file open past close (HDF5's weak close)
        try file.close()
        #expect(try TraceTestSupport.h5dump([path]).status == 0)
    }
}
