import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine

/// The ONNX importer against PyTorch: Fixtures/reference/onnx/ (scripts/reference/export_onnx.py)
/// holds two pytorch-cifar nets exported in training mode (VGG19-BN with widths / 16, ResNet-18
/// with widths / 8), two small nets with GoogLeNet/MobileNet/DenseNet-style ops (ceil-mode max
/// pooling with padding, Concat, depthwise conv, adaptive average pooling, F.pad, mean, a Linear
/// without bias) and the float64 results of one training-mode forward/backward of the PyTorch
/// model on 8 real CIFAR-10 images (images.bin, committed), and the loss after one SGD step.
///
/// Compared here, after importing the file and running the same forward/backward in TRAIN:
/// - the loss, within 1e-4 relative;
/// - every float node output (by its ONNX value name = the blob name): std and l2 within 1e-4
///   relative, the mean within 1e-4 of the output's RMS (a BatchNorm output's mean is ~0);
/// - every parameter gradient's l2 within 1e-4 relative, except the conv biases that feed a
///   training-mode BatchNorm, whose gradient is exactly 0 in exact arithmetic (PyTorch float64:
///   ≤ 1e-13): their l2 must be below the absolute tolerance 1e-4 (float32 sums that cancel give
///   up to ~2e-5 here, against weight-gradient norms of 0.1–30);
/// - every running mean / variance l2 after the forward within 1e-4 relative (PyTorch's
///   momentum update with the unbiased variance);
/// - one SGD step (lr 0.01, momentum 0.9, weight decay 5e-4, PyTorch's momentum style): the next
///   loss within 1e-4 relative.
@Suite struct ONNXConformanceTests {
    struct Stats: Decodable { var mean: Double; var std: Double; var l2: Double }
    struct Reference: Decodable {
        var model: String
        var onnx: String
        var batch: Int
        var images: String
        var labels: [Int]
        var loss: Double
        var loss_after_sgd_step: Double
        var outputs: [String: Stats]
        var gradients: [String: Double]
        var running: [String: Double]
        var sgd: [String: Double]
    }

    static var dir: String { ConformanceSupport.reference("onnx") }

