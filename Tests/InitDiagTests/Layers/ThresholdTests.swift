import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ThresholdLayerTests {
    typealias Kit = NeuronTestKit

    @Test func matchesPyTorch() throws {
        // Exact: the output is 0 or 1.
        try Kit.checkFixture("threshold", inPlace: true, forwardTolerance: 0)
    }

    /// y = [x > t]: equal to the threshold gives 0, NaN gives 0.
    @Test func boundaryAndInPlace() throws {
        for inPlace in [false, true] {
            let layer = try Kit.make("Threshold", "threshold_param { threshold: 0.5 }")
            let x = CaffeLayerTestKit.blob([5], values: [0.5, 0.50001, -3, .nan, 7])
            let y = inPlace ? x : Blob()
            try layer.setUp(bottom: [x], top: [y])
            layer.forward(bottom: [x], top: [y])
            #expect(y.dataArray == [0, 1, 0, 0, 1])
        }
        #expect(try Kit.make("Threshold").meanField == .pointwise(.threshold(0)))
        #expect(Kit.buildError("Threshold", "threshold_param { threshold: nan }")?.contains("threshold") == true)
    }

    static func net(_ thresholdLine: String, forceBackward: Bool = false) -> String {
        """
        name: "T"
        \(forceBackward ? "force_backward: true" : "")
        layer { name: "data" type: "Input" top: "data" top: "label"
          input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } shape { dim: 2 } } }
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
          convolution_param { num_output: 2 kernel_size: 3 weight_filler { type: "gaussian" std: 0.1 } } }
        \(thresholdLine)
        layer { name: "fc" type: "InnerProduct" bottom: "t" top: "fc"
          inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
        """
    }

    /// Caffe's Threshold backward is NOT_IMPLEMENTED (it aborts at the first backward): a net that
    /// needs a gradient through one fails to build, naming the layer.
    @Test func netNeedingItsGradientIsRefused() throws {
        let text = Self.net(#"layer { name: "thr" type: "Threshold" bottom: "conv" top: "t" }"#)
        let param = try Prototxt.parseNet(text, path: "threshold.prototxt")
        do {
            _ = try ConformanceSupport.buildNet(param, phase: .TRAIN)
            Issue.record("a net needing the gradient of a Threshold layer was built")
        } catch let e as InputError {
            #expect(e.message.contains("'thr'") && e.message.contains("no backward") && e.message.contains("propagate_down"))
        }
    }

    /// With propagate_down: false (the Caffe user's fix), or with nothing learnable below it,
    /// the net builds, runs forward and backward, and the layers above still learn.
    @Test func netWithoutItsGradientRuns() throws {
        let cut = Self.net(#"layer { name: "thr" type: "Threshold" bottom: "conv" top: "t" propagate_down: false }"#)
        let onData = Self.net(#"layer { name: "thr" type: "Threshold" bottom: "data" top: "t" threshold_param { threshold: 0.1 } }"#,
                              forceBackward: true)
        for text in [cut, onData] {
            let net = try ConformanceSupport.buildNet(try Prototxt.parseNet(text, path: "threshold.prototxt"), phase: .TRAIN)
            fillUniform(try #require(net.blob(named: "data")), seed: 3)
            try #require(net.blob(named: "label")).setData([0, 2])
            let loss = try net.forward()
            #expect(loss.isFinite)
            let t = try #require(net.blob(named: "t"))
            #expect(t.dataArray.allSatisfy { $0 == 0 || $0 == 1 })
            net.clearParamDiffs()
            net.backward()
            let fc = try #require(net.layerIndex(named: "fc"))
            #expect(net.layers[fc].blobs[0].diffArray.contains { $0 != 0 })
        }
    }
}
