import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ClipLayerTests {
    typealias Kit = NeuronTestKit

    static let configurations: [(String, [Int], Bool, Float, Float)] = [
        ("clip_param { min: -1 max: 1 }", [2, 3, 4, 5], false, -1, 1),
        ("clip_param { min: 0 max: 6 }", [7, 11], true, 0, 6),
        ("clip_param { min: -0.25 max: 0.5 }", [3, 4], false, -0.25, 0.5),
        ("clip_param { min: -0.5 max: 0.5 }", [2, 3, 2], true, -0.5, 0.5),
    ]

    @Test(arguments: 0..<4)
    func gradient(_ k: Int) throws {
        let (fields, shape, inPlace, lo, hi) = Self.configurations[k]
        let margin = (hi - lo) * 0.6
        try Kit.gradient({ try Kit.make("Clip", fields) }, shape: shape, inPlace: inPlace, lo: lo - margin, hi: hi + margin,
                         step: 1e-3, isKink: { abs($0 - lo) < 0.002 || abs($0 - hi) < 0.002 })
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("Clip", "clip_param { min: -0.5 max: 0.3 }") }, shape: [4, 3, 5])
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("clip", inPlace: true, forwardTolerance: 0, backwardTolerance: 0)
    }

    /// Caffe: dx = dy·(x >= min && x <= max): both ends pass the gradient; NaN clips to min.
    @Test func boundaries() throws {
        let layer = try Kit.make("Clip", "clip_param { min: -1 max: 2 }")
        let x = CaffeLayerTestKit.blob([6], values: [-1, 2, -1.0001, 2.0001, 0.5, .nan]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [-1, 2, -1, 2, 0.5, -1])
        y.setDiff([1, 1, 1, 1, 1, 1])
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        #expect(x.diffArray == [1, 1, 0, 0, 1, 0])
        #expect(layer.meanField == .pointwise(.clip(min: -1, max: 2)))
    }

    @Test func parameterErrors() {
        #expect(Kit.buildError("Clip", "")?.contains("clip_param") == true)
        #expect(Kit.buildError("Clip", "clip_param { max: 1 }")?.contains("'min'") == true)
        #expect(Kit.buildError("Clip", "clip_param { min: 1 }")?.contains("'max'") == true)
        #expect(Kit.buildError("Clip", "clip_param { min: 2 max: 1 }")?.contains("greater than max") == true)
        #expect(Kit.buildError("Clip", "clip_param { min: nan max: 1 }") != nil)
    }
}
