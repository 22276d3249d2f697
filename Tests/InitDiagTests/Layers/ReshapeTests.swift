import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ReshapeTests {
    static func make(_ dims: [Int64], axis: Int32 = 0, numAxes: Int32 = -1) -> () throws -> Layer {
        {
            var p = ReshapeParameter()
            p.shape = BlobShape(dim: dims); p.axis = axis; p.numAxes = numAxes
            return try ReshapeLayer(param: CaffeLayerTestKit.param("Reshape") { $0.reshapeParam = p }, context: CaffeLayerTestKit.context())
        }
    }

    func topShape(_ dims: [Int64], axis: Int32 = 0, numAxes: Int32 = -1, bottom: [Int]) throws -> [Int] {
        let t = Blob()
        try Self.make(dims, axis: axis, numAxes: numAxes)().setUp(bottom: [Blob(shape: bottom)], top: [t])
        return t.shape
    }

    @Test func matchesReference() throws {
        try StructuralReference.check("reshape_copy_infer", tolerance: 0, Self.make([0, -1, 2, 3]))
        try StructuralReference.check("reshape_axis1_numaxes1", tolerance: 0, Self.make([2, 2], axis: 1, numAxes: 1))
    }

    /// Caffe's own ReshapeLayer test shapes (BVLC/caffe src/caffe/test/test_reshape_layer.cpp).
    @Test func caffeShapes() throws {
        #expect(try topShape([0, -1], bottom: [2, 3, 6, 5]) == [2, 90])
        #expect(try topShape([0, 0, 0, 0], bottom: [2, 3, 6, 5]) == [2, 3, 6, 5])
        #expect(try topShape([1, 1, 1], axis: 0, numAxes: 0, bottom: [2, 3, 6, 5]) == [1, 1, 1, 2, 3, 6, 5])
        #expect(try topShape([1, 1, 1], axis: 2, numAxes: 0, bottom: [2, 3, 6, 5]) == [2, 3, 1, 1, 1, 6, 5])
        #expect(try topShape([1, 1, 1], axis: -1, numAxes: 0, bottom: [2, 3, 6, 5]) == [2, 3, 6, 5, 1, 1, 1])
        #expect(try topShape([-1], axis: 1, numAxes: 2, bottom: [2, 3, 6, 5]) == [2, 18, 5])
        #expect(try topShape([], bottom: [1, 1, 1]) == [])
    }

    @Test func gradients() throws {
        try StructuralReference.gradientCheck(Self.make([0, -1, 2, 3]), shapes: [[2, 3, 4, 3]])
        try StructuralReference.gradientCheck(Self.make([2, 2], axis: 1, numAxes: 1), shapes: [[3, 4, 5]])
        try StructuralReference.gradientCheck(Self.make([-1]), shapes: [[2, 3]])
    }

    @Test func errors() throws {
        StructuralReference.expectError("multiple -1") { _ = try Self.make([-1, -1])() }
        StructuralReference.expectError("divisible") { try Self.make([0, -1, 7])().setUp(bottom: [Blob(shape: [2, 3, 4])], top: [Blob()]) }
        StructuralReference.expectError("must match input count") { try Self.make([5])().setUp(bottom: [Blob(shape: [2, 3])], top: [Blob()]) }
        StructuralReference.expectError("no corresponding bottom axis") { try Self.make([0, 0, 0])().setUp(bottom: [Blob(shape: [6, 1])], top: [Blob()]) }
        let b = Blob(shape: [2, 3])
        StructuralReference.expectError("in-place") { try Self.make([-1])().setUp(bottom: [b], top: [b]) }
    }
}
