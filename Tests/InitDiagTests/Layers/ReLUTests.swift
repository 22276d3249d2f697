import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ReLULayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(_ slope: Float) throws -> ReLULayer {
        try ReLULayer(param: Kit.param("ReLU") { p in
            var r = ReLUParameter(); r.negativeSlope = slope; p.reluParam = r
        }, context: Kit.context())
    }

    @Test(arguments: [Float(0), 0.1])
    func gradient(slope: Float) throws {
        for shape in [[2, 3, 4, 5], [7, 11], [3]] {
            let layer = try make(slope)
            let x = Kit.blob(shape, seed: 3), y = Blob()
            try layer.setUp(bottom: [x], top: [y])
            let checker = GradientChecker()
            // Skip inputs within 2 steps of the kink at 0.
            let n = checker.check(layer, bottom: [x], top: [y]) { b, i in abs(b.data[i]) < 2 * checker.step }
            #expect(n > x.count / 2)
        }
    }

    @Test func forwardValuesAndKink() throws {
        let layer = try make(0.1)
        let x = Kit.blob([5], values: [-2, -0.0, 0, 3, .nan]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(Array(y.dataArray.prefix(4)) == [Float(0.1) * -2, 0, 0, 3])
        #expect(y.data[4].isNaN)
        y.setDiff([1, 1, 1, 1, 1])
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        // Derivative at exactly 0 is the slope (Caffe: [x > 0] + slope·[x ≤ 0]).
        #expect(Array(x.diffArray.prefix(4)) == [0.1, 0.1, 0.1, 1])
    }

    @Test(arguments: [Float(0), 0.1])
    func inPlaceMatchesOutOfPlace(slope: Float) throws {
        try Kit.expectInPlaceMatches({ try make(slope) }, shape: [4, 3, 5])
    }

    @Test func inPlaceSharesBlob() throws {
        let layer = try make(0)
        let x = Kit.blob([2, 3], values: [-1, 2, -3, 4, 0, 5])
        try layer.setUp(bottom: [x], top: [x])
        layer.forward(bottom: [x], top: [x])
        #expect(x.dataArray == [0, 2, 0, 4, 0, 5])
        x.setDiff([1, 1, 1, 1, 1, 1])
        layer.backward(top: [x], propagateDown: [true], bottom: [x])
        #expect(x.diffArray == [0, 1, 0, 1, 0, 1])
    }

    @Test func rejectsNonFiniteSlope() {
        #expect(throws: InputError.self) { try make(.infinity) }
    }
}
