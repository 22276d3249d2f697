import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct EuclideanLossLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make() throws -> EuclideanLossLayer { try EuclideanLossLayer(param: Kit.param("EuclideanLoss"), context: Kit.context()) }

    /// Both bottoms take a gradient (+d and −d); the checker's random top diff is the loss weight.
    @Test(arguments: [[2, 3], [3, 2, 2, 2], [5, 1], [4]])
    func gradient(shape: [Int]) throws {
        let layer = try make()
        let a = Kit.blob(shape, seed: 3, -2, 2), b = Kit.blob(shape, seed: 4, -2, 2), loss = Blob()
        try layer.setUp(bottom: [a, b], top: [loss])
        #expect(loss.shape == [])
        let n = GradientChecker().check(layer, bottom: [a, b], top: [loss])
        #expect(n == 2 * a.count)
    }

    @Test func valueAndSignedGradients() throws {
        let layer = try make()
        let a = Kit.blob([2, 2], values: [1, 2, 3, 4]), b = Kit.blob([2, 2], values: [0, 0, 1, 1]), loss = Blob()
        try layer.setUp(bottom: [a, b], top: [loss])
        layer.forward(bottom: [a, b], top: [loss])
        // (1 + 4 + 4 + 9) / (2·2) = 4.5
        #expect(loss.data[0] == 4.5)
        loss.setDiff([3])
        layer.backward(top: [loss], propagateDown: [true, true], bottom: [a, b])
        #expect(a.diffArray == [1.5, 3, 3, 4.5])
        #expect(b.diffArray == [-1.5, -3, -3, -4.5])
        #expect(layer.allowForceBackward(bottomIndex: 1))
        #expect(EuclideanLossLayer.role == .loss && layer.meanField == .stop)
    }

    @Test func shapeChecks() throws {
        #expect(throws: InputError.self) { try make().setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [3, 2])], top: [Blob()]) }
        do {
            try make().setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [2, 4])], top: [Blob()])
            Issue.record("expected a dimension error")
        } catch let e as InputError {
            #expect(e.message.contains("EuclideanLoss") && e.message.contains("2×3") && e.message.contains("2×4"))
        }
        #expect(throws: InputError.self) { try make().setUp(bottom: [Blob(shape: [1, 1, 1, 1, 2]), Blob(shape: [1, 1, 1, 1, 2])], top: [Blob()]) }
    }

    /// Through a Net: loss_weight 0.5 scales the loss the net sums and the gradient it writes
    /// (the net puts the weight into top[0].diff[0]); force_backward reaches both inputs.
    @Test func lossWeightThroughTheNet() throws {
        let net = try Prototxt.parseNet("""
        force_backward: true
        layer { name: "in" type: "Input" top: "a" top: "b" input_param { shape { dim: 4 dim: 3 } } }
        layer { name: "loss" type: "EuclideanLoss" bottom: "a" bottom: "b" top: "loss" loss_weight: 0.5 }
        """, path: "euclid.prototxt")
        let built = try ConformanceSupport.buildNet(net, phase: .TRAIN)
        let a = try #require(built.blob(named: "a")), b = try #require(built.blob(named: "b"))
        fillUniform(a, seed: 1)
        fillUniform(b, seed: 2)
        let total = try built.forward()
        let loss = try #require(built.blob(named: "loss")).data[0]
        #expect(total == 0.5 * loss)
        built.backward()
        for i in 0..<a.count {
            #expect(abs(a.diff[i] - 0.5 / 4 * (a.data[i] - b.data[i])) < 1e-7)
            #expect(abs(b.diff[i] + 0.5 / 4 * (a.data[i] - b.data[i])) < 1e-7)
        }
    }
}
