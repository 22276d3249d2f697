import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct DropoutLayerTests {
    typealias Kit = CaffeLayerTestKit

    func param(_ ratio: Float) -> LayerParameter {
        Kit.param("Dropout") { p in var d = DropoutParameter(); d.dropoutRatio = ratio; p.dropoutParam = d }
    }

    @Test func testPhaseIsIdentity() throws {
        let ctx = Kit.context(.TEST, seed: 3)
        let layer = try DropoutLayer(param: param(0.5), context: ctx)
        let x = Kit.blob([4, 5]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == x.dataArray)
        let dy = (0..<20).map { Float($0) - 7 }
        y.setDiff(dy)
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        #expect(x.diffArray == dy)
        // TEST draws nothing from the run generator.
        var ref = MT19937(seed: 3)
        #expect(ctx.rng.next() == ref.next())
    }

    @Test func trainScalesKeptElementsByTwo() throws {
        let layer = try DropoutLayer(param: param(0.5), context: Kit.context(.TRAIN, seed: 9))
        #expect(layer.scale == 2)
        let x = Kit.blob([10, 10], seed: 4, 0.5, 1.5), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        let mask = layer.maskArray
        for i in 0..<x.count {
            #expect(y.data[i] == (mask[i] == 1 ? x.data[i] * 2 : 0))
        }
        y.setDiff(Array(repeating: 1, count: 100))
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        for i in 0..<x.count { #expect(x.diff[i] == Float(mask[i]) * 2) }
    }

    @Test func keepRateWithinFourSigma() throws {
        let layer = try DropoutLayer(param: param(0.5), context: Kit.context(.TRAIN, seed: 2024))
        let n = 100_000
        let x = Blob(shape: [n]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        let kept = layer.maskArray.reduce(0) { $0 + Int($1) }
        // Binomial(1e5, 0.5): σ = sqrt(n·p·(1 − p)) ≈ 158.1, 4σ ≈ 632.
        let sigma = (Double(n) * 0.25).squareRoot()
        #expect(abs(Double(kept) - 50_000) <= 4 * sigma, "kept \(kept)")
    }

    @Test func maskFollowsMT19937Outputs() throws {
        // The first outputs of mt19937 with the default seed 5489 (the well-known sequence):
        // 3499211612, 581869302, 3890346734, 3586334585, 545404204, 4161255391, 3922919429,
        // 949333985. Keep iff u ≤ 0.5·(2^32 − 1) = 2147483647.5 → 0, 1, 0, 0, 1, 0, 0, 1.
        let layer = try DropoutLayer(param: param(0.5), context: Kit.context(.TRAIN, seed: 5489))
        let x = Blob(shape: [8]), y = Blob()
        x.setData([1, 1, 1, 1, 1, 1, 1, 1])
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(layer.maskArray == [0, 1, 0, 0, 1, 0, 0, 1])
        #expect(y.dataArray == [0, 2, 0, 0, 2, 0, 0, 2])
    }

    @Test func thresholdUsesDoubleKeepProbability() throws {
        // ratio 0.3 (a float): p = 1 − double(0.3f) = 0.699999988079071; threshold
        // p·(2^32 − 1) in double. Every mask bit must follow that comparison exactly.
        let ctx = Kit.context(.TRAIN, seed: 77)
        let layer = try DropoutLayer(param: param(0.3), context: ctx)
        #expect(layer.keepProbability == 1 - Double(Float(0.3)))
        #expect(layer.scale == Float(1 / (1 - Double(Float(0.3)))))
        let x = Blob(shape: [3, 7, 11]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        var ref = MT19937(seed: 77)
        let threshold = (1 - Double(Float(0.3))) * 4_294_967_295.0
        let expected: [UInt32] = (0..<x.count).map { _ in Double(ref.next()) <= threshold ? 1 : 0 }
        #expect(layer.maskArray == expected)
    }

    @Test func drawsExactlyCountOutputsPerForward() throws {
        let ctx = Kit.context(.TRAIN, seed: 123)
        let layer = try DropoutLayer(param: param(0.5), context: ctx)
        let x = Kit.blob([2, 3, 5, 7]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        var ref = MT19937(seed: 123)
        for _ in 0..<(2 * x.count) { _ = ref.next() }
        #expect(ctx.rng.next() == ref.next())
    }

    @Test(arguments: [[4, 3, 5], [6, 10], [17]])
    func gradientWithFixedMask(shape: [Int]) throws {
        // The checker runs forward many times; ReseedingLayer resets the shared generator to the
        // same seed before each forward, so every forward draws the same mask and the finite
        // differences measure the gradient of that one masked function.
        let ctx = Kit.context(.TRAIN, seed: 31)
        let inner = try DropoutLayer(param: param(0.4), context: ctx)
        let layer = ReseedingLayer(wrapping: inner, rng: ctx.rng, seed: 31)
        let x = Kit.blob(shape, seed: 5), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        let n = GradientChecker().check(layer, bottom: [x], top: [y])
        #expect(n == x.count)
        #expect(inner.maskArray.contains(0) && inner.maskArray.contains(1))
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        try Kit.expectInPlaceMatches({ try DropoutLayer(param: param(0.5), context: Kit.context(.TRAIN, seed: 8)) },
                                     shape: [3, 4, 5])
    }

    @Test(arguments: [Float(-0.1), 1, 1.5, .nan])
    func rejectsBadRatio(ratio: Float) {
        #expect(throws: InputError.self) { try DropoutLayer(param: param(ratio), context: Kit.context()) }
    }

    @Test func ratioZeroIsIdentityInTrain() throws {
        let layer = try DropoutLayer(param: param(0), context: Kit.context(.TRAIN))
        let x = Kit.blob([50]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == x.dataArray)
    }
}
