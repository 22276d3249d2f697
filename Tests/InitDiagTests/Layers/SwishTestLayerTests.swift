import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// A parameterless elementwise layer written entirely in the test target, to show what a new
/// `NeuronLayer` costs: this one file (the layer and its tests), registered with
/// `LayerFactory.register`. y = x·sigmoid(x); dy/dx = s + x·s·(1 − s), s = sigmoid(x).
final class SwishTestLayer: NeuronLayer {
    let param: LayerParameter
    var blobs: [Blob] = []
    var meanField: MeanFieldRule { .pointwise(.swish(beta: 1)) }

    init(param: LayerParameter, context: LayerContext) throws { self.param = param }

    func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data
        for i in 0..<bottom[0].count { let v = x[i]; y[i] = v / (1 + exp(-v)) }
    }

    func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        // In place the bottom holds y: recover nothing from it; this test layer is used out of place.
        let x = bottom[0].data, dy = top[0].diff, dx = bottom[0].diff
        for i in 0..<bottom[0].count {
            let s = 1 / (1 + exp(-x[i]))
            dx[i] = dy[i] * (s + x[i] * s * (1 - s))
        }
    }
}

@Suite struct SwishTestLayerTests {
    typealias Kit = CaffeLayerTestKit

    @Test func gradient() throws {
        for shape in [[2, 3, 4, 5], [7, 11], [3]] {
            let layer = try SwishTestLayer(param: Kit.param("SwishTest"), context: Kit.context())
            let x = Kit.blob(shape, seed: 5, -3, 3), y = Blob()
            try layer.setUp(bottom: [x], top: [y])
            #expect(y.shape == shape)   // NeuronLayer's setUp/reshape
            let n = GradientChecker().check(layer, bottom: [x], top: [y])
            #expect(n == x.count)
        }
    }

    @Test func forwardMatchesFloat64() throws {
        let layer = try SwishTestLayer(param: Kit.param("SwishTest"), context: Kit.context())
        let x = Kit.blob([64], seed: 9, -6, 6), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        for i in 0..<64 {
            let v = Double(x.data[i])
            #expect(abs(Double(y.data[i]) - v / (1 + Foundation.exp(-v))) < 1e-6)
        }
    }

    /// Registered under a new type name, the layer builds inside a net, declares its traits
    /// through the protocol defaults and its own rule, and the trace attributes and the
    /// mean-field chain read them (swish by quadrature: a prediction after it too).
    @Test func worksInANetThroughTheFactory() throws {
        LayerFactory.register(SwishTestLayer.self, as: "SwishTest")
        let text = """
        name: "swish"
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 4 dim: 3 } } }
        layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
                inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
        layer { name: "swish" type: "SwishTest" bottom: "ip" top: "act" }
        """
        let param = try Prototxt.parseNet(text, path: "swish.prototxt")
        let net = try ConformanceSupport.buildNet(param, phase: .TRAIN)
        let li = try #require(net.layerParams.firstIndex { $0.name == "swish" })
        #expect(net.layers[li] is SwishTestLayer)
        #expect(type(of: net.layers[li]).role == .neuron)
        #expect(net.layers[li].generatorDrawsPerForward == 0)
        let attrs = Trainer.layerAttributes(net, li, ParameterInitializer(scheme: Scheme()))
        #expect(attrs.extra["role"] == .string("neuron"))
        #expect(attrs.extra["mean_field"] == .string("swish:1"))
        net.blobs[net.inputBlobIDs[0]].setData((0..<12).map { Float($0) / 6 - 1 })
        _ = try net.forward()
        let predictions = MeanField.predict(net: net, inputSecondMoment: 1, inputCorrelation: 0.5,
                                            fillers: { net.layers[$0].declaredFillers })
        #expect(predictions[li - 1] != nil)   // the InnerProduct: σ_w²·m + σ_b²
        #expect(predictions[li] != nil)       // swish: E[φ(z)²] by Gauss–Hermite quadrature
    }
}
