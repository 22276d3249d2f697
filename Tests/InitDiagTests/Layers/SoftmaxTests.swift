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

@Suite struct SoftmaxLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(axis: Int32 = 1) throws -> SoftmaxLayer {
        try SoftmaxLayer(param: Kit.param("Softmax") { p in var s = SoftmaxParameter(); s.axis = axis; p.softmaxParam = s },
                         context: Kit.context())
    }

    static let cases: [([Int], Int32)] = [([2, 4, 3, 2], 1), ([5, 7], 1), ([3, 4, 5], -1), ([6, 2], 0)]

    @Test(arguments: cases)
    func gradient(shape: [Int], axis: Int32) throws {
        let layer = try make(axis: axis)
        let x = Kit.blob(shape, seed: 41, -3, 3), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        let n = GradientChecker().check(layer, bottom: [x], top: [y])
        #expect(n == x.count)
    }

    @Test func forwardSumsToOneAndIsShiftInvariant() throws {
        let layer = try make()
        // Large logits: the max subtraction keeps exp finite.
        let x = Kit.blob([1, 3, 2], values: [1000, 0, 1001, 1, 1002, 2]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        let e: [Double] = [exp(-2.0), exp(-1.0), 1.0]
        let s: Double = e[0] + e[1] + e[2]
        for j in 0..<3 {
            let want: Double = e[j] / s
            let got0 = Double(y.data[j * 2]), got1 = Double(y.data[j * 2 + 1])
            #expect(abs(got0 - want) < 1e-6)
            #expect(abs(got1 - want) < 1e-6)
        }
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        try Kit.expectInPlaceMatches({ try make() }, shape: [2, 5, 3])
    }

    @Test func axisOutOfRangeIsAnError() throws {
        let layer = try make(axis: 2)
        #expect(throws: InputError.self) { try layer.setUp(bottom: [Blob(shape: [2, 3])], top: [Blob()]) }
    }
}
