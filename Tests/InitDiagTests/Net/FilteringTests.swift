import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct FilteringTests {
    func layer(_ name: String, _ type: String, bottom: [String] = [], top: [String] = []) -> LayerParameter {
        var l = LayerParameter(name: name, type: type)
        l.bottom = bottom; l.top = top
        return l
    }

    @Test func includeAndExcludeRules() throws {
        var net = NetParameter()
        var trainOnly = layer("a", "Input", top: ["x"])
        var r = NetStateRule(); r.phase = .TRAIN
        trainOnly.include = [r]
        var notStaged = layer("b", "Input", top: ["y"])
        var ex = NetStateRule(); ex.stage = ["deploy"]
        notStaged.exclude = [ex]
        var levelled = layer("c", "Input", top: ["z"])
        var lv = NetStateRule(); lv.minLevel = 2
        levelled.include = [lv]
        net.layer = [trainOnly, notStaged, levelled]

        #expect(try net.filtered(for: NetState(phase: .TRAIN)).layer.map(\.name) == ["a", "b"])
        #expect(try net.filtered(for: NetState(phase: .TEST)).layer.map(\.name) == ["b"])
        #expect(try net.filtered(for: NetState(phase: .TEST, stage: ["deploy"])).layer.map(\.name) == [])
        #expect(try net.filtered(for: NetState(phase: .TEST, level: 3)).layer.map(\.name) == ["b", "c"])

        var both = trainOnly
        both.exclude = [ex]
        net.layer = [both]
        #expect(throws: InputError.self) { try net.filtered(for: NetState(phase: .TRAIN)) }
    }

    @Test func notStageAndMaxLevel() {
        var r = NetStateRule(); r.notStage = ["x"]; r.maxLevel = 1
        #expect(r.isMet(by: NetState(phase: .TEST, level: 1)))
        #expect(!r.isMet(by: NetState(phase: .TEST, level: 2)))
        #expect(!r.isMet(by: NetState(phase: .TEST, stage: ["x"])))
    }

    @Test func splitsFollowCaffeNames() throws {
        // fc8 feeds both accuracy and loss (the seed's TEST net): one split with two tops.
        var net = NetParameter()
        net.layer = [layer("data", "Input", top: ["data", "label"]),
                     layer("fc8", "InnerProduct", bottom: ["data"], top: ["fc8"]),
                     layer("acc", "Accuracy", bottom: ["fc8", "label"], top: ["accuracy"]),
                     layer("loss", "SoftmaxWithLoss", bottom: ["fc8", "label"], top: ["loss"])]
        let s = try net.withSplits()
        #expect(s.layer.map(\.name) == ["data", "label_data_1_split", "fc8", "fc8_fc8_0_split", "acc", "loss"])
        #expect(s.layer[1].top == ["label_data_1_split_0", "label_data_1_split_1"])
        #expect(s.layer[4].bottom == ["fc8_fc8_0_split_0", "label_data_1_split_0"])
        #expect(s.layer[5].bottom == ["fc8_fc8_0_split_1", "label_data_1_split_1"])
    }

    @Test func inPlaceChainSplitsAtLastProducer() throws {
        // conv → relu (in place) → two consumers: the split is named after the ReLU.
        var net = NetParameter()
        var lossy = layer("l2", "Eltwise", bottom: ["c"], top: ["e"])
        lossy.lossWeight = [1]
        net.layer = [layer("in", "Input", top: ["x"]),
                     layer("conv", "Convolution", bottom: ["x"], top: ["c"]),
                     layer("relu", "ReLU", bottom: ["c"], top: ["c"]),
                     layer("p1", "Pooling", bottom: ["c"], top: ["p"]),
                     lossy]
        let s = try net.withSplits()
        #expect(s.layer.map(\.name) == ["in", "conv", "relu", "c_relu_0_split", "p1", "l2"])
        #expect(s.layer[2].bottom == ["c"])
        #expect(s.layer[4].bottom == ["c_relu_0_split_0"])
    }

    @Test func lossWeightCountsAsConsumer() throws {
        var net = NetParameter()
        var ip = layer("ip", "InnerProduct", bottom: ["x"], top: ["y"])
        ip.lossWeight = [0.5]
        net.layer = [layer("in", "Input", top: ["x"]), ip, layer("use", "ReLU", bottom: ["y"], top: ["z"])]
        let s = try net.withSplits()
        #expect(s.layer.map(\.name) == ["in", "ip", "y_ip_0_split", "use"])
        #expect(s.layer[1].lossWeight.isEmpty)
        #expect(s.layer[2].lossWeight == [0.5, 0])
        #expect(s.layer[3].bottom == ["y_ip_0_split_1"])
    }

    @Test func unknownBottomNamesLayer() {
        var net = NetParameter()
        net.layer = [layer("relu", "ReLU", bottom: ["nothing"], top: ["r"])]
        #expect(throws: InputError("unknown bottom blob 'nothing' (layer 'relu', bottom index 0)")) { try net.withSplits() }
    }

    @Test func batchNormTransform() {
        var net = NetParameter()
        net.layer = [layer("in", "Input", top: ["x"]),
                     layer("conv1", "Convolution", bottom: ["x"], top: ["conv1"]),
                     layer("relu1", "ReLU", bottom: ["conv1"], top: ["conv1"])]
        let t = net.withBatchNormAfterConvolutions()
        #expect(t.layer.map(\.name) == ["in", "conv1", "conv1_bn", "conv1_scale", "relu1"])
        #expect(t.layer[2].bottom == ["conv1"] && t.layer[2].top == ["conv1"])
        #expect(t.layer[3].scaleParam?.biasTerm == true)
    }
}
