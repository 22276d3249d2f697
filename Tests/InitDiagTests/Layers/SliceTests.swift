import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct SliceTests {
    static func make(axis: Int32 = 1, points: [UInt32] = [], sliceDim: UInt32? = nil) -> () throws -> Layer {
        {
            var p = SliceParameter()
            p.axis = axis; p.slicePoint = points; p.sliceDim = sliceDim
            return try SliceLayer(param: CaffeLayerTestKit.param("Slice") { $0.sliceParam = p }, context: CaffeLayerTestKit.context())
        }
    }

    @Test func matchesReference() throws {
        try StructuralReference.check("slice_points_axis1", tolerance: 0, Self.make(points: [1, 3]))
        try StructuralReference.check("slice_equal_axis_last", tolerance: 0, Self.make(axis: -1))
        try StructuralReference.check("slice_dim0", tolerance: 0, Self.make(points: [2], sliceDim: 0))
    }

    @Test func gradients() throws {
        try StructuralReference.gradientCheck(Self.make(points: [1, 3]), shapes: [[2, 5, 3]], tops: 3)
        try StructuralReference.gradientCheck(Self.make(axis: -1), shapes: [[3, 2, 4]], tops: 2)
        try StructuralReference.gradientCheck(Self.make(points: [2], sliceDim: 0), shapes: [[3, 2, 2]], tops: 2)
    }

    @Test func errors() throws {
        StructuralReference.expectError("evenly divide") { try Self.make()().setUp(bottom: [Blob(shape: [2, 5])], top: [Blob(), Blob()]) }
        StructuralReference.expectError("one fewer") { try Self.make(points: [1])().setUp(bottom: [Blob(shape: [2, 5])], top: [Blob(), Blob(), Blob()]) }
        StructuralReference.expectError("increasing") { try Self.make(points: [3, 2])().setUp(bottom: [Blob(shape: [2, 5])], top: [Blob(), Blob(), Blob()]) }
        StructuralReference.expectError("not inside") { try Self.make(points: [6])().setUp(bottom: [Blob(shape: [2, 5])], top: [Blob(), Blob()]) }
        StructuralReference.expectError("out of range") { try Self.make(axis: 3)().setUp(bottom: [Blob(shape: [2, 5])], top: [Blob()]) }
        #expect(try Self.make()().meanField == .identity(approximate: false))
    }
}
