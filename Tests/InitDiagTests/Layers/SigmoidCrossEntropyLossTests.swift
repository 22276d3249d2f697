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

@Suite struct SigmoidCrossEntropyLossLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(_ mode: LossParameter.NormalizationMode? = nil, normalize: Bool? = nil, ignore: Int32? = nil) throws -> SigmoidCrossEntropyLossLayer {
        try SigmoidCrossEntropyLossLayer(param: Kit.param("SigmoidCrossEntropyLoss") { p in
            var l = LossParameter(); l.normalization = mode; l.normalize = normalize; l.ignoreLabel = ignore
            p.lossParam = l
        }, context: Kit.context())
    }

    struct Config: Sendable, CustomTestStringConvertible {
        var shape: [Int], mode: LossParameter.NormalizationMode?, normalize: Bool?, ignore: Int32?
        var testDescription: String { "\(shape) \(mode?.rawValue ?? "-") normalize \(normalize.map(String.init) ?? "-") ignore \(ignore.map(String.init) ?? "-")" }
    }
    static let configs = [
        Config(shape: [2, 5], mode: nil, normalize: nil, ignore: nil),
        Config(shape: [3, 2, 2], mode: .VALID, normalize: nil, ignore: -1),
        Config(shape: [4, 3], mode: .FULL, normalize: nil, ignore: nil),
        Config(shape: [2, 3, 1, 2], mode: .NONE, normalize: nil, ignore: 1),
        Config(shape: [3, 4], mode: nil, normalize: true, ignore: -1),
    ]

    /// Targets: real values in [0, 1], some exactly 0/1, and every fifth the ignore label.
    func targets(_ shape: [Int], ignore: Int32?) -> Blob {
        let t = Kit.blob(shape, seed: 9, 0, 1)
        for i in 0..<t.count {
            if i % 3 == 1 { t.data[i] = Float(i % 2) }
            if let ignore, i % 5 == 2 { t.data[i] = Float(ignore) }
        }
        return t
    }

    @Test(arguments: configs)
    func gradient(c: Config) throws {
        let layer = try make(c.mode, normalize: c.normalize, ignore: c.ignore)
        let x = Kit.blob(c.shape, seed: 5, -4, 4), t = targets(c.shape, ignore: c.ignore), loss = Blob()
        try layer.setUp(bottom: [x, t], top: [loss])
        let n = GradientChecker().check(layer, bottom: [x, t], top: [loss], checkBottoms: [0])
        #expect(n == x.count)
    }

    @Test func defaultNormalizationIsBatchSizeAndIgnoredElementsDropOut() throws {
        // x = 0 everywhere: each counted element adds log 2.
        let x = Blob(shape: [2, 3]), loss = Blob()
        let t = Kit.blob([2, 3], values: [0, 1, 0.5, -1, 1, 0])
        let ln2: Float = 0.6931472
        let expected: [(LossParameter.NormalizationMode?, Bool?, Int32?, Float)] = [
            (nil, nil, nil, 6 * ln2 / 2),          // BATCH_SIZE: N = 2 (t = −1 is a valid target here)
            (nil, nil, -1, 5 * ln2 / 2),
            (.VALID, nil, -1, ln2),
            (.FULL, nil, -1, 5 * ln2 / 6),
            (.NONE, nil, -1, 5 * ln2),
            (nil, true, -1, ln2),
            (nil, false, -1, 5 * ln2 / 2),
        ]
        for (mode, normalize, ignore, value) in expected {
            let layer = try make(mode, normalize: normalize, ignore: ignore)
            try layer.setUp(bottom: [x, t], top: [loss])
            layer.forward(bottom: [x, t], top: [loss])
            // x = 0: the unstable (t − 1)·x term is 0 but t = −1 still adds log 2 (Caffe's formula).
            #expect(abs(loss.data[0] - value) < 1e-6, "\(String(describing: mode)) \(String(describing: normalize)) \(String(describing: ignore))")
            loss.setDiff([1])
            layer.backward(top: [loss], propagateDown: [true, false], bottom: [x, t])
            if ignore != nil { #expect(x.diff[3] == 0) }
            #expect(x.diff[0] == 0.5 / layer.lastNormalizer)
        }
    }

    @Test func stableForLargeScores() throws {
        let layer = try make()
        let x = Kit.blob([1, 4], values: [100, -100, 100, -100]), t = Kit.blob([1, 4], values: [1, 0, 0, 1]), loss = Blob()
        try layer.setUp(bottom: [x, t], top: [loss])
        layer.forward(bottom: [x, t], top: [loss])
        #expect(loss.data[0].isFinite && abs(loss.data[0] - 200) < 1e-4)
        loss.setDiff([1])
        layer.backward(top: [loss], propagateDown: [true, false], bottom: [x, t])
        #expect(x.diffArray == [0, 0, 1, -1])
    }

    @Test func countMustMatch() throws {
        do {
            try make().setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [2, 2])], top: [Blob()])
            Issue.record("expected a count error")
        } catch let e as InputError {
            #expect(e.message.contains("SigmoidCrossEntropyLoss") && e.message.contains("same count"))
        }
    }
}
