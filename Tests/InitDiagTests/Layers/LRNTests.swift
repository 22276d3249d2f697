import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct LRNTests {
    static func make(size: UInt32 = 5, alpha: Float = 1, beta: Float = 0.75, k: Float = 1,
                     within: Bool = false) -> () throws -> Layer {
        {
            var p = LRNParameter()
            p.localSize = size; p.alpha = alpha; p.beta = beta; p.k = k
            p.normRegion = within ? .WITHIN_CHANNEL : .ACROSS_CHANNELS
            return try LRNLayer(param: CaffeLayerTestKit.param("LRN") { $0.lrnParam = p }, context: CaffeLayerTestKit.context())
        }
    }

    @Test func acrossChannelsMatchesTorch() throws {
        try StructuralReference.check("lrn_across_default", Self.make())
        try StructuralReference.check("lrn_across_alexnet", Self.make(size: 5, alpha: 1, beta: 0.75, k: 2))
        try StructuralReference.check("lrn_across_size3", Self.make(size: 3, alpha: 0.5, beta: 1.3, k: 1.5))
        try StructuralReference.check("lrn_across_size7_few_channels", Self.make(size: 7, alpha: 2, beta: 0.6, k: 0.8))
    }

    @Test func withinChannelMatchesReference() throws {
        try StructuralReference.check("lrn_within_cifar", Self.make(size: 3, alpha: 0.5, beta: 0.75, within: true))
        try StructuralReference.check("lrn_within_size5", Self.make(size: 5, alpha: 1, beta: 0.75, within: true))
        try StructuralReference.check("lrn_within_size1", Self.make(size: 1, alpha: 0.7, beta: 0.5, within: true))
    }

    @Test func gradients() throws {
        let c = GradientChecker(step: 1e-3, relativeTolerance: 1e-2, absoluteTolerance: 1e-3)
        try StructuralReference.gradientCheck(Self.make(), shapes: [[2, 7, 3, 2]], lo: -2, hi: 2, checker: c)
        try StructuralReference.gradientCheck(Self.make(size: 3, alpha: 2, beta: 1.2, k: 1.5), shapes: [[2, 4, 2, 3]], lo: -2, hi: 2, checker: c)
        try StructuralReference.gradientCheck(Self.make(size: 7, alpha: 0.5, beta: 0.75, k: 1), shapes: [[1, 3, 2, 2]], lo: -2, hi: 2, checker: c)
        try StructuralReference.gradientCheck(Self.make(size: 3, alpha: 1, beta: 0.75, within: true), shapes: [[2, 2, 4, 3]], lo: -2, hi: 2, checker: c)
        try StructuralReference.gradientCheck(Self.make(size: 5, alpha: 2, beta: 0.5, within: true), shapes: [[1, 2, 5, 6]], lo: -2, hi: 2, checker: c)
        try StructuralReference.gradientCheck(Self.make(size: 1, alpha: 0.5, beta: 1, within: true), shapes: [[1, 3, 2, 2]], lo: -2, hi: 2, checker: c)
    }

    @Test func parameterAndShapeErrors() throws {
        StructuralReference.expectError("odd values for local_size") { _ = try Self.make(size: 4)() }
        let layer = try Self.make()()
        StructuralReference.expectError("4 axes") { try layer.setUp(bottom: [Blob(shape: [2, 3])], top: [Blob()]) }
        let b = Blob(shape: [1, 3, 2, 2])
        StructuralReference.expectError("in place") { try layer.setUp(bottom: [b], top: [b]) }
    }

    @Test func traits() throws {
        #expect(LRNLayer.role == .normalization)
        #expect(try Self.make()().meanField == .restart)
    }
}
