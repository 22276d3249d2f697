import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ReductionTests {
    static func make(_ op: ReductionParameter.ReductionOp, axis: Int32 = 0, coeff: Float = 1) -> () throws -> Layer {
        {
            var p = ReductionParameter()
            p.operation = op; p.axis = axis; p.coeff = coeff
            return try ReductionLayer(param: CaffeLayerTestKit.param("Reduction") { $0.reductionParam = p }, context: CaffeLayerTestKit.context())
        }
    }

    @Test(arguments: ReductionParameter.ReductionOp.allCases)
    func matchesReference(_ op: ReductionParameter.ReductionOp) throws {
        try StructuralReference.check("reduction_\(op.rawValue.lowercased())_axis1", Self.make(op, axis: 1, coeff: 0.5))
        try StructuralReference.check("reduction_\(op.rawValue.lowercased())_axis0", Self.make(op, axis: 0, coeff: 1))
    }

    @Test(arguments: ReductionParameter.ReductionOp.allCases)
    func gradients(_ op: ReductionParameter.ReductionOp) throws {
        // ASUM has a kink at 0: inputs stay away from it.
        try StructuralReference.gradientCheck(Self.make(op, axis: 1, coeff: 0.5), shapes: [[3, 4, 2]], lo: 0.1, hi: 1)
        try StructuralReference.gradientCheck(Self.make(op, axis: 0, coeff: -2), shapes: [[2, 3]], lo: -1, hi: -0.1)
        try StructuralReference.gradientCheck(Self.make(op, axis: -1, coeff: 1.5), shapes: [[2, 2, 3]], lo: 0.2, hi: 2)
    }

    @Test func shapes() throws {
        let t = Blob()
        try Self.make(.SUM)().setUp(bottom: [Blob(shape: [2, 3])], top: [t])
        #expect(t.shape == [] && t.count == 1)
        try Self.make(.MEAN, axis: -1)().setUp(bottom: [Blob(shape: [2, 3, 4])], top: [t])
        #expect(t.shape == [2, 3])
        StructuralReference.expectError("out of range") { try Self.make(.SUM, axis: 3)().setUp(bottom: [Blob(shape: [2, 3])], top: [Blob()]) }
    }

    @Test func enumNumbers() throws {
        #expect(ReductionParameter.ReductionOp.SUM.protoNumber == 1 && ReductionParameter.ReductionOp.MEAN.protoNumber == 4)
        let net = try Prototxt.parseNet("layer { name: \"r\" type: \"Reduction\" reduction_param { operation: 3 axis: 1 } }", path: "r.prototxt")
        #expect(net.layer[0].reductionParam?.operation == .SUMSQ)
        StructuralReference.expectError("ReductionOp") {
            _ = try Prototxt.parseNet("layer { name: \"r\" type: \"Reduction\" reduction_param { operation: 0 } }", path: "r.prototxt")
        }
    }
}
