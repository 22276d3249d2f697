import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine

/// Small graphs built here with the generated ONNX types: one op (or one pattern) each, imported,
/// checked for the Caffe layer it becomes and, where the semantics differ, run.
@Suite struct ONNXImportTests {
    // MARK: Building models

    static func tensor(_ name: String, _ shape: [Int], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.floatData = values
        return t
    }

    static func intTensor(_ name: String, _ shape: [Int], _ values: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        t.int64Data = values
        return t
    }

    static func attr(_ name: String, ints: [Int64]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = ints; return a
    }
    static func attr(_ name: String, int: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = int; return a
    }
    static func attr(_ name: String, float: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .float; a.f = float; return a
    }
    static func attr(_ name: String, tensor: Onnx_TensorProto) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .tensor; a.t = tensor; return a
    }

    static func node(_ op: String, _ name: String, _ inputs: [String], _ outputs: [String],
                     _ attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op; n.name = name; n.input = inputs; n.output = outputs; n.attribute = attributes
        return n
    }

    static func valueInfo(_ name: String, _ shape: [Int]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.shape.dim = shape.map { d in var dim = Onnx_TensorShapeProto.Dimension(); dim.dimValue = Int64(d); return dim }
        v.type.tensorType = t
        return v
    }

    static func model(_ nodes: [Onnx_NodeProto], _ inits: [Onnx_TensorProto], input: [Int], output: String,
                      outShape: [Int], opset: Int64 = 17) throws -> [UInt8] {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto(); o.domain = ""; o.version = opset
        m.opsetImport = [o]
        m.producerName = "initdiag-tests"
        m.graph.name = "g"
        m.graph.node = nodes
        m.graph.initializer = inits
        m.graph.input = [valueInfo("x", input)]
        m.graph.output = [valueInfo(output, outShape)]
        return try m.serializedBytes()
    }

    static func importBytes(_ b: [UInt8]) throws -> ONNXImportedNet { try ONNXImport.importModel(bytes: b, path: "m.onnx") }

    static func ramp(_ n: Int, _ scale: Float = 0.1) -> [Float] { (0..<n).map { Float(($0 * 7) % 11) * scale - 0.5 } }

    /// A classifier head so that every graph ends in (N, classes).
    static func head(_ from: String, features: Int, classes: Int = 3) -> ([Onnx_NodeProto], [Onnx_TensorProto]) {
        ([Self.node("Flatten", "/Flatten", [from], ["flat"], [Self.attr("axis", int: 1)]),
          Self.node("Gemm", "/fc/Gemm", ["flat", "fc.w", "fc.b"], ["y"], [Self.attr("transB", int: 1)])],
         [tensor("fc.w", [classes, features], ramp(classes * features)), tensor("fc.b", [classes], ramp(classes))])
    }

    static func layer(_ net: ONNXImportedNet, _ name: String) throws -> LayerParameter {
        try #require(net.net.layer.first { $0.name == name }, "no layer \(name)")
    }

    static func run(_ imported: ONNXImportedNet, input: [Float], phase: Phase = .TRAIN) throws -> Net {
        let net = try ConformanceSupport.buildNet(imported.net, phase: phase)
        net.blobs[net.inputBlobIDs[0]].setData(input)
        net.blobs[net.inputBlobIDs[1]].setData([Float](repeating: 0, count: net.blobs[net.inputBlobIDs[1]].count))
        try net.forward()
        return net
    }

    // MARK: Ops

    @Test func viewShapeSubgraphBecomesFlatten() throws {
        // x.view(x.size(0), -1) as the TorchScript exporter writes it with a dynamic batch:
        // Shape → Gather(0) → Unsqueeze → Concat(−1) → Reshape.
        let nodes = [
            Self.node("Relu", "/r/Relu", ["x"], ["r"]),
            Self.node("Shape", "/Shape", ["r"], ["s"]),
            Self.node("Constant", "/Constant", [], ["zero"], [Self.attr("value", tensor: Self.intTensor("", [], [0]))]),
            Self.node("Gather", "/Gather", ["s", "zero"], ["n"], [Self.attr("axis", int: 0)]),
            Self.node("Constant", "/Constant_1", [], ["axes"], [Self.attr("value", tensor: Self.intTensor("", [1], [0]))]),
            Self.node("Unsqueeze", "/Unsqueeze", ["n", "axes"], ["n1"]),
            Self.node("Constant", "/Constant_2", [], ["minus1"], [Self.attr("value", tensor: Self.intTensor("", [1], [-1]))]),
            Self.node("Concat", "/Concat", ["n1", "minus1"], ["shape"], [Self.attr("axis", int: 0)]),
            Self.node("Reshape", "/Reshape", ["r", "shape"], ["flat"]),
            Self.node("Gemm", "/fc/Gemm", ["flat", "fc.w", "fc.b"], ["y"], [Self.attr("transB", int: 1)]),
        ]
        let net = try Self.importBytes(try Self.model(nodes, [Self.tensor("fc.w", [3, 8], Self.ramp(24)), Self.tensor("fc.b", [3], [0, 0, 0])],
                                                      input: [2, 2, 2, 2], output: "y", outShape: [2, 3]))
        #expect(try Self.layer(net, "/Reshape").type == "Flatten")
        #expect(net.net.layer.map { $0.type } == ["Input", "ReLU", "Flatten", "InnerProduct", "SoftmaxWithLoss"])
    }

    @Test func gemmWithoutTransBIsTransposedAndMatMulAddFuses() throws {
        // y = x·B + C with B (in, out) = [[1, 2, 3], [4, 5, 6]] → Caffe weight (out, in).
        let b: [Float] = [1, 2, 3, 4, 5, 6]
        let nodes = [Self.node("Flatten", "/Flatten", ["x"], ["f"], [Self.attr("axis", int: 1)]),
                     Self.node("Gemm", "/g/Gemm", ["f", "B", "C"], ["y"])]
        let net = try Self.importBytes(try Self.model(nodes, [Self.tensor("B", [2, 3], b), Self.tensor("C", [3], [0.5, 0, -0.5])],
                                                      input: [1, 2, 1, 1], output: "y", outShape: [1, 3]))
        let ip = try Self.layer(net, "/g/Gemm")
        #expect(ip.blobs[0].resolvedShape == [3, 2] && ip.blobs[0].data == [1, 4, 2, 5, 3, 6])
        let ran = try Self.run(net, input: [1, 2])
        #expect(ran.blob(named: "y")!.dataArray == [9.5, 12, 14.5])

        let mm = [Self.node("Flatten", "/Flatten", ["x"], ["f"], [Self.attr("axis", int: 1)]),
                  Self.node("MatMul", "/l/MatMul", ["f", "B"], ["m"]),
                  Self.node("Add", "/l/Add", ["m", "C"], ["y"])]
        let net2 = try Self.importBytes(try Self.model(mm, [Self.tensor("B", [2, 3], b), Self.tensor("C", [3], [0.5, 0, -0.5])],
                                                       input: [1, 2, 1, 1], output: "y", outShape: [1, 3]))
        #expect(net2.net.layer.map { $0.type } == ["Input", "Flatten", "InnerProduct", "SoftmaxWithLoss"])
        #expect(net2.parameters["C"] == ONNXParameterPlace(layer: "/l/MatMul", blob: 1))
        #expect(try Self.run(net2, input: [1, 2]).blob(named: "y")!.dataArray == [9.5, 12, 14.5])
    }

    /// PyTorch's ceil_mode output size, where Caffe's CEIL rule (drops the last window only
    /// with padding) would give one more: 5 wide, kernel 1, stride 2 → PyTorch 3, and 6 wide,
    /// kernel 2, stride 3 → ⌈4/3⌉ + 1 = 3 in Caffe CEIL, 2 in PyTorch (the last window would
    /// start at 6 ≥ in + pad): the importer picks FLOOR there.
    @Test func poolingOutputSizeIsPyTorchs() throws {
        #expect(ONNXNetBuilder.torchPoolOut(6, k: 2, s: 3, p: 0, ceil: true) == 2)
        #expect(ONNXNetBuilder.caffePoolOut(6, k: 2, s: 3, p: 0, ceil: true) == 3)
        #expect(ONNXNetBuilder.torchPoolOut(7, k: 3, s: 2, p: 0, ceil: true) == 3)
        for (size, k, s, ceil, want, mode) in [(6, 2, 3, 1, 2, PoolingParameter.RoundMode.FLOOR),
                                               (7, 2, 2, 1, 4, .CEIL), (7, 2, 2, 0, 3, .FLOOR)] {
            let nodes = [Self.node("MaxPool", "/p/MaxPool", ["x"], ["p"],
                              [Self.attr("kernel_shape", ints: [Int64(k), Int64(k)]), Self.attr("strides", ints: [Int64(s), Int64(s)]),
                               Self.attr("ceil_mode", int: Int64(ceil))])]
            let (h, hi) = Self.head("p", features: want * want)
            let net = try Self.importBytes(try Self.model(nodes + h, hi, input: [1, 1, size, size], output: "y", outShape: [1, 3]))
            let pool = try Self.layer(net, "/p/MaxPool")
            #expect(pool.poolingParam?.roundMode == mode, "size \(size) k \(k) s \(s) ceil \(ceil)")
            let ran = try Self.run(net, input: Self.ramp(size * size))
            #expect(ran.blob(named: "p")!.shape == [1, 1, want, want])
        }
    }

    @Test func padFoldsIntoConvAndReduceMeanIsGlobalPooling() throws {
        let nodes = [
            Self.node("Constant", "/pads", [], ["pads"], [Self.attr("value", tensor: Self.intTensor("", [8], [0, 0, 1, 1, 0, 0, 1, 1]))]),
            Self.node("Pad", "/Pad", ["x", "pads"], ["xp"]),
            Self.node("Conv", "/c/Conv", ["xp", "w"], ["c"], [Self.attr("kernel_shape", ints: [3, 3])]),
            Self.node("ReduceMean", "/ReduceMean", ["c"], ["m"], [Self.attr("axes", ints: [2, 3]), Self.attr("keepdims", int: 0)]),
            Self.node("Gemm", "/fc/Gemm", ["m", "fc.w", "fc.b"], ["y"], [Self.attr("transB", int: 1)]),
        ]
        let net = try Self.importBytes(try Self.model(nodes, [Self.tensor("w", [2, 1, 3, 3], Self.ramp(18)),
                                                              Self.tensor("fc.w", [3, 2], Self.ramp(6)), Self.tensor("fc.b", [3], [0, 0, 0])],
                                                      input: [1, 1, 4, 4], output: "y", outShape: [1, 3]))
        let conv = try Self.layer(net, "/c/Conv")
        #expect(conv.bottom == ["x"] && conv.convolutionParam?.padH == 1 && conv.convolutionParam?.padW == 1)
        #expect(conv.convolutionParam?.biasTerm == false)
        #expect(try Self.layer(net, "/ReduceMean").poolingParam?.globalPooling == true)
        let ran = try Self.run(net, input: Self.ramp(16))
        #expect(ran.blob(named: "c")!.shape == [1, 2, 4, 4] && ran.blob(named: "m")!.shape == [1, 2])
    }

    @Test func clipDropoutAddConcat() throws {
        let nodes = [
            Self.node("Constant", "/min", [], ["lo"], [Self.attr("value", tensor: Self.tensor("", [], [0]))]),
            Self.node("Clip", "/Clip", ["x", "lo"], ["r"]),
            Self.node("Constant", "/ratio", [], ["ratio"], [Self.attr("value", tensor: Self.tensor("", [], [0.25]))]),
            Self.node("Constant", "/train", [], ["t"], [Self.attr("value", tensor: { var t = Self.intTensor("", [], [1]); t.dataType = 9; t.int64Data = []; t.int32Data = [1]; return t }())]),
            Self.node("Dropout", "/Dropout", ["r", "ratio", "t"], ["d", "mask"]),
            Self.node("Add", "/Add", ["d", "r"], ["s"]),
            Self.node("Concat", "/Concat", ["s", "r"], ["cat"], [Self.attr("axis", int: 1)]),
        ]
        let (h, hi) = Self.head("cat", features: 16)
        let net = try Self.importBytes(try Self.model(nodes + h, hi, input: [2, 2, 2, 2], output: "y", outShape: [2, 3]))
        #expect(try Self.layer(net, "/Clip").type == "ReLU")
        let d = try Self.layer(net, "/Dropout")
        #expect(d.type == "Dropout" && d.dropoutParam?.dropoutRatio == 0.25)
        #expect(try Self.layer(net, "/Add").type == "Eltwise")
        #expect(try Self.layer(net, "/Concat").concatParam?.axis == 1)
        #expect(net.warnings.isEmpty)
        _ = try Self.run(net, input: Self.ramp(16))

        // ReLU6 (Clip with min 0, max 6) becomes Caffe's Clip layer with those bounds.
        let six = [Self.node("Constant", "/min", [], ["lo"], [Self.attr("value", tensor: Self.tensor("", [], [0]))]),
                   Self.node("Constant", "/max", [], ["hi"], [Self.attr("value", tensor: Self.tensor("", [], [6]))]),
                   Self.node("Clip", "/act/Clip", ["x", "lo", "hi"], ["r"])]
        let (h6, hi6) = Self.head("r", features: 8)
        let relu6 = try Self.importBytes(try Self.model(six + h6, hi6, input: [2, 2, 2, 2], output: "y", outShape: [2, 3]))
        let clip = try Self.layer(relu6, "/act/Clip")
        #expect(clip.type == "Clip" && clip.clipParam?.min == 0 && clip.clipParam?.max == 6)
    }

    /// (x − mean)/std with constants → Bias(−mean) and Scale(1/std), frozen; x·x → Eltwise PROD;
    /// global pool → squeeze → view(−1, C); log_softmax at the end is dropped into the loss.
    @Test func normalisationSqueezeViewAndLogSoftmax() throws {
        let nodes = [
            Self.node("Constant", "/mean", [], ["mu"], [Self.attr("value", tensor: Self.tensor("", [1, 2, 1, 1], [0.5, -0.5]))]),
            Self.node("Sub", "/Sub", ["x", "mu"], ["c"]),
            Self.node("Constant", "/std", [], ["sd"], [Self.attr("value", tensor: Self.tensor("", [1, 2, 1, 1], [2, 4]))]),
            Self.node("Div", "/Div", ["c", "sd"], ["n"]),
            Self.node("Mul", "/Mul", ["n", "n"], ["sq"]),
            Self.node("GlobalAveragePool", "/gap", ["sq"], ["g"]),
            Self.node("Squeeze", "/Squeeze", ["g"], ["q"]),
            Self.node("Constant", "/shape", [], ["shape"], [Self.attr("value", tensor: Self.intTensor("", [2], [-1, 2]))]),
            Self.node("Reshape", "/Reshape", ["q", "shape"], ["v"]),
            Self.node("Gemm", "/fc/Gemm", ["v", "fc.w", "fc.b"], ["z"], [Self.attr("transB", int: 1)]),
            Self.node("LogSoftmax", "/LogSoftmax", ["z"], ["y"], [Self.attr("axis", int: 1)]),
        ]
        let net = try Self.importBytes(try Self.model(nodes, [Self.tensor("fc.w", [3, 2], [1, 0, 0, 1, 1, 1]), Self.tensor("fc.b", [3], [0, 0, 0])],
                                                      input: [1, 2, 1, 2], output: "y", outShape: [1, 3]))
        #expect(net.net.layer.map { $0.type } == ["Input", "Bias", "Scale", "Eltwise", "Pooling", "Flatten", "Flatten", "InnerProduct", "SoftmaxWithLoss"])
        #expect(try Self.layer(net, "/Sub").blobs[0].data == [-0.5, 0.5])
        #expect(try Self.layer(net, "/Div").blobs[0].data == [0.5, 0.25])
        #expect(try Self.layer(net, "/Div").param.first?.lrMult == 0)
        #expect(net.net.layer.last?.bottom.first == "z")
        let ran = try Self.run(net, input: [1.5, 2.5, 3.5, 0.5])
        // channel 0: ((1.5 − 0.5)/2)² = 0.25, ((2.5 − 0.5)/2)² = 1 → mean 0.625;
        // channel 1: ((3.5 + 0.5)/4)² = 1, ((0.5 + 0.5)/4)² = 0.0625 → mean 0.53125.
        #expect(ran.blob(named: "z")!.dataArray == [0.625, 0.53125, 1.15625])
    }

    /// x·gate with the gate (N, C, 1, 1) from a global pool (squeeze-and-excitation): a Scale
    /// with the flattened gate as its second bottom; forward and the gradient to both inputs.
    @Test func excitationGateIsAScaleWithTwoBottoms() throws {
        let nodes = [
            Self.node("GlobalAveragePool", "/se/gap", ["x"], ["g"]),
            Self.node("Relu", "/se/Relu", ["g"], ["gate"]),
            Self.node("Mul", "/se/Mul", ["x", "gate"], ["s"]),
        ]
        let (h, hi) = Self.head("s", features: 4)
        let net = try Self.importBytes(try Self.model(nodes + h, hi, input: [2, 2, 2, 1], output: "y", outShape: [2, 3]))
        let scale = try Self.layer(net, "/se/Mul")
        #expect(scale.type == "Scale" && scale.bottom.count == 2 && scale.scaleParam?.axis == 0)
        let x: [Float] = [1, 3, -2, 4, 0.5, 1.5, 2, 2]
        let ran = try Self.run(net, input: x)
        // gate = relu(mean over H, W): (2, 1), (1, 2) per sample and channel.
        #expect(ran.blob(named: "s")!.dataArray == [2, 6, -2, 4, 0.5, 1.5, 4, 4])
        ran.clearParamDiffs()
        ran.backward()
        #expect(ran.blob(named: "x")!.diffArray.allSatisfy { $0.isFinite })
    }

    @Test func inferenceExportIsFlagged() throws {
        let nodes = [Self.node("BatchNormalization", "/bn/BatchNormalization", ["x", "g", "b", "m", "v"], ["n"])]
        let (h, hi) = Self.head("n", features: 8)
        let bn = [Self.tensor("g", [2], [1, 1]), Self.tensor("b", [2], [0, 0]), Self.tensor("m", [2], [0, 0]), Self.tensor("v", [2], [1, 1])]
        let net = try Self.importBytes(try Self.model(nodes + h, hi + bn, input: [2, 2, 2, 2], output: "y", outShape: [2, 3]))
        #expect(net.warnings.count == 1)
        #expect(net.warnings.first?.contains("cannot show training behaviour") == true)
        #expect(net.warnings.first?.hasPrefix("m.onnx: ") == true)
    }

    @Test func bytesThatLookLikeONNX() throws {
        let b = try Self.model([Self.node("Relu", "/r", ["x"], ["y"])], [], input: [1, 3, 1, 1], output: "y", outShape: [1, 3])
        #expect(ONNXImport.looksLikeONNX(b))
        #expect(!ONNXImport.looksLikeONNX(Array("name: \"net\"\n".utf8)))
        #expect(!ONNXImport.looksLikeONNX(Array("layer {".utf8)))
    }
}

