import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Nets made of the neuron layers: whole-net finite-difference checks (the method of
/// NetGradientCheckTests: loss as objective, every parameter and input element perturbed by ±h,
/// elements whose perturbation flips a kink decision skipped and counted), the V1 upgrade of the
/// neuron types, and BVLC's cifar10_full_sigmoid from ../shared/zoo.
@Suite struct NeuronNetTests {
    static let step: Float = 1e-2
    static let tolerance = 2e-3

    /// Decisions the loss is piecewise smooth in: PReLU's sign (positive slopes here, so the top's
    /// sign is the input's), AbsVal's input sign, Clip's clipped-or-not state.
    final class KinkRecorder: NetObserver {
        var signature: [Int8] = []
        func netDidForward(layer index: Int, net: Net) {
            let top = net.topVecs[index][0]
            switch net.layers[index] {
            case is PReLULayer:
                for i in 0..<top.count { signature.append(top.data[i] > 0 ? 1 : 0) }
            case is AbsValLayer:
                let x = net.bottomVecs[index][0]
                for i in 0..<x.count { signature.append(x.data[i] > 0 ? 1 : 0) }
            case let clip as ClipLayer:
                for i in 0..<top.count { signature.append(top.data[i] <= clip.min ? -1 : (top.data[i] >= clip.max ? 1 : 0)) }
            default: break
            }
        }
        func netDidBackward(layer index: Int, net: Net) {}
    }

    struct Outcome { var checked = 0; var skipped = 0; var worst = 0.0; var worstWhere = "" }

    private func check(_ text: String, labels: [Float], seed: UInt32, maxSkippedFraction: Double = 0.1,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome {
        let net = try ConformanceSupport.buildNet(try Prototxt.parseNet(text, path: "neuron-net.prototxt"), phase: .TRAIN, seed: seed)
        let data = try #require(net.blob(named: "data")), label = try #require(net.blob(named: "label"))
        var rng = MT19937(seed: seed &+ 1)
        for i in 0..<data.count { data.data[i] = Float(rng.next()) / 4_294_967_296.0 * 2 - 1 }
        label.setData(labels)
        let recorder = KinkRecorder()
        net.observer = recorder
        func loss() throws -> (Double, [Int8]) {
            recorder.signature.removeAll(keepingCapacity: true)
            return (Double(try net.forward()), recorder.signature)
        }
        net.clearParamDiffs()
        let (_, base) = try loss()
        net.backward()
        var targets = net.params.map { ($0.displayName, $0.blob, $0.blob.diffArray) }
        targets.append(("data", data, data.diffArray))
        #expect(targets.allSatisfy { $0.2.contains { $0 != 0 } }, "a blob got no gradient at all", sourceLocation: sourceLocation)
        var out = Outcome()
        for (name, blob, analytic) in targets {
            for i in 0..<blob.count {
                let x = blob.data[i]
                blob.data[i] = x + Self.step
                let (plus, sp) = try loss()
                blob.data[i] = x - Self.step
                let (minus, sm) = try loss()
                blob.data[i] = x
                if sp != base || sm != base { out.skipped += 1; continue }
                let numeric = (plus - minus) / (2 * Double(Self.step)), a = Double(analytic[i])
                let error = abs(numeric - a) / max(abs(numeric), abs(a), 1)
                if error > out.worst { out.worst = error; out.worstWhere = "\(name)[\(i)]: analytic \(a), numeric \(numeric)" }
                out.checked += 1
            }
        }
        #expect(out.worst <= Self.tolerance, "worst: \(out.worstWhere)", sourceLocation: sourceLocation)
        #expect(Double(out.skipped) <= maxSkippedFraction * Double(out.checked + out.skipped), "\(out.skipped) skipped", sourceLocation: sourceLocation)
        return out
    }

    /// Convolution → Sigmoid → Convolution → TanH → InnerProduct → ELU → Swish → BNLL →
    /// InnerProduct → Power → Exp → SoftmaxWithLoss; several of them in place. (As in Caffe, a
    /// layer whose backward reads its output — Sigmoid, TanH, ELU, Swish, Exp — must not be
    /// followed by another in-place layer on the same blob: that would overwrite the output.)
    @Test func smoothNeuronNet() throws {
        let text = """
        name: "GradNeuronSmooth"
        force_backward: true
        layer { name: "data" type: "Input" top: "data" top: "label"
          input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } shape { dim: 2 } } }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
          convolution_param { num_output: 4 kernel_size: 3
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "sig1" type: "Sigmoid" bottom: "conv1" top: "conv1" }
        layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
          convolution_param { num_output: 3 kernel_size: 3
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "tanh2" type: "TanH" bottom: "conv2" top: "tanh2" }
        layer { name: "fc1" type: "InnerProduct" bottom: "tanh2" top: "fc1"
          inner_product_param { num_output: 6
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "elu1" type: "ELU" bottom: "fc1" top: "fc1" }
        layer { name: "swish1" type: "Swish" bottom: "fc1" top: "swish1" swish_param { beta: 1.5 } }
        layer { name: "bnll1" type: "BNLL" bottom: "swish1" top: "bnll1" }
        layer { name: "fc2" type: "InnerProduct" bottom: "bnll1" top: "fc2"
          inner_product_param { num_output: 4
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "pow" type: "Power" bottom: "fc2" top: "fc2" power_param { power: 2 scale: 0.5 shift: 1 } }
        layer { name: "exp" type: "Exp" bottom: "fc2" top: "exp" exp_param { scale: -0.5 } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "exp" bottom: "label" top: "loss" }
        """
        let out = try check(text, labels: [1, 3], seed: 17)
        #expect(out.checked > 400)
        print("gradient check neuron net (smooth): \(out.checked) checked, \(out.skipped) skipped, worst \(out.worst) at \(out.worstWhere)")
    }

    /// Convolution → PReLU (in place) → AbsVal → Clip → InnerProduct → Sigmoid → Log →
    /// InnerProduct → SoftmaxWithLoss: PReLU's slopes are checked like any parameter.
    @Test func kinkedNeuronNet() throws {
        let text = """
        name: "GradNeuronKinks"
        force_backward: true
        layer { name: "data" type: "Input" top: "data" top: "label"
          input_param { shape { dim: 2 dim: 2 dim: 5 dim: 5 } shape { dim: 2 } } }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
          convolution_param { num_output: 3 kernel_size: 3 pad: 1
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "prelu1" type: "PReLU" bottom: "conv1" top: "conv1"
          prelu_param { filler { type: "uniform" min: 0.1 max: 0.6 } } }
        layer { name: "abs1" type: "AbsVal" bottom: "conv1" top: "abs1" }
        layer { name: "clip1" type: "Clip" bottom: "abs1" top: "abs1" clip_param { min: 0.05 max: 0.8 } }
        layer { name: "fc1" type: "InnerProduct" bottom: "abs1" top: "fc1"
          inner_product_param { num_output: 5
            weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "sig1" type: "Sigmoid" bottom: "fc1" top: "fc1" }
        layer { name: "log1" type: "Log" bottom: "fc1" top: "log1" log_param { base: 2 shift: 0.5 } }
        layer { name: "fc2" type: "InnerProduct" bottom: "log1" top: "fc2"
          inner_product_param { num_output: 4
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc2" bottom: "label" top: "loss" }
        """
        // A conv weight or input moves 25–75 conv outputs at once, and every one of them sits on
        // PReLU's and AbsVal's kink at 0: more elements flip a decision than in a ReLU net.
        let out = try check(text, labels: [0, 2], seed: 29, maxSkippedFraction: 0.2)
        #expect(out.checked > 300)
        print("gradient check neuron net (kinks): \(out.checked) checked, \(out.skipped) skipped, worst \(out.worst) at \(out.worstWhere)")
    }

    /// V1 `layers` with SIGMOID, TANH, ABSVAL, BNLL, THRESHOLD, EXP, POWER and their V1 parameter
    /// fields (sigmoid_param 38, tanh_param 37, threshold_param 25, exp_param 41, power_param 21)
    /// upgrade to the current types with the parameters kept.
    @Test func upgradesV1NeuronLayers() throws {
        let text = """
        name: "V1Neurons"
        input: "data" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3
        layers { name: "s" type: SIGMOID bottom: "data" top: "s" sigmoid_param { engine: CAFFE } }
        layers { name: "t" type: TANH bottom: "s" top: "s" tanh_param { engine: CAFFE } }
        layers { name: "a" type: ABSVAL bottom: "s" top: "a" }
        layers { name: "b" type: BNLL bottom: "a" top: "a" }
        layers { name: "e" type: EXP bottom: "a" top: "a" exp_param { base: 2 scale: 0.5 } }
        layers { name: "p" type: POWER bottom: "a" top: "a" power_param { power: 2 } }
        layers { name: "th" type: THRESHOLD bottom: "a" top: "th" threshold_param { threshold: 1.5 } }
        """
        let param = try Prototxt.parseNet(text, path: "v1.prototxt")
        #expect(param.layer.map(\.type) == ["Input", "Sigmoid", "TanH", "AbsVal", "BNLL", "Exp", "Power", "Threshold"])
        #expect(param.layer[1].sigmoidParam?.engine == .CAFFE && param.layer[2].tanhParam?.engine == .CAFFE)
        #expect(param.layer[5].expParam?.base == 2 && param.layer[5].expParam?.scale == 0.5)
        #expect(param.layer[6].powerParam?.power == 2 && param.layer[7].thresholdParam?.threshold == 1.5)
        let net = try ConformanceSupport.buildNet(param, phase: .TEST)
        fillUniform(try #require(net.blob(named: "data")), seed: 9)
        try net.forward()
        #expect(try #require(net.blob(named: "th")).dataArray.allSatisfy { $0 == 0 || $0 == 1 })
        // The current text format round-trips the new parameter fields.
        let printed = Prototxt.format(param)
        let again = try Prototxt.parseNet(printed, path: "printed.prototxt")
        #expect(again.layer.map(\.type) == param.layer.map(\.type))
        #expect(again.layer.map(\.expParam) == param.layer.map(\.expParam))
        #expect(again.layer.map(\.powerParam) == param.layer.map(\.powerParam))
        #expect(again.layer.map(\.thresholdParam) == param.layer.map(\.thresholdParam))
        #expect(again.layer.map(\.sigmoidParam) == param.layer.map(\.sigmoidParam))
    }

    static var zoo: String { InitDiagTests.packageRoot() + "/../shared/zoo/bvlc/cifar10/" }

    /// BVLC's cifar10_full_sigmoid (Convolution → Pooling → Sigmoid, three times, InnerProduct)
    /// builds in both phases with Caffe's parameter count: conv1 32·3·5·5 + 32, conv2 32·32·5·5 +
    /// 32, conv3 64·32·5·5 + 64, ip1 10·1024 + 10 = 89 578; its Sigmoid layers declare the sigmoid
    /// mean-field rule. It trains 2 iterations with its own solver on the built-in data.
    @Test func cifar10FullSigmoidBuildsAndTrains() throws {
        let path = Self.zoo + "cifar10_full_sigmoid_train_test.prototxt"
        guard FileManager.default.fileExists(atPath: path) else {
            print("skipping cifar10_full_sigmoid: \(path) not found (../shared/zoo next to the package)")
            return
        }
        let param = try Prototxt.loadNet(path: path)
        for phase in [Phase.TRAIN, .TEST] {
            let inspection = try NetInspection(param: param, phase: phase)
            #expect(inspection.paramCount == 89_578)
        }
        let net = try Net(param, state: NetState(phase: .TRAIN), context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1)),
                          initializer: { _, _ in })
        let sigmoids = net.layers.filter { $0 is SigmoidLayer }
        #expect(sigmoids.count == 3 && sigmoids.allSatisfy { $0.meanField == .pointwise(.sigmoid) })

        // The built-in data has no mean file: train the net without BVLC's mean_file.
        var plain = param
        for i in plain.layer.indices { plain.layer[i].transformParam?.meanFile = nil }
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Prototxt.format(plain).write(toFile: dir + "/net.prototxt", atomically: true, encoding: .utf8)
        var setup = try RunSetup.load(solverPath: Self.zoo + "cifar10_full_sigmoid_solver.prototxt", netPath: dir + "/net.prototxt",
                                      data: "synthetic", scheme: Scheme(), seed: 1, batchSize: 4)
        setup.solver.testIter = setup.solver.testIter.map { _ in 1 }
        var options = TrainingOptions()
        options.iterations = 2
        let result = try Trainer(setup: setup, options: options).run()
        #expect(result.iterations == 2)
        #expect(result.status == .finished)
    }

    /// Its BatchNorm twin (convolutions without bias, BatchNorm before each Sigmoid) builds too:
    /// 2400 + 25 600 + 51 200 + 10 250 = 89 450 learned values (BatchNorm's statistics are not
    /// learned, so not counted).
    @Test func cifar10FullSigmoidBatchNormBuilds() throws {
        let path = Self.zoo + "cifar10_full_sigmoid_train_test_bn.prototxt"
        guard FileManager.default.fileExists(atPath: path) else {
            print("skipping cifar10_full_sigmoid_bn: \(path) not found (../shared/zoo next to the package)")
            return
        }
        let param = try Prototxt.loadNet(path: path)
        for phase in [Phase.TRAIN, .TEST] {
            let inspection = try NetInspection(param: param, phase: phase)
            #expect(inspection.paramCount == 89_450)
            #expect(inspection.layers.filter { $0.type == "Sigmoid" }.count == 3)
        }
    }
}
