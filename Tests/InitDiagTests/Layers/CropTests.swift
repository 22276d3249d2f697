import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct CropTests {
    static func make(axis: Int32 = 2, offsets: [UInt32] = []) -> () throws -> Layer {
        {
            var p = CropParameter()
            p.axis = axis; p.offset = offsets
            return try CropLayer(param: CaffeLayerTestKit.param("Crop") { $0.cropParam = p }, context: CaffeLayerTestKit.context())
        }
    }

    @Test func matchesReference() throws {
        try StructuralReference.check("crop_axis2_offsets", tolerance: 0, Self.make(offsets: [2, 1]))
        try StructuralReference.check("crop_axis1_one_offset", tolerance: 0, Self.make(axis: 1, offsets: [1]))
    }

    @Test func gradients() throws {
        try StructuralReference.gradientCheck(Self.make(offsets: [2, 1]), shapes: [[2, 3, 7, 6], [1, 1, 4, 3]], checkBottoms: [0])
        try StructuralReference.gradientCheck(Self.make(axis: 1, offsets: [1]), shapes: [[2, 4, 5, 5], [2, 2, 3, 3]], checkBottoms: [0])
        try StructuralReference.gradientCheck(Self.make(axis: 0), shapes: [[3, 4], [2, 2]], checkBottoms: [0])
    }

    @Test func errors() throws {
        StructuralReference.expectError("out-of-bounds") {
            try Self.make(offsets: [3])().setUp(bottom: [Blob(shape: [1, 1, 5, 5]), Blob(shape: [1, 1, 3, 3])], top: [Blob()])
        }
        StructuralReference.expectError("number of offset values") {
            try Self.make(offsets: [1, 1, 1])().setUp(bottom: [Blob(shape: [1, 1, 5, 5]), Blob(shape: [1, 1, 3, 3])], top: [Blob()])
        }
        StructuralReference.expectError("different numbers of axes") {
            try Self.make()().setUp(bottom: [Blob(shape: [1, 1, 5, 5]), Blob(shape: [1, 3, 3])], top: [Blob()])
        }
        #expect(try Self.make()().meanField == .identity(approximate: true))
    }
}
