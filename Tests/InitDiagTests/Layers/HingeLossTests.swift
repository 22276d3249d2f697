import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct HingeLossLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(_ norm: HingeLossParameter.Norm? = nil) throws -> HingeLossLayer {
        try HingeLossLayer(param: Kit.param("HingeLoss") { p in
            if let norm { var h = HingeLossParameter(); h.norm = norm; p.hingeLossParam = h }
        }, context: Kit.context())
    }

    struct Config: Sendable, CustomTestStringConvertible {
        var shape: [Int], norm: HingeLossParameter.Norm?
        var testDescription: String { "\(shape) \(norm?.rawValue ?? "default")" }
    }
    static let configs = [
        Config(shape: [4, 3], norm: nil), Config(shape: [3, 5], norm: .L2),
        Config(shape: [2, 3, 2, 1], norm: .L1), Config(shape: [5, 2], norm: .L2),
    ]

    @Test(arguments: configs)
    func gradient(c: Config) throws {
        let layer = try make(c.norm)
        let x = Kit.blob(c.shape, seed: 31, -2, 2), loss = Blob()
        let n = c.shape[0], dim = x.count / n
        let labels = Kit.blob([n], values: (0..<n).map { Float(($0 * 2 + 1) % dim) })
        try layer.setUp(bottom: [x, labels], top: [loss])
        let step: Float = 1e-2
        // The hinge max(0, 1 ± x) has its kink at |x| = 1.
        let checked = GradientChecker(step: step).check(layer, bottom: [x, labels], top: [loss], checkBottoms: [0],
                                                        isKink: { b, i in abs(abs(b.data[i]) - 1) < 2 * step })
        #expect(checked > x.count / 2)
    }

    @Test func oneVersusAllValue() throws {
        // Sample 0: label 1, scores (0.5, 2, −3): max(0, 1.5) + max(0, 1 − 2) + max(0, −2) = 1.5.
        // Sample 1: label 0, scores (0, 0, 0.5): 1 + 1 + 1.5 = 3.5.  L1: (1.5 + 3.5)/2 = 2.5.
        let x = Kit.blob([2, 3], values: [0.5, 2, -3, 0, 0, 0.5]), labels = Kit.blob([2], values: [1, 0]), loss = Blob()
        let l1 = try make()
        try l1.setUp(bottom: [x, labels], top: [loss])
        l1.forward(bottom: [x, labels], top: [loss])
        #expect(loss.data[0] == 2.5)
        loss.setDiff([2])
        l1.backward(top: [loss], propagateDown: [true, false], bottom: [x, labels])
        #expect(x.diffArray == [1, 0, 0, -1, 1, 1])
        let l2 = try make(.L2)
        try l2.setUp(bottom: [x, labels], top: [loss])
        l2.forward(bottom: [x, labels], top: [loss])
        // (1.5² + 1 + 1 + 1.5²)/2 = 3.25
        #expect(loss.data[0] == 3.25)
    }

    @Test func badLabelIsReported() throws {
        let layer = try make()
        let x = Kit.blob([2, 3]), labels = Kit.blob([2], values: [0, 3]), loss = Blob()
        try layer.setUp(bottom: [x, labels], top: [loss])
        layer.forward(bottom: [x, labels], top: [loss])
        let message = try #require(layer.labelError).message
        #expect(message.contains("label 3") && message.contains("[0, 3)"))
    }
}
