import Testing
@testable import InitDiag

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
}
