import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct DataSpecTests {
    @Test func parsesTheThreeForms() throws {
        #expect(try DataSpec.parse("cifar10:/data/cifar") == .cifar10(directory: "/data/cifar"))
        #expect(try DataSpec.parse("lmdb:rel/path:with:colons") == .lmdb(path: "rel/path:with:colons"))
        #expect(try DataSpec.parse("synthetic") == .synthetic(seed: SyntheticSource.defaultSeed))
        #expect(try DataSpec.parse("synthetic:42") == .synthetic(seed: 42))
        #expect(try DataSpec.parse("synthetic:18446744073709551615") == .synthetic(seed: UInt64.max))
        #expect(DataSpec.synthetic(seed: 42).description == "synthetic:42")
        #expect(try DataSpec.parse("leveldb:some/db") == .leveldb(path: "some/db"))
        #expect(try DataSpec.parse("mnist:data/mnist") == .mnist(directory: "data/mnist"))
        #expect(DataSpec.mnist(directory: "d").description == "mnist:d")
    }

    @Test func badSpecsListTheForms() {
        for bad in ["", "cifar10", "cifar10:", "lmdb:", "synthetic:", "synthetic:-1", "synthetic:abc",
                    "imagenet:/x", "CIFAR10:/x", "/path/only"] {
            let e = DataTestSupport.inputError { _ = try DataSpec.parse(bad) }
            #expect(e != nil, "'\(bad)' should be rejected")
            #expect(e?.message.contains(DataSpec.forms) == true)
            #expect(e?.message.contains("'\(bad)'") == true)
        }
    }

    @Test func opensEachKind() throws {
        let dir = try DataTestSupport.makeSmallCIFAR()
        defer { DataTestSupport.remove(dir) }
        #expect(try DataSpec.parse("cifar10:" + dir).open(phase: .TRAIN).recordCount == 6)
        #expect(try DataSpec.parse("cifar10:" + dir).open(phase: .TEST).recordCount == 3)
        #expect(try DataSpec.parse("synthetic:3").open(phase: .TRAIN).recordCount == 50_000)
        #expect(try DataSpec.parse("synthetic:3").open(phase: .TEST).recordCount == 10_000)
        let lmdbDir = try DataTestSupport.copyDir(DataTestSupport.fixture("python_lmdb"))
        defer { DataTestSupport.remove(lmdbDir) }
        #expect(try DataSpec.parse("lmdb:" + lmdbDir).open(phase: .TEST).recordCount == 5)
        #expect(DataTestSupport.inputError { _ = try DataSpec.lmdb(path: dir + "/none").open(phase: .TRAIN) }?.message.contains(dir + "/none") == true)
    }

    @Test func dataParameterSource() throws {
        var p = DataParameter()
        #expect(DataTestSupport.inputError { _ = try DataSpec.fromDataParameter(p, layerName: "data") }?.message.contains("--data") == true)
        p.source = "/nonexistent/train_db"
        p.backend = .LMDB
        let e = DataTestSupport.inputError { _ = try DataSpec.fromDataParameter(p, layerName: "data") }
        #expect(e?.message.contains("'/nonexistent/train_db' does not exist") == true)
        #expect(e?.message.contains("--data") == true)
        #expect(e?.message.contains("layer 'data'") == true)
        let lmdbDir = try DataTestSupport.copyDir(DataTestSupport.fixture("python_lmdb"))
        defer { DataTestSupport.remove(lmdbDir) }
        p.source = lmdbDir
        #expect(try DataSpec.fromDataParameter(p, layerName: "data") == .lmdb(path: lmdbDir))
        // backend LEVELDB (caffe.proto's default) names a LevelDB; opening an LMDB as one fails.
        p.backend = .LEVELDB
        #expect(try DataSpec.fromDataParameter(p, layerName: "data") == .leveldb(path: lmdbDir))
        #expect(DataTestSupport.inputError { _ = try DataSpec.leveldb(path: lmdbDir).open(phase: .TRAIN) }?.message.contains("not a LevelDB (no CURRENT file") == true)
    }
}
