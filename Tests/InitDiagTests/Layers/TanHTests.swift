import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct TanHLayerTests {
    typealias Kit = NeuronTestKit

    @Test(arguments: [([2, 3, 4, 5], false), ([7, 11], true), ([3], false), ([2, 3, 6], true)])
    func gradient(shape: [Int], inPlace: Bool) throws {
        try Kit.gradient({ try Kit.make("TanH") }, shape: shape, inPlace: inPlace, lo: -3, hi: 3)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("TanH") }, shape: [4, 3, 5])
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("tanh", inPlace: true)
    }

    @Test func extremesAndDeclarations() throws {
        let layer = try Kit.make("TanH", "tanh_param { engine: DEFAULT }")
        let x = CaffeLayerTestKit.blob([3], values: [-100, 0, 100]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [-1, 0, 1])
        #expect(layer.meanField == .pointwise(.tanh))
    }

    @Test func rejectsUnknownEngine() {
        #expect(Kit.buildError("TanH", "tanh_param { engine: FAST }") != nil)
    }
}
