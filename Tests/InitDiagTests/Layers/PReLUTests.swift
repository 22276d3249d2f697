import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct PReLULayerTests {
    typealias Kit = NeuronTestKit

    /// Different slopes per channel, so the slope of the wrong channel would show.
    static func setSlopes(_ layer: Layer) {
        let b = layer.blobs[0]
        for i in 0..<b.count { b.data[i] = 0.3 - 0.17 * Float(i) }
    }

    static let configurations: [(String, [Int], Bool)] = [
        ("", [2, 3, 4, 5], false),
        ("", [2, 4, 3], true),
        ("prelu_param { channel_shared: true }", [2, 3, 4, 5], true),
        ("prelu_param { channel_shared: true }", [5, 2], false),
        ("", [4, 3], false),
    ]

    /// Checks the bottom and the slope gradients.
    @Test(arguments: 0..<5)
    func gradient(_ k: Int) throws {
        let (fields, shape, inPlace) = Self.configurations[k]
        try Kit.gradient({ try Kit.make("PReLU", fields) }, shape: shape, inPlace: inPlace,
                         isKink: { abs($0) < 0.02 }, prepare: Self.setSlopes)
    }

    @Test(arguments: ["", "prelu_param { channel_shared: true }"])
    func inPlaceMatchesOutOfPlace(_ fields: String) throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("PReLU", fields) }, shape: [4, 3, 5],
                                                   prepare: Self.setSlopes)
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("prelu", inPlace: true)
    }

    /// Blob shape (C) or scalar; default filler constant 0.25 (applied by the net); the slope diff
    /// adds to what is there; x = 0 takes the slope branch.
    @Test func blobFillerAndAccumulation() throws {
        let layer = try Kit.make("PReLU")
        let x = CaffeLayerTestKit.blob([1, 2, 2], values: [-2, 0, 3, -1]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        #expect(layer.blobs.count == 1 && layer.blobs[0].shape == [2])
        #expect(layer.declaredFillers.first?.type == "constant" && layer.declaredFillers.first?.value == 0.25)
        layer.blobs[0].setData([0.5, 0.1])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [-1, 0, 3, Float(0.1) * -1])
        layer.blobs[0].setDiff([10, 20])
        y.setDiff([1, 2, 3, 4])
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        #expect(layer.blobs[0].diffArray == [Float(8), 16])  // 10 + 1·(−2), 20 + 4·(−1)
        #expect(x.diffArray == [0.5, 2 * 0.5, 3, 4 * Float(0.1)])
        let shared = try Kit.make("PReLU", "prelu_param { channel_shared: true }")
        try shared.setUp(bottom: [x], top: [Blob()])
        #expect(shared.blobs[0].shape == [] && shared.blobs[0].count == 1)
    }

    /// The net fills the slopes with the declared filler (default constant 0.25).
    @Test func netFillsSlopes() throws {
        let text = """
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 2 dim: 2 } } }
        layer { name: "p1" type: "PReLU" bottom: "data" top: "p1" }
        layer { name: "p2" type: "PReLU" bottom: "p1" top: "p1" prelu_param { filler { type: "constant" value: -0.5 } channel_shared: true } }
        layer { name: "p3" type: "PReLU" bottom: "p1" top: "p3" prelu_param { filler { type: "uniform" min: 0 max: 1 } } }
        """
        let net = try ConformanceSupport.buildNet(try Prototxt.parseNet(text, path: "prelu.prototxt"), phase: .TRAIN)
        #expect(net.layers[1].blobs[0].dataArray == [0.25, 0.25, 0.25])
        #expect(net.layers[2].blobs[0].dataArray == [-0.5])
        #expect(net.layers[1].meanField == .pointwise(.relu(slope: 0.25)))
        #expect(net.layers[2].meanField == .pointwise(.relu(slope: -0.5)))
        // Random per-channel slopes are not one pointwise map.
        #expect(net.layers[3].meanField == .restart)
        #expect(net.params.count == 3 && net.parameterCount == 3 + 1 + 3)
        #expect(type(of: net.layers[1]).role == .neuron)
    }

    @Test func shapeErrors() throws {
        let layer = try Kit.make("PReLU")
        #expect(throws: InputError.self) { try layer.setUp(bottom: [CaffeLayerTestKit.blob([6])], top: [Blob()]) }
        let ok = try Kit.make("PReLU")
        let x = CaffeLayerTestKit.blob([2, 3, 4]), y = Blob()
        try ok.setUp(bottom: [x], top: [y])
        x.reshape([2, 5, 4])
        #expect(throws: InputError.self) { try ok.reshape(bottom: [x], top: [y]) }
        #expect(Kit.buildError("PReLU", "prelu_param { shared: true }") != nil)
    }
}
