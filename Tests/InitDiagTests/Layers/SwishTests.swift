import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct SwishLayerTests {
    typealias Kit = NeuronTestKit

    static let configurations: [(String, [Int], Bool)] = [
        ("", [2, 3, 4, 5], false),
        ("swish_param { beta: 1.5 }", [7, 11], true),
        ("swish_param { beta: 0.25 }", [3], false),
        ("swish_param { beta: -2 }", [2, 3, 2], true),
    ]

    @Test(arguments: 0..<4)
    func gradient(_ k: Int) throws {
        let (fields, shape, inPlace) = Self.configurations[k]
        try Kit.gradient({ try Kit.make("Swish", fields) }, shape: shape, inPlace: inPlace, lo: -4, hi: 4)
    }

    @Test(arguments: ["", "swish_param { beta: 1.5 }"])
    func inPlaceMatchesOutOfPlace(_ fields: String) throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("Swish", fields) }, shape: [4, 3, 5])
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("swish", inPlace: true)
    }

    @Test func declarationsAndErrors() throws {
        #expect(try Kit.make("Swish").meanField == .pointwise(.swish(beta: 1)))
        #expect(try Kit.make("Swish", "swish_param { beta: 0.5 }").meanField == .pointwise(.swish(beta: 0.5)))
        #expect(Kit.buildError("Swish", "swish_param { beta: inf }")?.contains("beta must be finite") == true)
    }
}
