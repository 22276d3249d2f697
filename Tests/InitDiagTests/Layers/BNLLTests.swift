import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct BNLLLayerTests {
    typealias Kit = NeuronTestKit

    @Test(arguments: [([2, 3, 4, 5], false, Float(4)), ([7, 11], true, 4), ([3], false, 1), ([2, 3, 6], true, 12)])
    func gradient(shape: [Int], inPlace: Bool, range: Float) throws {
        try Kit.gradient({ try Kit.make("BNLL") }, shape: shape, inPlace: inPlace, lo: -range, hi: range, step: 1e-3)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("BNLL") }, shape: [4, 3, 5])
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("bnll", inPlace: true)
    }

    /// Large inputs: y = x (no overflow), and the gradient's exp is clamped at 50 (kBNLL_THRESHOLD),
    /// so dx = dy·e⁵⁰/(e⁵⁰ + 1) = dy in float; very negative inputs give 0.
    @Test func extremes() throws {
        let layer = try Kit.make("BNLL")
        let x = CaffeLayerTestKit.blob([4], values: [200, 60, -200, 0]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [200, 60, 0, Float(log(2.0))])
        y.setDiff([2, 2, 2, 2])
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        #expect(x.diffArray == [2, 2, 0, 1])
        #expect(layer.meanField == .pointwise(.bnll))
    }
}
