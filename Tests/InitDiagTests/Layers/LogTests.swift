import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct LogLayerTests {
    typealias Kit = NeuronTestKit

    static let configurations: [(String, [Int], Bool, Float, Float)] = [
        ("", [2, 3, 4, 5], false, 0.3, 3),
        ("log_param { base: 10 scale: 2 shift: 0.5 }", [7, 11], true, 0, 2),
        ("log_param { base: 2 scale: -1 shift: 3 }", [3], false, -1, 2),
        ("log_param { shift: 2 }", [2, 3, 2], true, -1, 1),
    ]

    @Test(arguments: 0..<4)
    func gradient(_ k: Int) throws {
        let (fields, shape, inPlace, lo, hi) = Self.configurations[k]
        try Kit.gradient({ try Kit.make("Log", fields) }, shape: shape, inPlace: inPlace, lo: lo, hi: hi, step: 1e-3)
    }

    /// In place the input is kept for backward: same gradient as out of place.
    @Test(arguments: ["log_param { shift: 2 }", "log_param { base: 2 scale: 0.5 shift: 1 }"])
    func inPlaceMatchesOutOfPlace(_ fields: String) throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("Log", fields) }, shape: [4, 3, 5])
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("log", inPlace: true)
    }

    @Test func declarations() throws {
        let layer = try #require(try Kit.make("Log", "log_param { base: 2 scale: 3 }") as? LogLayer)
        #expect(layer.baseScale == 1 / logf(2) && layer.backwardNumScale == 3 / logf(2))
        #expect(layer.meanField == .pointwise(.log(base: 2, scale: 3, shift: 0)))
    }

    @Test func parameterErrors() {
        #expect(Kit.buildError("Log", "log_param { base: 1 }")?.contains("not finite") == true)
        #expect(Kit.buildError("Log", "log_param { base: -3 }")?.contains("strictly positive") == true)
        #expect(Kit.buildError("Log", "log_param { scale: inf }")?.contains("scale must be finite") == true)
    }
}
