import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct MVNTests {
    static func make(normalizeVariance: Bool = true, acrossChannels: Bool = false, eps: Float = 1e-9) -> () throws -> Layer {
        {
            var p = MVNParameter()
            p.normalizeVariance = normalizeVariance; p.acrossChannels = acrossChannels; p.eps = eps
            return try MVNLayer(param: CaffeLayerTestKit.param("MVN") { $0.mvnParam = p }, context: CaffeLayerTestKit.context())
        }
    }

    @Test func matchesReference() throws {
        try StructuralReference.check("mvn_default", Self.make())
        try StructuralReference.check("mvn_across", Self.make(acrossChannels: true))
        try StructuralReference.check("mvn_mean_only", Self.make(normalizeVariance: false))
    }

    @Test func gradients() throws {
        let c = GradientChecker(step: 1e-3, relativeTolerance: 1e-2, absoluteTolerance: 2e-3)
        try StructuralReference.gradientCheck(Self.make(), shapes: [[2, 3, 2, 3]], lo: -2, hi: 2, checker: c)
        try StructuralReference.gradientCheck(Self.make(acrossChannels: true), shapes: [[2, 2, 2, 2]], lo: -2, hi: 2, checker: c)
        try StructuralReference.gradientCheck(Self.make(normalizeVariance: false), shapes: [[2, 2, 3]], checker: c)
    }

    @Test func inPlace() throws {
        try CaffeLayerTestKit.expectInPlaceMatches(Self.make(), shape: [2, 3, 4, 2])
        try CaffeLayerTestKit.expectInPlaceMatches(Self.make(normalizeVariance: false, acrossChannels: true), shape: [2, 3, 2, 2])
    }

    @Test func statistics() throws {
        let layer = try Self.make()()
        let b = CaffeLayerTestKit.blob([2, 3, 4, 5], seed: 3, -2, 5), t = Blob()
        try layer.setUp(bottom: [b], top: [t])
        layer.forward(bottom: [b], top: [t])
        let y = t.dataArray
        for row in 0..<6 {
            let r = y[(row * 20)..<(row * 20 + 20)].map(Double.init)
            let mean = r.reduce(0, +) / 20, variance = r.reduce(0) { $0 + $1 * $1 } / 20 - mean * mean
            #expect(abs(mean) < 1e-6 && abs(variance - 1) < 1e-5)
        }
        #expect(MVNLayer.role == .normalization && layer.meanField == .restart)
        StructuralReference.expectError("more than 4 axes") { try Self.make()().setUp(bottom: [Blob(shape: [1, 2, 1, 2, 2])], top: [Blob()]) }
        // A 2-D bottom (N, C): rows are its N·C single values (Caffe's legacy num() and channels()).
        let flat = try Self.make(normalizeVariance: false)()
        let x = CaffeLayerTestKit.blob([2, 3], values: [1, 2, 3, 4, 5, 6]), out = Blob()
        try flat.setUp(bottom: [x], top: [out])
        flat.forward(bottom: [x], top: [out])
        #expect(out.dataArray == [0, 0, 0, 0, 0, 0])
        let across = try Self.make(normalizeVariance: false, acrossChannels: true)()
        try across.setUp(bottom: [x], top: [out])
        across.forward(bottom: [x], top: [out])
        #expect(out.dataArray == [-1, 0, 1, -1, 0, 1])
    }
}
