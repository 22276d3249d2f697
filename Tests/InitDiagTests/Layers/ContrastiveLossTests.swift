import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ContrastiveLossLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(margin: Float? = nil, legacy: Bool? = nil) throws -> ContrastiveLossLayer {
        try ContrastiveLossLayer(param: Kit.param("ContrastiveLoss") { p in
            if margin != nil || legacy != nil {
                var c = ContrastiveLossParameter()
                if let margin { c.margin = margin }
                if let legacy { c.legacyVersion = legacy }
                p.contrastiveLossParam = c
            }
        }, context: Kit.context())
    }

    struct Config: Sendable, CustomTestStringConvertible {
        var shape: [Int], margin: Float?, legacy: Bool?
        var testDescription: String { "\(shape) margin \(margin.map { "\($0)" } ?? "-") legacy \(legacy.map(String.init) ?? "-")" }
    }
    static let configs = [
        Config(shape: [6, 3], margin: nil, legacy: nil),
        Config(shape: [5, 4, 1, 1], margin: 2, legacy: true),
        Config(shape: [6, 2], margin: 0.9, legacy: false),
    ]

    @Test(arguments: configs)
    func gradient(c: Config) throws {
        let layer = try make(margin: c.margin, legacy: c.legacy)
        let n = c.shape[0]
        let a = Kit.blob(c.shape, seed: 21, -0.25, 0.25), b = Kit.blob(c.shape, seed: 22, -0.25, 0.25), loss = Blob()
        let y = Kit.blob([n], values: (0..<n).map { Float($0 % 2) })
        try layer.setUp(bottom: [a, b, y], top: [loss])
        // Keep dissimilar pairs off the hinge (margin − d or margin − d² within 0.05 of 0).
        layer.forward(bottom: [a, b, y], top: [loss])
        let margin = c.margin ?? 1
        for i in 0..<n where i % 2 == 0 {
            var dsq: Float = 0
            for k in 0..<a.count / n { let d = a.data[i * a.count / n + k] - b.data[i * a.count / n + k]; dsq += d * d }
            let m = (c.legacy ?? false) ? margin - dsq : margin - dsq.squareRoot()
            #expect(abs(m) > 0.05, "pair \(i) sits on the hinge; pick other inputs")
        }
        let checked = GradientChecker().check(layer, bottom: [a, b, y], top: [loss], checkBottoms: [0, 1])
        #expect(checked == 2 * a.count)
    }

    @Test func valuesOfBothVersions() throws {
        // Pair 0 similar with d² = 0.25; pair 1 dissimilar with d = 0.5; pair 2 dissimilar, d = 2.
        let a = Kit.blob([3, 2], values: [0.5, 0, 0.3, 0.4, 2, 0]), b = Blob(shape: [3, 2])
        let y = Kit.blob([3], values: [1, 0, 0]), loss = Blob()
        let current = try make()
        try current.setUp(bottom: [a, b, y], top: [loss])
        current.forward(bottom: [a, b, y], top: [loss])
        // (0.25 + (1 − 0.5)² + 0) / (2·3)
        #expect(abs(loss.data[0] - 0.5 / 6) < 1e-7)
        let legacy = try make(legacy: true)
        try legacy.setUp(bottom: [a, b, y], top: [loss])
        legacy.forward(bottom: [a, b, y], top: [loss])
        // (0.25 + (1 − 0.25) + 0) / 6
        #expect(abs(loss.data[0] - 1.0 / 6) < 1e-7)
        // Dissimilar beyond the margin: zero gradient; the label takes none.
        loss.setDiff([1])
        legacy.backward(top: [loss], propagateDown: [true, true, false], bottom: [a, b, y])
        #expect(a.diff[4] == 0 && a.diff[5] == 0)
        #expect(!legacy.allowForceBackward(bottomIndex: 2) && legacy.allowForceBackward(bottomIndex: 1))
    }

    @Test func shapeChecks() throws {
        let y = Blob(shape: [2])
        #expect(throws: InputError.self) { try make().setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [2, 4]), y], top: [Blob()]) }
        #expect(throws: InputError.self) { try make().setUp(bottom: [Blob(shape: [2, 3, 2, 1]), Blob(shape: [2, 3, 2, 1]), y], top: [Blob()]) }
        #expect(throws: InputError.self) { try make().setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [2, 3]), Blob(shape: [2, 2])], top: [Blob()]) }
    }

    @Test func nonFiniteSimilarityIsReported() throws {
        let layer = try make()
        let a = Kit.blob([2, 2]), b = Kit.blob([2, 2], seed: 3), y = Kit.blob([2], values: [1, .nan]), loss = Blob()
        try layer.setUp(bottom: [a, b, y], top: [loss])
        layer.forward(bottom: [a, b, y], top: [loss])
        let message = try #require(layer.labelError).message
        #expect(message.contains("ContrastiveLoss") && message.contains("position 1"))
    }
}
