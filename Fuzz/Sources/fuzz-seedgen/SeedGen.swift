// Writes the binary seed corpora with the library's own encoders:
//   fuzz-seedgen <repo root> <output dir>
// creates <output dir>/fuzz-caffemodel/ (every fixture net encoded as a .caffemodel, with small
// weight blobs attached) and <output dir>/fuzz-blobproto-datum/ (BlobProto, Datum and
// SolverState messages covering every field). Deterministic: same fixtures, same bytes.
import Foundation
import InitDiag

@main
struct SeedGen {
    static func write(_ bytes: [UInt8], _ dir: String, _ name: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
    }

    static func blob(_ shape: [Int64], legacy: Bool = false, double: Bool = false, diff: Bool = false) -> BlobProto {
        var b = BlobProto()
        let count = Int(shape.reduce(1, *))
        let values = (0..<count).map { Float($0 % 7) * 0.25 - 0.5 }
        if legacy {
            let padded = Array(repeating: Int64(1), count: max(0, 4 - shape.count)) + shape
            b.num = Int32(padded[0]); b.channels = Int32(padded[1]); b.height = Int32(padded[2]); b.width = Int32(padded[3])
        } else {
            b.shape = BlobShape(dim: shape)
        }
        if double { b.doubleData = values.map(Double.init) } else { b.data = values }
        if diff { if double { b.doubleDiff = values.map { -Double($0) } } else { b.diff = values.map { -$0 } } }
        return b
    }

    static func main() throws {
        let args = CommandLine.arguments
        guard args.count == 3 else {
            FileHandle.standardError.write("usage: fuzz-seedgen <repo root> <output dir>\n".data(using: .utf8)!)
            exit(2)
        }
        let root = args[1], out = args[2]
        let nets = ["Fixtures/seed/train_val.prototxt", "Fixtures/prototxt/every_field.prototxt",
                    "Fixtures/prototxt/v1_net.prototxt", "Fixtures/nets/pytorch_cifar_vgg19_bn.prototxt",
                    "Fixtures/reference/conformance/net.prototxt", "Fixtures/reference/conformance_bn/net.prototxt",
                    "Fixtures/reference/solver/net.prototxt"]
        for path in nets {
            var net = try Prototxt.loadNet(path: "\(root)/\(path)")
            let stem = path.split(separator: "/").suffix(2).joined(separator: "_").replacingOccurrences(of: ".prototxt", with: "")
            try write(CaffeModel.encode(net), "\(out)/fuzz-caffemodel", "\(stem).caffemodel")
            // The same net with a small weight blob on its first two layers (what a snapshot holds).
            for i in net.layer.indices.prefix(2) { net.layer[i].blobs = [blob([2, 3]), blob([3], legacy: true)] }
            try write(CaffeModel.encode(net), "\(out)/fuzz-caffemodel", "\(stem)_weights.caffemodel")
        }

        // A legacy net whose V1 `layers` (field 2) only the binary reader's upgrade turns into `layer`
        // (the text fixtures are upgraded while parsing, so their encodings hold none).
        var v1 = NetParameter()
        v1.name = "v1_binary"
        var data = V1LayerParameter()
        data.name = "data"; data.type = "DATA"; data.top = ["data", "label"]
        var dp = DataParameter(); dp.source = "train_lmdb"; dp.batchSize = 4
        data.dataParam = dp
        var conv = V1LayerParameter()
        conv.name = "conv1"; conv.type = "CONVOLUTION"; conv.bottom = ["data"]; conv.top = ["conv1"]
        var cp = ConvolutionParameter(); cp.numOutput = 2; cp.kernelSize = [3]; cp.pad = [1]
        conv.convolutionParam = cp
        conv.blobs = [blob([2, 3, 3, 3], legacy: true), blob([2], legacy: true)]
        conv.blobsLr = [1, 2]; conv.weightDecay = [1, 0]; conv.param = ["w", ""]
        var relu = V1LayerParameter()
        relu.name = "relu1"; relu.type = "RELU"; relu.bottom = ["conv1"]; relu.top = ["conv1"]
        var loss = V1LayerParameter()
        loss.name = "loss"; loss.type = "SOFTMAX_LOSS"; loss.bottom = ["conv1", "label"]; loss.top = ["loss"]
        v1.layers = [data, conv, relu, loss]
        try write(CaffeModel.encode(v1), "\(out)/fuzz-caffemodel", "v1_layers.caffemodel")

        let dir = "\(out)/fuzz-blobproto-datum"
        try write(blob([1, 3, 2, 2]).encode(), dir, "blob_nd.binaryproto")
        try write(blob([3, 2, 2], legacy: true).encode(), dir, "blob_legacy.binaryproto")
        try write(blob([2, 2], double: true, diff: true).encode(), dir, "blob_double.binaryproto")
        try write(blob([4], diff: true).encode(), dir, "blob_diff.binaryproto")
        var datum = Datum()
        datum.channels = 3; datum.height = 2; datum.width = 2; datum.label = 7
        datum.data = (0..<12).map { UInt8($0 * 20) }
        try write(datum.encode(), dir, "datum_bytes.bin")
        var floats = Datum()
        floats.channels = 1; floats.height = 2; floats.width = 2; floats.label = 1
        floats.floatData = [0.5, -1, 2, 1e-3]
        try write(floats.encode(), dir, "datum_floats.bin")
        var encoded = Datum()
        encoded.encoded = true; encoded.data = Array("\u{89}PNG\r\n".utf8); encoded.label = 3
        try write(encoded.encode(), dir, "datum_encoded.bin")
        var state = SolverState()
        state.iter = 1000; state.currentStep = 2; state.learnedNet = "snap_iter_1000.caffemodel"
        state.history = [blob([2, 3]), blob([3], legacy: true)]
        try write(state.encode(), dir, "solverstate.solverstate")
    }
}
