import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct EmbedTests {
    static func make(inputDim: UInt32 = 5, numOutput: UInt32 = 4, bias: Bool = true) -> () throws -> Layer {
        {
            var p = EmbedParameter()
            p.inputDim = inputDim; p.numOutput = numOutput; p.biasTerm = bias
            return try EmbedLayer(param: CaffeLayerTestKit.param("Embed") { $0.embedParam = p }, context: CaffeLayerTestKit.context())
        }
    }

    @Test func matchesReference() throws {
        try StructuralReference.check("embed_bias", propagate: [false], Self.make())
        try StructuralReference.check("embed_nobias", propagate: [false], Self.make(bias: false))
    }

    @Test func parameterGradients() throws {
        for (shape, values, bias) in [([2, 3], [Float]([3, 0, 4, 1, 3, 2]), true), ([4], [0, 0, 1, 4], false), ([1, 1, 2], [2, 2], true)] {
            let layer = try Self.make(bias: bias)()
            let b = CaffeLayerTestKit.blob(shape, values: values), t = Blob()
            try layer.setUp(bottom: [b], top: [t])
            for (i, blob) in layer.blobs.enumerated() { fillUniform(blob, seed: UInt32(30 + i)) }
            let checked = GradientChecker().check(layer, bottom: [b], top: [t], checkBottoms: [])
            #expect(checked == layer.blobs.reduce(0) { $0 + $1.count })
        }
    }

    @Test func badIndexIsReported() throws {
        for bad: Float in [5, -1, 1.5, .nan] {
            let layer = try Self.make()() as! EmbedLayer
            let b = CaffeLayerTestKit.blob([3], values: [1, bad, 0]), t = Blob()
            try layer.setUp(bottom: [b], top: [t])
            layer.forward(bottom: [b], top: [t])
            #expect(layer.labelError?.message.contains("not an integer in [0, 5)") == true, "\(bad)")
        }
        let ok = try Self.make()() as! EmbedLayer
        let b = CaffeLayerTestKit.blob([2], values: [4, 0]), t = Blob()
        try ok.setUp(bottom: [b], top: [t])
        ok.forward(bottom: [b], top: [t])
        #expect(ok.labelError == nil && t.shape == [2, 4])
    }

    @Test func traits() throws {
        let layer = try Self.make()()
        try layer.setUp(bottom: [Blob(shape: [2])], top: [Blob()])
        #expect(EmbedLayer.role == .weighted && layer.meanField == .linear)
        #expect(layer.blobs.map(\.shape) == [[5, 4], [4]])
        #expect(layer.schemeTargets == SchemeTargets(weight: 0, bias: 1, fanShape: [4, 5]))
        #expect(layer.declaredFillers.count == 2)
        #expect(!layer.allowForceBackward(bottomIndex: 0))
        StructuralReference.expectError("input_dim") { _ = try Self.make(inputDim: 0)() }
    }
}
