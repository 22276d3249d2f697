import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct SigmoidLayerTests {
    typealias Kit = NeuronTestKit

    @Test(arguments: [([2, 3, 4, 5], false), ([7, 11], true), ([3], false), ([2, 3, 6], true)])
    func gradient(shape: [Int], inPlace: Bool) throws {
        try Kit.gradient({ try Kit.make("Sigmoid") }, shape: shape, inPlace: inPlace, lo: -5, hi: 5)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("Sigmoid") }, shape: [4, 3, 5])
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("sigmoid", inPlace: true)
    }

    /// Caffe's 0.5·tanh(0.5·x) + 0.5 does not overflow: saturates to exactly 0 and 1.
    @Test func extremesAndDeclarations() throws {
        let layer = try Kit.make("Sigmoid", "sigmoid_param { engine: CAFFE }")
        let x = CaffeLayerTestKit.blob([5], values: [-200, -0.0, 0, 200, .nan]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(Array(y.dataArray.prefix(4)) == [0, 0.5, 0.5, 1])
        #expect(y.data[4].isNaN)
        #expect(layer.meanField == .pointwise(.sigmoid))
        #expect(type(of: layer).role == .neuron)
    }

    @Test func rejectsUnknownField() {
        #expect(Kit.buildError("Sigmoid", "sigmoid_param { alpha: 1 }") != nil)
    }
}
