import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct SoftmaxWithLossLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(_ mode: LossParameter.NormalizationMode? = nil, normalize: Bool? = nil, ignore: Int32? = nil,
              lossWeights: [Float] = []) throws -> SoftmaxWithLossLayer {
        try SoftmaxWithLossLayer(param: Kit.param("SoftmaxWithLoss") { p in
            var l = LossParameter(); l.normalization = mode; l.normalize = normalize; l.ignoreLabel = ignore
            p.lossParam = l
            p.lossWeight = lossWeights
        }, context: Kit.context())
    }

    struct Mode: Sendable, CustomTestStringConvertible {
        var mode: LossParameter.NormalizationMode?, normalize: Bool?
        var testDescription: String { "\(mode?.rawValue ?? "-") normalize \(normalize.map(String.init) ?? "-")" }
    }
    static let modes = [Mode(mode: .FULL), Mode(mode: .VALID), Mode(mode: .BATCH_SIZE), Mode(mode: .NONE),
                        Mode(mode: nil, normalize: true), Mode(mode: nil, normalize: false), Mode(mode: nil)]

    /// (N = 2, C = 4, H = 3) with labels per (n, h); label 2 is ignored when ignore_label is set.
    func labels() -> Blob { Kit.blob([2, 1, 3], values: [0, 2, 3, 1, 2, 2]) }

    @Test(arguments: modes, [false, true])
    func gradient(m: Mode, ignore: Bool) throws {
        let layer = try make(m.mode, normalize: m.normalize, ignore: ignore ? 2 : nil)
        let x = Kit.blob([2, 4, 3], seed: 51, -2, 2), loss = Blob()
        let lab = labels()
        try layer.setUp(bottom: [x, lab], top: [loss])
        #expect(loss.shape == [] && loss.count == 1)
        // The checker puts a random weight into top[0].diff[0]; the layer reads it as the loss
        // weight, so the analytic gradient is d(weight·loss)/dx.
        let n = GradientChecker().check(layer, bottom: [x, lab], top: [loss], checkBottoms: [0])
        #expect(n == x.count)
        #expect(layer.labelError == nil)
    }

    @Test func uniformLogitsGiveLnC() throws {
        let layer = try make()
        let x = Blob(shape: [8, 10]), loss = Blob()
        let lab = Kit.blob([8], values: [0, 1, 2, 3, 4, 5, 6, 9])
        try layer.setUp(bottom: [x, lab], top: [loss])
        layer.forward(bottom: [x, lab], top: [loss])
        #expect(abs(loss.data[0] - 2.302585) < 1e-6)
    }

    @Test func normalisersWithIgnoredPosition() throws {
        // N = 2 images, 2 positions each, C = 10, uniform logits: each counted position adds ln 10.
        // Position 3 carries the ignore label 255: 3 counted positions of 4.
        let ln10: Float = 2.3025851
        let expected: [(LossParameter.NormalizationMode?, Bool?, Float)] = [
            (.FULL, nil, 3 * ln10 / 4), (.VALID, nil, ln10), (.BATCH_SIZE, nil, 3 * ln10 / 2),
            (.NONE, nil, 3 * ln10), (nil, true, ln10), (nil, false, 3 * ln10 / 2), (nil, nil, ln10),
        ]
        for (mode, normalize, value) in expected {
            let layer = try make(mode, normalize: normalize, ignore: 255)
            let x = Blob(shape: [2, 10, 2]), loss = Blob()
            let lab = Kit.blob([2, 2], values: [3, 7, 0, 255])
            try layer.setUp(bottom: [x, lab], top: [loss])
            layer.forward(bottom: [x, lab], top: [loss])
            #expect(abs(loss.data[0] - value) < 1e-5, "\(String(describing: mode)) \(String(describing: normalize))")
            // Gradient of the ignored position is zero; the others get (p − onehot)·w/norm.
            loss.setDiff([2])
            layer.backward(top: [loss], propagateDown: [true, false], bottom: [x, lab])
            let norm = layer.normalizer(validCount: 3)
            #expect(x.diff[0 * 20 + 3 * 2 + 0] == (0.1 - 1) * (2 / norm))
            #expect(x.diff[0 * 20 + 5 * 2 + 0] == 0.1 * (2 / norm))
            for c in 0..<10 { #expect(x.diff[20 + c * 2 + 1] == 0) }
        }
    }

    @Test func allIgnoredClampsNormaliserToOne() throws {
        let layer = try make(.VALID, ignore: -1)
        let x = Kit.blob([2, 3]), loss = Blob(), lab = Kit.blob([2], values: [-1, -1])
        try layer.setUp(bottom: [x, lab], top: [loss])
        layer.forward(bottom: [x, lab], top: [loss])
        #expect(loss.data[0] == 0)
        #expect(layer.normalizer(validCount: 0) == 1)
    }

    @Test func probabilityFloorIsFLTMin() throws {
        // p[label] underflows to 0: loss = −log(FLT_MIN) = 87.336544.
        let layer = try make()
        let x = Kit.blob([1, 2], values: [0, 200]), loss = Blob(), lab = Kit.blob([1], values: [0])
        try layer.setUp(bottom: [x, lab], top: [loss])
        layer.forward(bottom: [x, lab], top: [loss])
        #expect(abs(loss.data[0] - 87.336544) < 1e-4)
    }

    @Test func labelsAreTruncatedAndInvalidLabelsReported() throws {
        let layer = try make(.NONE)
        let x = Blob(shape: [4, 3]), loss = Blob()
        let lab = Kit.blob([4], values: [2.9, 0.5, 3, .nan])
        try layer.setUp(bottom: [x, lab], top: [loss])
        layer.forward(bottom: [x, lab], top: [loss])
        // 2.9 → 2 and 0.5 → 0 count; 3 (≥ C) and NaN are skipped and reported.
        #expect(abs(loss.data[0] - 2 * logf(3)) < 1e-5)
        let message = try #require(layer.labelError).message
        #expect(message.contains("layer") && message.contains("label 3") && message.contains("[0, 3)"))
        lab.setData([0, 1, 2, 0])
        layer.forward(bottom: [x, lab], top: [loss])
        #expect(layer.labelError == nil)
    }

    @Test func secondTopIsProbabilitiesAndNeedsTwoLossWeights() throws {
        let x = Kit.blob([2, 3], values: [0, 0, 0, 1, 2, 3]), lab = Kit.blob([2], values: [0, 2])
        #expect(throws: InputError.self) { try make().setUp(bottom: [x, lab], top: [Blob(), Blob()]) }
        let layer = try make(lossWeights: [1, 0])
        let loss = Blob(), prob = Blob()
        try layer.setUp(bottom: [x, lab], top: [loss, prob])
        layer.forward(bottom: [x, lab], top: [loss, prob])
        #expect(prob.shape == [2, 3])
        #expect(abs(prob.data[0] - 1.0 / 3) < 1e-6)
        #expect(prob.dataArray == layer.probabilities.dataArray)
    }

    @Test func shapeChecksAndLabelGradientRules() throws {
        let layer = try make()
        #expect(SoftmaxWithLossLayer.isLoss)
        #expect(layer.allowForceBackward(bottomIndex: 0) && !layer.allowForceBackward(bottomIndex: 1))
        do {
            try layer.setUp(bottom: [Blob(shape: [2, 3, 4]), Blob(shape: [2, 3])], top: [Blob()])
            Issue.record("expected a label count error")
        } catch let e as InputError {
            #expect(e.message.contains("2×3×4") && e.message.contains("2×3"))
        }
        #expect(throws: InputError.self) {
            try layer.setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [3])], top: [Blob()])
        }
    }
}

