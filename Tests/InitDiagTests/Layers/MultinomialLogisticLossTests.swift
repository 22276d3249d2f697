import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct MultinomialLogisticLossLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make() throws -> MultinomialLogisticLossLayer {
        try MultinomialLogisticLossLayer(param: Kit.param("MultinomialLogisticLoss"), context: Kit.context())
    }

    @Test(arguments: [[3, 4], [2, 3, 2, 1], [5, 2], [4, 6, 1, 1]])
    func gradient(shape: [Int]) throws {
        let layer = try make()
        // Probabilities away from 0, where −log p is smooth at the checker's step.
        let p = Kit.blob(shape, seed: 41, 0.2, 1), loss = Blob()
        let n = shape[0], dim = p.count / n
        let labels = Kit.blob(shape.count == 4 ? [n, 1, 1, 1] : [n], values: (0..<n).map { Float(($0 * 3) % dim) })
        try layer.setUp(bottom: [p, labels], top: [loss])
        let checked = GradientChecker(step: 1e-3).check(layer, bottom: [p, labels], top: [loss], checkBottoms: [0])
        #expect(checked == p.count)
    }

    @Test func thresholdAndValue() throws {
        let layer = try make()
        let p = Kit.blob([2, 2], values: [0.25, 0.75, 0, 1]), labels = Kit.blob([2], values: [0, 0]), loss = Blob()
        try layer.setUp(bottom: [p, labels], top: [loss])
        layer.forward(bottom: [p, labels], top: [loss])
        // (−log 0.25 − log 1e-20) / 2
        #expect(abs(loss.data[0] - (-logf(0.25) - logf(1e-20)) / 2) < 1e-5)
        loss.setDiff([1])
        layer.backward(top: [loss], propagateDown: [true, false], bottom: [p, labels])
        #expect(p.diffArray == [-0.5 / 0.25, 0, -0.5 / Float(1e-20), 0])
    }

    @Test func labelShapeAndRange() throws {
        #expect(throws: InputError.self) { try make().setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [2, 2])], top: [Blob()]) }
        let layer = try make()
        let p = Kit.blob([2, 3], seed: 1, 0.1, 1), labels = Kit.blob([2], values: [1, -1]), loss = Blob()
        try layer.setUp(bottom: [p, labels], top: [loss])
        layer.forward(bottom: [p, labels], top: [loss])
        #expect(try #require(layer.labelError).message.contains("label -1"))
    }
}
