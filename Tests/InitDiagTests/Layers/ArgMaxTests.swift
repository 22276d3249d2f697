import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ArgMaxTests {
    static func make(topK: UInt32 = 1, outMaxVal: Bool = false, axis: Int32? = nil) -> () throws -> Layer {
        {
            var p = ArgMaxParameter()
            p.topK = topK; p.outMaxVal = outMaxVal; p.axis = axis
            return try ArgMaxLayer(param: CaffeLayerTestKit.param("ArgMax") { $0.argmaxParam = p }, context: CaffeLayerTestKit.context())
        }
    }

    @Test func matchesReference() throws {
        try StructuralReference.check("argmax_flat_top2", tolerance: 0, Self.make(topK: 2))
        try StructuralReference.check("argmax_flat_maxval", tolerance: 0, Self.make(topK: 3, outMaxVal: true))
        try StructuralReference.check("argmax_axis1", tolerance: 0, Self.make(axis: 1))
        try StructuralReference.check("argmax_axis2_maxval_top2", tolerance: 0, Self.make(topK: 2, outMaxVal: true, axis: 2))
    }

    @Test func tiesGoToTheLargerIndex() throws {
        let layer = try Self.make(topK: 2)()
        let b = CaffeLayerTestKit.blob([1, 4], values: [3, 1, 3, 2]), t = Blob()
        try layer.setUp(bottom: [b], top: [t])
        layer.forward(bottom: [b], top: [t])
        #expect(t.shape == [1, 1, 2])
        #expect(t.dataArray == [2, 0])
    }

    @Test func errors() throws {
        StructuralReference.expectError("top_k") { try Self.make(topK: 5)().setUp(bottom: [Blob(shape: [2, 4])], top: [Blob()]) }
        StructuralReference.expectError("top_k") { try Self.make(topK: 3, axis: 1)().setUp(bottom: [Blob(shape: [2, 2, 5])], top: [Blob()]) }
        StructuralReference.expectError("less than 1") { _ = try Self.make(topK: 0)() }
        #expect(ArgMaxLayer.role == .metric)
        #expect(try Self.make()().meanField == .stop)
        #expect(try !Self.make()().allowForceBackward(bottomIndex: 0))
    }
}
