import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ELULayerTests {
    typealias Kit = NeuronTestKit

    static let configurations: [(String, [Int], Bool)] = [
        ("", [2, 3, 4, 5], false),
        ("elu_param { alpha: 0.5 }", [7, 11], true),
        ("elu_param { alpha: 2 }", [3, 4], false),
        ("elu_param { alpha: -0.5 }", [2, 3, 5], true),
    ]

    @Test(arguments: 0..<4)
    func gradient(_ k: Int) throws {
        let (fields, shape, inPlace) = Self.configurations[k]
        // The derivative jumps at 0 unless α = 1.
        try Kit.gradient({ try Kit.make("ELU", fields) }, shape: shape, inPlace: inPlace, lo: -3, hi: 3,
                         isKink: { abs($0) < 0.02 })
    }

    @Test(arguments: ["", "elu_param { alpha: 0.3 }", "elu_param { alpha: -0.5 }"])
    func inPlaceMatchesOutOfPlace(_ fields: String) throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("ELU", fields) }, shape: [4, 3, 5])
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("elu", inPlace: true)
    }

    /// Backward at x ≤ 0 is dy·(y + α); at x = 0 exactly that is dy·α.
    @Test func valuesAndDeclarations() throws {
        let layer = try Kit.make("ELU", "elu_param { alpha: 0.5 }")
        let x = CaffeLayerTestKit.blob([3], values: [-1, 0, 2]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [0.5 * (expf(-1) - 1), 0, 2])
        y.setDiff([1, 1, 1])
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        #expect(x.diffArray == [0.5 + 0.5 * (expf(-1) - 1), 0.5, 1])
        #expect(layer.meanField == .pointwise(.elu(alpha: 0.5)))
        #expect(try Kit.make("ELU").meanField == .pointwise(.elu(alpha: 1)))
    }

    @Test func parameterErrors() {
        #expect(Kit.buildError("ELU", "elu_param { alpha: inf }")?.contains("alpha must be finite") == true)
        #expect(Kit.buildError("ELU", "elu_param { beta: 1 }") != nil)
    }
}
