import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ConcatLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(axis: Int32 = 1, concatDim: UInt32? = nil) throws -> ConcatLayer {
        try ConcatLayer(param: Kit.param("Concat") { p in
            var c = ConcatParameter(); c.axis = axis; c.concatDim = concatDim; p.concatParam = c
        }, context: Kit.context())
    }

    @Test(arguments: [Int32(0), 1, -1])
    func gradient(axis: Int32) throws {
        let layer = try make(axis: axis)
        var s0 = [2, 3, 4], s1 = [2, 3, 4]
        let a = axis < 0 ? 3 + Int(axis) : Int(axis)
        s0[a] = 2; s1[a] = 5
        let b = [Kit.blob(s0, seed: 71), Kit.blob(s1, seed: 72)], y = Blob()
        try layer.setUp(bottom: b, top: [y])
        var expected = [2, 3, 4]; expected[a] = 7
        #expect(y.shape == expected)
        #expect(GradientChecker().check(layer, bottom: b, top: [y]) == b[0].count + b[1].count)
    }

    @Test func forwardLayout() throws {
        let a = Kit.blob([2, 1, 2], values: [1, 2, 3, 4]), b = Kit.blob([2, 2, 2], values: [5, 6, 7, 8, 9, 10, 11, 12])
        let y = Blob()
        let layer = try make()
        try layer.setUp(bottom: [a, b], top: [y])
        layer.forward(bottom: [a, b], top: [y])
        #expect(y.shape == [2, 3, 2])
        #expect(y.dataArray == [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12])
        let legacy = try make(axis: 1, concatDim: 0)
        let c = Kit.blob([1, 1, 2], values: [0, -1])
        try legacy.setUp(bottom: [a, c], top: [y])
        legacy.forward(bottom: [a, c], top: [y])
        #expect(y.shape == [3, 1, 2] && y.dataArray == [1, 2, 3, 4, 0, -1])
    }

    @Test func shapeErrors() throws {
        let layer = try make()
        #expect(throws: InputError.self) { try layer.setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [3, 3])], top: [Blob()]) }
        #expect(throws: InputError.self) { try layer.setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [2, 3, 1])], top: [Blob()]) }
        #expect(throws: InputError.self) { try make(concatDim: 4).setUp(bottom: [Blob(shape: [2, 3])], top: [Blob()]) }
    }
}
