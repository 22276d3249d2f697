import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct SplitLayerTests {
    typealias Kit = CaffeLayerTestKit

    @Test func threeTopsSumDiffs() throws {
        let layer = try SplitLayer(param: Kit.param("Split"), context: Kit.context())
        let x = Kit.blob([2, 3, 4], seed: 91), tops = [Blob(), Blob(), Blob()]
        try layer.setUp(bottom: [x], top: tops)
        layer.forward(bottom: [x], top: tops)
        for t in tops { #expect(t.dataArray == x.dataArray && t.shape == x.shape) }
        tops[0].setDiff((0..<24).map { Float($0) })
        tops[1].setDiff((0..<24).map { Float($0) * 0.5 })
        tops[2].setDiff(Array(repeating: -1, count: 24))
        x.setDiff(Array(repeating: 99, count: 24))
        layer.backward(top: tops, propagateDown: [true], bottom: [x])
        let expected: [Float] = (0..<24).map { i in
            let t0 = Float(i), t1 = Float(i) * 0.5
            return (t0 + t1) + -1
        }
        #expect(x.diffArray == expected)
        // Finite differences of Σ_k r_k·top_k: the bottom gradient is Σ_k r_k.
        #expect(GradientChecker().check(layer, bottom: [x], top: tops) == 24)
    }

    @Test func oneTopCopiesAndInPlaceIsRejected() throws {
        let layer = try SplitLayer(param: Kit.param("Split"), context: Kit.context())
        let x = Kit.blob([5]), t = Blob()
        try layer.setUp(bottom: [x], top: [t])
        #expect(GradientChecker().check(layer, bottom: [x], top: [t]) == 5)
        #expect(throws: InputError.self) { try layer.setUp(bottom: [x], top: [Blob(), x]) }
    }
}
