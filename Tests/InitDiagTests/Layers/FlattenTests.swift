import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct FlattenLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(axis: Int32 = 1, endAxis: Int32 = -1) throws -> FlattenLayer {
        try FlattenLayer(param: Kit.param("Flatten") { p in
            var f = FlattenParameter(); f.axis = axis; f.endAxis = endAxis; p.flattenParam = f
        }, context: Kit.context())
    }

    @Test func shapes() throws {
        let x = Blob(shape: [2, 3, 4, 5]), y = Blob()
        try make().setUp(bottom: [x], top: [y]); #expect(y.shape == [2, 60])
        try make(axis: 2).setUp(bottom: [x], top: [y]); #expect(y.shape == [2, 3, 20])
        try make(axis: 1, endAxis: 2).setUp(bottom: [x], top: [y]); #expect(y.shape == [2, 12, 5])
        try make(axis: 0, endAxis: -2).setUp(bottom: [x], top: [y]); #expect(y.shape == [24, 5])
        #expect(throws: InputError.self) { try make(axis: 4).setUp(bottom: [x], top: [y]) }
        #expect(throws: InputError.self) { try make(axis: 2, endAxis: 1).setUp(bottom: [x], top: [y]) }
        #expect(throws: InputError.self) { try make().setUp(bottom: [x], top: [x]) }
    }

    @Test func gradientAndValues() throws {
        let layer = try make()
        let x = Kit.blob([2, 3, 2], seed: 81), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == x.dataArray)
        #expect(GradientChecker().check(layer, bottom: [x], top: [y]) == 12)
    }
}
