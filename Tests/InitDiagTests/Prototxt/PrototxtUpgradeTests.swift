import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Caffe's automatic upgrades (BVLC/caffe src/caffe/util/upgrade_proto.cpp).
@Suite struct PrototxtUpgradeTests {
    @Test func v1NetUpgradesToCurrentLayers() throws {
        let net = try Prototxt.loadNet(path: PrototxtFixtures.path("prototxt/v1_net.prototxt"))
        #expect(net.layers.isEmpty && net.input.isEmpty && net.inputDim.isEmpty)
        #expect(net.layer.map(\.name) == ["input", "train_data", "conv1", "pool1", "relu1", "drop1", "ip1",
                                          "cat", "sum", "h5", "img", "prob", "loss", "acc", "sig", "tanh", "pow", "exp", "thr", "none",
                                          "pair", "hinge", "infogain", "norm", "slice", "am", "mvn"])
        // UpgradeV1LayerType names; NONE gives the empty type.
        #expect(net.layer.map(\.type) == ["Input", "Data", "Convolution", "Pooling", "ReLU", "Dropout", "InnerProduct",
                                          "Concat", "Eltwise", "HDF5Data", "ImageData", "Softmax", "SoftmaxWithLoss", "Accuracy",
                                          "Sigmoid", "TanH", "Power", "Exp", "Threshold", "",
                                          "ContrastiveLoss", "HingeLoss", "InfogainLoss", "LRN", "Slice", "ArgMax", "MVN"])

        // input + input_dim (4 per input) → Input layer "input" first.
        let input = net.layer[0]
        #expect(input.top == ["data"] && input.inputParam?.shape == [BlobShape(dim: [10, 3, 32, 32])])
        #expect(input.line == 4)

        // Deprecated data_param transformation fields moved into transform_param and cleared.
        let data = net.layer[1]
        let t = try #require(data.transformParam)
        #expect(t.scale == 0.00390625 && t.meanFile == "mean.binaryproto" && t.cropSize == 28 && t.mirror && t.forceColor)
        let d = try #require(data.dataParam)
        #expect(d.scale == 1 && d.meanFile == nil && d.cropSize == 0 && !d.mirror)
        #expect(d.source == "train_lmdb" && d.batchSize == 64 && d.backend == .LMDB)
        #expect(data.include.map(\.phase) == [.TRAIN] && data.exclude.map(\.stage) == [["deploy"]])
        #expect(data.top == ["data2", "label"] && data.line == 9)

        // blobs_lr / weight_decay / param / blob_share_mode → ParamSpec per blob.
        let conv = net.layer[2]
        #expect(conv.param.count == 2)
        #expect(conv.param[0].name == "conv1_w" && conv.param[0].shareMode == .PERMISSIVE)
        #expect(conv.param[0].lrMult == 1 && conv.param[0].decayMult == 1)
        #expect(conv.param[1].name == "conv1_b" && conv.param[1].shareMode == .STRICT)
        #expect(conv.param[1].lrMult == 2 && conv.param[1].decayMult == 0)
        #expect(conv.blobs.first?.data == [0.5, -0.5])
        #expect(conv.convolutionParam?.numOutput == 20 && conv.convolutionParam?.weightFiller?.type == "xavier")

        #expect(net.layer[3].poolingParam?.kernelSize == 2)
        #expect(net.layer[4].reluParam?.negativeSlope == 0.1)
        #expect(net.layer[5].dropoutParam?.dropoutRatio == 0.4)
        #expect(net.layer[7].concatParam?.concatDim == 1)
        #expect(net.layer[8].eltwiseParam?.operation == .SUM)
        #expect(net.layer[9].hdf5DataParam?.source == "h5.txt")
        #expect(net.layer[10].imageDataParam?.source == "img.txt" && net.layer[10].imageDataParam?.newHeight == 8)
        #expect(net.layer[11].softmaxParam != nil)
        #expect(net.layer[12].lossWeight == [2] && net.layer[12].lossParam?.normalize == true)
        #expect(net.layer[13].accuracyParam?.topK == 3)
        #expect(net.layer[14].sigmoidParam?.engine == .CAFFE && net.layer[15].tanhParam?.engine == .CUDNN)
        #expect(net.layer[16].powerParam == { var p = PowerParameter(); p.power = 3; p.scale = 2; p.shift = 1; return p }())
        #expect(net.layer[17].expParam?.base == 10 && net.layer[17].expParam?.scale == 1)
        #expect(net.layer[18].thresholdParam?.threshold == 0.5)
        // The upgraded net prints in the current format and reads back the same.
        let text = Prototxt.format(net)
        #expect(!text.contains("layers {") && !text.contains("blobs_lr"))
        #expect(PrototxtFixtures.normalized(try Prototxt.parseNet(text, path: "u.prototxt")) == PrototxtFixtures.normalized(net))
    }

    @Test func inputShapesBecomeAnInputLayerPlacedFirst() throws {
        let net = try Prototxt.parseNet("""
            layer { name: "r" type: "ReLU" bottom: "a" top: "a" }
            input: "a"
            input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
            input: "b"
            input_shape { dim: 1 }
            """, path: "in.prototxt")
        #expect(net.layer.map(\.name) == ["input", "r"])
        #expect(net.layer[0].type == "Input" && net.layer[0].top == ["a", "b"])
        #expect(net.layer[0].inputParam?.shape == [BlobShape(dim: [1, 3, 8, 8]), BlobShape(dim: [1])])
        #expect(net.input.isEmpty && net.inputShape.isEmpty)
    }

    @Test func inputsWithoutShapesAreDropped() throws {
        // Legacy .caffemodels list inputs without shapes; UpgradeNetInput just clears them.
        let net = try Prototxt.parseNet("input: \"data\"\nlayer { name: \"r\" }\n", path: "x.prototxt")
        #expect(net.input.isEmpty && net.layer.map(\.name) == ["r"])
    }

    @Test func batchNormWithThreeParamSpecsIsFrozen() throws {
        let net = try Prototxt.parseNet("""
            layer { name: "bn3" type: "BatchNorm" param { lr_mult: 1 name: "m" } param { lr_mult: 2 decay_mult: 5 } param {} }
            layer { name: "bn2" type: "BatchNorm" param { lr_mult: 1 } param { lr_mult: 1 } }
            layer { name: "conv" type: "Convolution" param {} param {} param {} }
            """, path: "bn.prototxt")
        #expect(net.layer[0].param.map(\.lrMult) == [0, 0, 0] && net.layer[0].param.map(\.decayMult) == [0, 0, 0])
        #expect(net.layer[0].param[0].name == "m")
        #expect(net.layer[1].param.map(\.lrMult) == [1, 1])
        #expect(net.layer[2].param.map(\.lrMult) == [1, 1, 1])
    }

    @Test func solverTypeEnumsBecomeTypeStrings() throws {
        let expected = ["SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad",
                        "RMSPROP": "RMSProp", "ADADELTA": "AdaDelta", "ADAM": "Adam"]
        for (name, type) in expected {
            let (s, _) = try Prototxt.parseSolver("solver_type: \(name)\n", path: "s.prototxt")
            #expect(s.type == type && s.solverType == nil)
        }
        let (byNumber, _) = try Prototxt.parseSolver("solver_type: 3\n", path: "s.prototxt")
        #expect(byNumber.type == "RMSProp")
        let (plain, _) = try Prototxt.parseSolver("type: \"Nesterov\"\n", path: "s.prototxt")
        #expect(plain.type == "Nesterov")
    }

    @Test func snapshotPrefixDefaults() throws {
        // Unset: the solver path without its extension.
        #expect(try Prototxt.parseSolver("", path: "models/vgg/solver.prototxt").0.snapshotPrefix == "models/vgg/solver")
        #expect(try Prototxt.parseSolver("", path: "solver").0.snapshotPrefix == "solver")
        #expect(try Prototxt.parseSolver("", path: "a.b/solver.v2.prototxt").0.snapshotPrefix == "a.b/solver.v2")
        // A directory prefix: <dir>/<solver file stem>.
        #expect(try Prototxt.parseSolver("snapshot_prefix: \"out/\"", path: "m/solver.prototxt").0.snapshotPrefix == "out/solver")
        #expect(try Prototxt.parseSolver("snapshot_prefix: \"/tmp\"", path: "m/solver.prototxt").0.snapshotPrefix == "/tmp/solver")
        // Otherwise kept.
        #expect(try Prototxt.parseSolver("snapshot_prefix: \"snap/vgg\"", path: "s.prototxt").0.snapshotPrefix == "snap/vgg")
    }

    @Test func gpuNoticeOnlyWhenGpuIsGiven() throws {
        #expect(try Prototxt.parseSolver("solver_mode: GPU", path: "s").1 == [Notice("solver_mode GPU: initdiag runs on the CPU")])
        #expect(try Prototxt.parseSolver("solver_mode: CPU", path: "s").1.isEmpty)
        // Unset: the caffe tool then runs on the CPU unless --gpu is given (tools/caffe.cpp).
        #expect(try Prototxt.parseSolver("base_lr: 0.1", path: "s").1.isEmpty)
    }
}
