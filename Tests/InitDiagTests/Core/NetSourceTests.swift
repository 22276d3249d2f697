import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct NetSourceTests {
    func write(_ bytes: [UInt8], _ name: String = #function) throws -> String {
        let path = temporaryDirectory(name) + "/net.bin"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
    let text = """
    name: "n"
    layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }
    layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
    """

    @Test func textPrototxt() throws {
        let loaded = try NetSource.load(path: try write(Array(text.utf8)))
        #expect(loaded.format == .prototxt)
        #expect(loaded.net.layer.map(\.name) == ["data", "ip"])
    }

    @Test func binaryNetParameterDropsItsWeights() throws {
        var net = try Prototxt.parseNet(text, path: "n.prototxt")
        var b = BlobProto(); b.data = [1, 2, 3]
        net.layer[1].blobs = [b]
        let bytes = CaffeModel.encode(net)
        #expect(NetSource.format(of: bytes) == .binaryNetParameter)
        let loaded = try NetSource.load(path: try write(bytes))
        #expect(loaded.format == .binaryNetParameter && loaded.droppedWeights)
        #expect(loaded.net.layer.map(\.name) == ["data", "ip"])
        #expect(loaded.net.layer.allSatisfy { $0.blobs.isEmpty })
    }

    @Test func onnxAndHDF5AreNamed() throws {
        let onnx = try write([0x08, 0x07, 0x12, 0x04, 0x74, 0x65, 0x73, 0x74])
        // ONNX goes to the importer: an empty graph is named as such, a real export imports.
        #expect(PrototxtFixtures.inputErrorMessage { _ = try NetSource.load(path: onnx) }?.contains("not an ONNX model") == true)
        let resnet = try NetSource.load(path: packageRoot() + "/Fixtures/reference/onnx/resnet18_w8.onnx")
        #expect(resnet.format == .onnx && resnet.net.layer.contains { $0.type == "TorchBatchNorm" })
        let h5 = try write(NetSource.hdf5Signature + [0, 0, 0, 0])
        #expect(PrototxtFixtures.inputErrorMessage { _ = try NetSource.load(path: h5) }?.contains("not a net") == true)
    }

    @Test func solverFileIsRecognised() throws {
        let solver = try write(Array("net: \"train_val.prototxt\"\nbase_lr: 0.01\nmax_iter: 10\n".utf8))
        let message = PrototxtFixtures.inputErrorMessage { _ = try NetSource.load(path: solver) }
        #expect(message?.contains("this is a solver file") == true)
        #expect(message?.contains("its net is 'train_val.prototxt'") == true)
        #expect(NetSource.solverNetName(Array(text.utf8)) == nil)
    }

    @Test func garbageAndTextErrorsKeepTheirPlace() throws {
        let garbage = try write(Array(0..<64))
        #expect(PrototxtFixtures.inputErrorMessage { _ = try NetSource.load(path: garbage) }?.contains("net.bin:1:1") == true)
        // Bytes that look binary but do not decode go to the text reader, which names the place.
        let broken = try write([0x0A, 0x05, 0x01, 0x02])
        #expect(PrototxtFixtures.inputErrorMessage { _ = try NetSource.load(path: broken) }?.contains("net.bin:") == true)
        let typo = try write(Array("layer { name: \"a\" typ: \"ReLU\" }".utf8))
        #expect(PrototxtFixtures.inputErrorMessage { _ = try NetSource.load(path: typo) }?.contains("net.bin:1:") == true)
    }
}
