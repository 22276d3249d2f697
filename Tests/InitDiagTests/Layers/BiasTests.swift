import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct BiasLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(axis: Int32 = 1, numAxes: Int32 = 1) throws -> BiasLayer {
        try BiasLayer(param: Kit.param("Bias") { p in
            var b = BiasParameter(); b.axis = axis; b.numAxes = numAxes; p.biasParam = b
        }, context: Kit.context())
    }

    static let cases: [([Int], Int32, Int32)] = [([2, 3, 4, 5], 1, 1), ([2, 3, 4, 5], 1, 0), ([2, 3, 4], 0, -1), ([4, 6], 1, 1)]

    @Test(arguments: cases)
    func gradientWithLearnedBias(shape: [Int], axis: Int32, numAxes: Int32) throws {
        let layer = try make(axis: axis, numAxes: numAxes)
        let x = Kit.blob(shape, seed: 31), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        fillUniform(layer.blobs[0], seed: 32)
        let n = GradientChecker().check(layer, bottom: [x], top: [y])
        #expect(n == x.count + layer.blobs[0].count)
    }

    @Test func gradientWithBiasFromSecondBottom() throws {
        let layer = try make()
        let x = Kit.blob([2, 3, 4], seed: 33), b = Kit.blob([3], seed: 34), y = Blob()
        try layer.setUp(bottom: [x, b], top: [y])
        #expect(layer.blobs.isEmpty)
        let n = GradientChecker().check(layer, bottom: [x, b], top: [y])
        #expect(n == x.count + 3)
    }

    @Test func forwardAndAccumulation() throws {
        let layer = try make()
        let x = Kit.blob([2, 2, 1], values: [1, 2, 3, 4]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.blobs[0].setData([10, 20])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [11, 22, 13, 24])
        y.setDiff([1, 2, 3, 4])
        layer.blobs[0].zeroDiff()
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        // db = Σ over outer (1 + 3, 2 + 4), added twice (a learned blob accumulates).
        #expect(layer.blobs[0].diffArray == [8, 12])
        #expect(x.diffArray == [1, 2, 3, 4])
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        try Kit.expectInPlaceMatches({ try make() }, shape: [2, 3, 4]) { $0.blobs[0].setData([1, -2, 3]) }
    }

    @Test func mismatchedSecondBottomIsAnError() throws {
        let layer = try make()
        #expect(throws: InputError.self) {
            try layer.setUp(bottom: [Blob(shape: [2, 3, 4]), Blob(shape: [5])], top: [Blob()])
        }
    }
}