/// Fixtures/broken/onnx/<case>/ (scripts/reference/make_broken_onnx.py): each model.onnx is
/// refused with one InputError line that names the file and contains every expected string;
/// `valid` imports and builds.
@Suite struct ONNXBrokenCorpusTests {
    struct Expected: Decodable { var contains: [String]; var why: String }
    static let dir = ConformanceSupport.packageRoot + "/Fixtures/broken/onnx"
    static let cases: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()

    @Test func corpusIsThere() { #expect(Self.cases.count >= 12) }

    @Test(arguments: cases)
    func refusedWithOneLine(_ name: String) throws {
        let path = Self.dir + "/" + name + "/model.onnx"
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/" + name + "/expected.json")))
        do {
            let imported = try ONNXImport.importModel(path: path)
            _ = try ConformanceSupport.buildNet(imported.net, phase: .TRAIN)
            #expect(name == "valid", "\(name) (\(expected.why)) was accepted")
        } catch let e as InputError {
            #expect(name != "valid", "the valid model was refused: \(e.message)")
            #expect(!e.message.contains("\n"), "\(name): more than one line: \(e.message)")
            #expect(e.message.hasPrefix(path + ": "), "\(name): does not start with the file: \(e.message)")
            for s in expected.contains {
                #expect(e.message.contains(s.replacingOccurrences(of: "model.onnx", with: path)), "\(name): '\(s)' not in: \(e.message)")
            }
        }
    }
}

/// Any ONNX models a developer wants to try: INITDIAG_ONNX_DIR=<folder> runs every *.onnx there
/// through import, a TRAIN net build and one forward/backward on N(0, 1)-like inputs (the result
/// must be finite). Without the variable the test says so and checks nothing else.
@Suite struct ONNXExtraModelsTests {
    @Test func importsAndRunsEveryModelInTheFolder() throws {
        guard let dir = ProcessInfo.processInfo.environment["INITDIAG_ONNX_DIR"] else {
            print("ONNXExtraModelsTests: INITDIAG_ONNX_DIR not set, no extra models checked")
            return
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".onnx") }.sorted()
        #expect(!files.isEmpty, "no .onnx files in \(dir)")
        for f in files {
            let path = dir + "/" + f
            do {
                let imported = try ONNXImport.importModel(path: path)
                for w in imported.warnings { print("warning: \(w)") }
                let net = try ConformanceSupport.buildNet(imported.net, phase: .TRAIN)
                let data = net.blobs[net.inputBlobIDs[0]], label = net.blobs[net.inputBlobIDs[1]]
                data.setData(ONNXImportTests.ramp(data.count, 0.37))
                label.setData((0..<label.count).map { Float($0 % 2) })
                let loss = try net.forward()
                net.clearParamDiffs()
                net.backward()
                #expect(loss.isFinite, "\(f): loss \(loss)")
                print("\(f): \(imported.net.layer.count) layers, \(net.parameterCount) parameters, loss \(loss)")
            } catch let e as InputError {
                print("\(f): refused: \(e.message)")
            }
        }
    }
}
