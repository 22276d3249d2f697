import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The new layers in the reader and in the BVLC zoo nets that need them.
@Suite struct StructuralNetTests {
    @Test func v1LayersUpgrade() throws {
        let net = try Prototxt.loadNet(path: PrototxtFixtures.path("prototxt/v1_net.prototxt"))
        func layer(_ name: String) -> LayerParameter? { net.layer.first { $0.name == name } }
        #expect(layer("norm")?.type == "LRN")
        #expect(layer("norm")?.lrnParam?.normRegion == .WITHIN_CHANNEL && layer("norm")?.lrnParam?.k == 2)
        #expect(layer("slice")?.type == "Slice" && layer("slice")?.sliceParam?.sliceDim == 1)
        #expect(layer("am")?.type == "ArgMax" && layer("am")?.argmaxParam?.topK == 2)
        #expect(layer("mvn")?.type == "MVN" && layer("mvn")?.mvnParam?.eps == 1e-6)
    }

    @Test func parametersAndDefaults() throws {
        let net = try Prototxt.parseNet("""
            layer { name: "n" type: "LRN" lrn_param { } }
            layer { name: "e" type: "Embed" embed_param { num_output: 3 input_dim: 4 } }
            """, path: "p.prototxt")
        let lrn = net.layer[0].lrnParam
        #expect(lrn?.localSize == 5 && lrn?.alpha == 1 && lrn?.beta == 0.75 && lrn?.k == 1 && lrn?.normRegion == .ACROSS_CHANNELS)
        #expect(MVNParameter().eps == 1e-9 && MVNParameter().normalizeVariance && CropParameter().axis == 2)
        #expect(net.layer[1].embedParam?.biasTerm == true)
        // The fillers of the new weighted layers reach the net's initializer (declared after set-up).
        let tiny = try Prototxt.parseNet("""
            input: "x" input_shape { dim: 1 dim: 2 dim: 3 dim: 3 }
            input: "i" input_shape { dim: 2 }
            layer { name: "d" type: "Deconvolution" bottom: "x" top: "d"
                    convolution_param { num_output: 2 kernel_size: 3 weight_filler { type: "xavier" } } }
            layer { name: "e" type: "Embed" bottom: "i" top: "e" embed_param { num_output: 3 input_dim: 4 } }
            """, path: "d.prototxt")
        let built = try Net(tiny, state: NetState(phase: .TRAIN), context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1)),
                            initializer: { _, _ in })
        let d = try #require(built.layers.first { $0 is DeconvolutionLayer })
        let e = try #require(built.layers.first { $0 is EmbedLayer })
        #expect(d.declaredFillers.map(\.type) == ["xavier", "constant"])
        #expect(e.declaredFillers.count == 2)
    }

    /// Builds a zoo net with its data layers replaced by an Input layer of the given tops and
    /// shapes (the data layers are not this test's subject), forward and backward once.
    func buildZoo(_ relative: String, phase: Phase, inputs: [(String, [Int64])],
                  edit: (inout NetParameter) -> Void = { _ in }) throws -> Net? {
        let path = InitDiagTests.packageRoot() + "/../shared/zoo/" + relative
        guard var text = try? String(contentsOfFile: path, encoding: .utf8) else {
            print("StructuralNetTests: skipped, \(path) not found")
            return nil
        }
        // ContrastiveLoss's parameters belong to another layer's reader: they are cut here and
        // the layer itself is replaced (see `edit`).
        text = text.replacingOccurrences(of: #"contrastive_loss_param\s*\{[^}]*\}"#, with: "", options: .regularExpression)
        var net = try Prototxt.parseNet(text, path: path)
        net.layer.removeAll { $0.type == "Data" }
        var input = LayerParameter(name: "input", type: "Input")
        var ip = InputParameter()
        for (top, dims) in inputs { input.top.append(top); ip.shape.append(BlobShape(dim: dims)) }
        input.inputParam = ip
        net.layer.insert(input, at: 0)
        edit(&net)
        let p = net
        let initializer = ParameterInitializer(scheme: Scheme())
        let built = try Net(p, state: NetState(phase: phase), context: LayerContext(phase: phase, rng: RandomSource(seed: 1)),
                            initializer: initializer.initialize)
        let data = built.blobs[built.blobIndex[inputs[0].0]!]
        fillUniform(data, -1, 1, seed: 3)
        if inputs.count > 1, let id = built.blobIndex[inputs[1].0] { built.blobs[id].zeroData() }
        let loss = try built.forward()
        built.backward()
        #expect(loss.isFinite, "\(relative): loss \(loss)")
        return built
    }

    @Test func cifar10FullWithinChannelLRN() throws {
        guard let net = try buildZoo("bvlc/cifar10/cifar10_full_train_test.prototxt", phase: .TRAIN,
                                     inputs: [("data", [4, 3, 32, 32]), ("label", [4])]) else { return }
        let norm1 = net.layers[net.layerParams.firstIndex { $0.name == "norm1" }!] as! LRNLayer
        #expect(norm1.region == .WITHIN_CHANNEL && norm1.size == 3)
    }

    @Test func alexNetAcrossChannelLRNAndGroups() throws {
        // ImageNet-shaped at batch 1 (227×227 after the crop).
        guard let net = try buildZoo("bvlc/bvlc_alexnet/train_val.prototxt", phase: .TRAIN,
                                     inputs: [("data", [1, 3, 227, 227]), ("label", [1])]) else { return }
        let names = net.layerParams.map(\.name)
        #expect(names.contains("norm1") && names.contains("norm2"))
        #expect(net.params.reduce(0) { $0 + $1.blob.count } == 60_965_224)
    }

    @Test func siameseSlice() throws {
        guard let net = try buildZoo("bvlc/siamese/mnist_siamese_train_test.prototxt", phase: .TRAIN,
                                     inputs: [("pair_data", [2, 2, 28, 28]), ("sim", [2])], edit: { net in
            // ContrastiveLoss is not this test's subject: a Silence takes its bottoms instead.
            for i in net.layer.indices where net.layer[i].type == "ContrastiveLoss" {
                net.layer[i].type = "Silence"
                net.layer[i].top = []
            }
        }) else { return }
        #expect(net.blobs[net.blobIndex["data"]!].shape == [2, 1, 28, 28])
        #expect(net.blobs[net.blobIndex["data_p"]!].shape == [2, 1, 28, 28])
    }
}
