import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ExpLayerTests {
    typealias Kit = NeuronTestKit

    static let configurations: [(String, [Int], Bool)] = [
        ("", [2, 3, 4, 5], false),
        ("exp_param { base: 2 scale: 0.5 shift: 1 }", [7, 11], true),
        ("exp_param { scale: -1.5 shift: 0.5 }", [3], false),
        ("exp_param { base: 10 shift: -1 }", [2, 3, 2], true),
    ]

    @Test(arguments: 0..<4)
    func gradient(_ k: Int) throws {
        let (fields, shape, inPlace) = Self.configurations[k]
        try Kit.gradient({ try Kit.make("Exp", fields) }, shape: shape, inPlace: inPlace, lo: -1, hi: 1, step: 1e-3)
    }

    @Test(arguments: ["", "exp_param { base: 2 scale: 0.5 shift: 1 }"])
    func inPlaceMatchesOutOfPlace(_ fields: String) throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("Exp", fields) }, shape: [4, 3, 5])
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("exp", inPlace: true)
    }

    /// Caffe folds the parameters: inner = ln(base)·scale, outer = base^shift.
    @Test func foldedScales() throws {
        let layer = try #require(try Kit.make("Exp", "exp_param { base: 2 scale: 3 shift: 2 }") as? ExpLayer)
        #expect(layer.innerScale == logf(2) * 3 && layer.outerScale == 4)
        #expect(layer.meanField == .pointwise(.exp(base: 2, scale: 3, shift: 2)))
        let e = try #require(try Kit.make("Exp") as? ExpLayer)
        #expect(e.innerScale == 1 && e.outerScale == 1)
    }

    @Test func parameterErrors() {
        #expect(Kit.buildError("Exp", "exp_param { base: 0 }")?.contains("strictly positive") == true)
        #expect(Kit.buildError("Exp", "exp_param { base: -2 }")?.contains("strictly positive") == true)
        #expect(Kit.buildError("Exp", "exp_param { base: inf }")?.contains("not finite") == true)
        #expect(Kit.buildError("Exp", "exp_param { shift: nan }")?.contains("shift must be finite") == true)
    }
}