    static func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/\(name).json")))
    }

    /// The 8 CIFAR-10 records as x = byte/255 (N, 3, 32, 32) and their labels.
    static func images(_ ref: Reference) throws -> (x: [Float], labels: [Float]) {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + ref.images)))
        #expect(bytes.count == ref.batch * 3073)
        var x: [Float] = [], labels: [Float] = []
        for r in 0..<ref.batch {
            labels.append(Float(bytes[r * 3073]))
            x += bytes[(r * 3073 + 1)..<((r + 1) * 3073)].map { Float(Double($0) / 255) }
        }
        return (x, labels)
    }

    static func l2(_ v: UnsafeMutablePointer<Float>, _ n: Int) -> Double {
        var s = 0.0
        for i in 0..<n { s += Double(v[i]) * Double(v[i]) }
        return s.squareRoot()
    }

    static func stats(_ b: Blob) -> Stats {
        let n = b.count
        var sum = 0.0
        for i in 0..<n { sum += Double(b.data[i]) }
        let mean = sum / Double(n)
        var sq = 0.0
        for i in 0..<n { let d = Double(b.data[i]) - mean; sq += d * d }
        return Stats(mean: mean, std: (sq / Double(n)).squareRoot(), l2: l2(b.data, n))
    }

    static func rel(_ a: Double, _ e: Double) -> Double { e == 0 ? abs(a) : abs(a - e) / abs(e) }

    @Test(arguments: ["vgg19_bn_w16", "resnet18_w8", "mini_inception", "mini_dense"])
    func forwardBackwardAndOneStep(_ name: String) throws {
        let ref = try Self.reference(name)
        let imported = try ONNXImport.importModel(path: Self.dir + "/" + ref.onnx)
        #expect(imported.warnings.isEmpty, "\(imported.warnings)")
        #expect(imported.opset == 17)
        let net = try ConformanceSupport.buildNet(imported.net, phase: .TRAIN)
        let (x, labels) = try Self.images(ref)
        #expect(net.inputBlobIDs.count == 2)
        let data = net.blobs[net.inputBlobIDs[0]], label = net.blobs[net.inputBlobIDs[1]]
        #expect(data.shape == [ref.batch, 3, 32, 32])
        data.setData(x)
        label.setData(labels)
        #expect(labels.map { Int($0) } == ref.labels)

        let loss = try net.forward()
        #expect(Self.rel(Double(loss), ref.loss) <= 1e-4, "loss \(loss) vs \(ref.loss)")

        // Every float output of the graph, by value name.
        var worst = (name: "-", error: 0.0)
        for (value, e) in ref.outputs {
            if imported.folded.contains(value) { continue }
            guard let b = net.blob(named: value) else { Issue.record("no blob '\(value)'"); continue }
            let a = Self.stats(b)
            let rms = (e.std * e.std + e.mean * e.mean).squareRoot()
            let errs = [abs(a.mean - e.mean) / max(rms, 1e-30), Self.rel(a.std, e.std), Self.rel(a.l2, e.l2)]
            let m = errs.max()!
            if m > worst.error { worst = (value, m) }
            #expect(m <= 1e-4, "\(value): mean \(a.mean)/\(e.mean) std \(a.std)/\(e.std) l2 \(a.l2)/\(e.l2)")
        }

        // Running statistics after the forward.
        for (initializer, e) in ref.running {
            guard let place = imported.parameters[initializer], let li = net.layerIndex(named: place.layer) else {
                Issue.record("initializer '\(initializer)' not imported"); continue
            }
            let b = net.layers[li].blobs[place.blob]
            let a = Self.l2(b.data, b.count)
            #expect(Self.rel(a, e) <= 1e-4, "\(initializer): l2 \(a) vs \(e)")
        }

        net.clearParamDiffs()
        net.backward()
        var zeroBiases = 0, worstGrad = (name: "-", error: 0.0), worstZero = 0.0
        for (initializer, e) in ref.gradients {
            guard let place = imported.parameters[initializer], let li = net.layerIndex(named: place.layer) else {
                Issue.record("initializer '\(initializer)' not imported"); continue
            }
            let b = net.layers[li].blobs[place.blob]
            let a = Self.l2(b.diff, b.count)
            // A conv bias whose output only a training-mode BatchNorm reads.
            let lp = net.layerParams[li]
            let readers = net.layerParams.filter { $0.bottom.contains(lp.top[0]) }
            let feedsBatchNorm = lp.type == "Convolution" && place.blob == 1 && !readers.isEmpty
                && readers.allSatisfy { $0.type == "TorchBatchNorm" }
            if feedsBatchNorm {
                zeroBiases += 1
                worstZero = max(worstZero, a)
                #expect(e < 1e-9, "\(initializer): the reference is not ~0 (\(e))")
                #expect(a < 1e-4, "\(initializer): gradient l2 \(a), expected 0 (it feeds a training-mode BatchNorm)")
            } else {
                let r = Self.rel(a, e)
                if r > worstGrad.error { worstGrad = (initializer, r) }
                #expect(r <= 1e-4, "\(initializer): gradient l2 \(a) vs \(e)")
            }
        }
        #expect(zeroBiases == (name == "vgg19_bn_w16" ? 16 : 0))
        #expect(ref.gradients.count == net.params.filter { $0.lrMult != 0 }.count)

        // One SGD step with PyTorch's momentum style.
        var sp = SolverParameter()
        sp.baseLr = Float(ref.sgd["lr"]!)
        sp.momentum = Float(ref.sgd["momentum"]!)
        sp.weightDecay = Float(ref.sgd["weight_decay"]!)
        sp.lrPolicy = "fixed"
        let solver = try SGDSolver(param: sp, params: net.params.map {
            LearnableParam(blob: $0.blob, lrMult: $0.lrMult, decayMult: $0.decayMult, name: $0.displayName)
        }, momentumStyle: .torch)
        solver.applyUpdate()
        data.setData(x)
        label.setData(labels)
        let next = try net.forward()
        #expect(Self.rel(Double(next), ref.loss_after_sgd_step) <= 1e-4, "loss after one step \(next) vs \(ref.loss_after_sgd_step)")
        print("\(name): loss \(loss) (PyTorch \(ref.loss)), after one SGD step \(next) (PyTorch \(ref.loss_after_sgd_step)); "
              + "\(ref.outputs.count) outputs, worst \(worst.name) \(String(format: "%.2g", worst.error)); "
              + "\(ref.gradients.count) gradients, worst \(worstGrad.name) \(String(format: "%.2g", worstGrad.error)); "
              + "\(zeroBiases) conv biases before BatchNorm, largest gradient l2 \(String(format: "%.2g", worstZero))")
    }

    /// Inference exports (model.eval(), the exporter's defaults) cannot show training behaviour:
    /// one warning line naming the file, and the net still imports.
    @Test(arguments: ["inference_folded", "inference_bn"])
    func inferenceExportsAreFlagged(_ name: String) throws {
        let path = Self.dir + "/\(name).onnx"
        let imported = try ONNXImport.importModel(path: path)
        #expect(imported.warnings.count == 1, "\(imported.warnings)")
        let w = imported.warnings.first ?? ""
        #expect(w.hasPrefix(path + ": ") && w.contains("cannot show training behaviour") && !w.contains("\n"))
        _ = try ConformanceSupport.buildNet(imported.net, phase: .TRAIN)
    }

    @Test func defaultSolverIsPyTorchSGD() {
        let s = ONNXImport.defaultSolver(netPath: "m.onnx")
        #expect(s.type == "SGD" && s.lrPolicy == "fixed" && s.baseLr == 0.01 && s.momentum == 0.9 && s.weightDecay == 5e-4)
        #expect(ONNXImport.defaultMomentumStyle == .torch)
    }

    @Test func importedNamesAndLayers() throws {
        let imported = try ONNXImport.importModel(path: Self.dir + "/vgg19_bn_w16.onnx")
        let layers = imported.net.layer
        #expect(layers.first?.type == "Input")
        #expect(layers.last?.type == "SoftmaxWithLoss")
        #expect(layers.contains { $0.name == "/features/features.2/Relu" && $0.type == "ReLU" })
        let bn = try #require(layers.first { $0.name == "/features/features.1/BatchNormalization" })
        #expect(bn.type == "TorchBatchNorm")
        #expect(abs(bn.batchNormParam!.movingAverageFraction - 0.9) < 1e-7)
        #expect(abs(bn.batchNormParam!.eps - 1e-5) < 1e-12)
        let conv = try #require(layers.first { $0.name == "/features/features.0/Conv" })
        #expect(conv.convolutionParam?.padH == 1 && conv.convolutionParam?.numOutput == 4)
        #expect(conv.blobs.map { $0.resolvedShape } == [[4, 3, 3, 3], [4]])
        let fc = try #require(layers.first { $0.name == "/classifier/Gemm" })
        #expect(fc.type == "InnerProduct" && fc.blobs[0].resolvedShape == [10, 32])
        #expect(layers.contains { $0.name == "/Reshape" && $0.type == "Flatten" })
        let pool = try #require(layers.first { $0.name == "/features/features.6/MaxPool" })
        #expect(pool.poolingParam?.roundMode == .FLOOR)
        #expect(imported.parameters["features.1.running_var"] == ONNXParameterPlace(layer: bn.name, blob: 3))
        #expect(imported.parameters["classifier.weight"] == ONNXParameterPlace(layer: fc.name, blob: 0))
        // The net a prototxt would give: it prints and parses back.
        let text = Prototxt.format(imported.net)
        let back = try Prototxt.parseNet(text, path: "roundtrip")
        #expect(back.layer.map(\.type) == layers.map(\.type))
    }
}
