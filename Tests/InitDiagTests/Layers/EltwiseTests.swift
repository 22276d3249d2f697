import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct EltwiseLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(_ op: EltwiseParameter.EltwiseOp, coeff: [Float] = [], stable: Bool = true) throws -> EltwiseLayer {
        try EltwiseLayer(param: Kit.param("Eltwise") { p in
            var e = EltwiseParameter(); e.operation = op; e.coeff = coeff; e.stableProdGrad = stable; p.eltwiseParam = e
        }, context: Kit.context())
    }

    func bottoms(_ k: Int, _ shape: [Int], lo: Float = -1, hi: Float = 1) -> [Blob] {
        (0..<k).map { Kit.blob(shape, seed: UInt32(60 + $0), lo, hi, name: "b\($0)") }
    }

    @Test(arguments: [[Float](), [1, -2, 0.5]])
    func gradientSum(coeff: [Float]) throws {
        let layer = try make(.SUM, coeff: coeff)
        let b = bottoms(3, [2, 3, 4]), y = Blob()
        try layer.setUp(bottom: b, top: [y])
        #expect(GradientChecker().check(layer, bottom: b, top: [y]) == 3 * 24)
    }

    @Test(arguments: [true, false])
    func gradientProd(stable: Bool) throws {
        let layer = try make(.PROD, stable: stable)
        // Inputs away from 0 so that y/x (unstable mode) is well conditioned.
        let b = bottoms(3, [3, 5], lo: 0.5, hi: 1.5), y = Blob()
        b[1].data[2] = -0.75
        try layer.setUp(bottom: b, top: [y])
        #expect(GradientChecker().check(layer, bottom: b, top: [y]) == 3 * 15)
    }

    @Test func gradientMax() throws {
        let layer = try make(.MAX)
        let b = bottoms(3, [4, 6]), y = Blob()
        try layer.setUp(bottom: b, top: [y])
        let step = GradientChecker().step
        // Skip elements where two bottoms are within two steps: the max switches there.
        let n = GradientChecker().check(layer, bottom: b, top: [y]) { _, i in
            for p in 0..<3 { for q in (p + 1)..<3 where abs(b[p].data[i] - b[q].data[i]) < 2 * step { return true } }
            return false
        }
        #expect(n > 3 * 24 / 2)
    }

    @Test func forwardValuesAndMaxTies() throws {
        let a = Kit.blob([4], values: [1, 2, 3, 4]), b = Kit.blob([4], values: [1, 5, -3, 0]), c = Kit.blob([4], values: [1, 5, 0, 9])
        let y = Blob()
        let sum = try make(.SUM, coeff: [1, -1, 2])
        try sum.setUp(bottom: [a, b, c], top: [y])
        sum.forward(bottom: [a, b, c], top: [y])
        #expect(y.dataArray == [2, 7, 6, 22])
        let prod = try make(.PROD)
        try prod.setUp(bottom: [a, b, c], top: [y])
        prod.forward(bottom: [a, b, c], top: [y])
        #expect(y.dataArray == [1, 50, 0, 0])
        let mx = try make(.MAX)
        try mx.setUp(bottom: [a, b, c], top: [y])
        mx.forward(bottom: [a, b, c], top: [y])
        #expect(y.dataArray == [1, 5, 3, 9])
        // Element 0 ties everywhere: bottom 1 wins the a/b tie, bottom 2 is not strictly greater.
        // Element 1: b = c = 5: b keeps it.
        y.setDiff([10, 20, 30, 40])
        mx.backward(top: [y], propagateDown: [true, true, true], bottom: [a, b, c])
        #expect(a.diffArray == [0, 0, 30, 0])
        #expect(b.diffArray == [10, 20, 0, 0])
        #expect(c.diffArray == [0, 0, 0, 40])
        // Unstable PROD gradient divides: y/x with x = 0 gives NaN (Caffe's caffe_div), stable
        // mode multiplies the others.
        let stable = try make(.PROD), unstable = try make(.PROD, stable: false)
        try stable.setUp(bottom: [a, b, c], top: [y]); stable.forward(bottom: [a, b, c], top: [y])
        y.setDiff([1, 1, 1, 1])
        stable.backward(top: [y], propagateDown: [false, false, true], bottom: [a, b, c])
        #expect(c.diffArray == [1, 10, -9, 0])
        try unstable.setUp(bottom: [a, b, c], top: [y]); unstable.forward(bottom: [a, b, c], top: [y])
        unstable.backward(top: [y], propagateDown: [false, false, true], bottom: [a, b, c])
        #expect(c.diff[2].isNaN)
    }

    @Test func parameterAndShapeErrors() throws {
        #expect(throws: InputError.self) { try make(.PROD, coeff: [1, 2]) }
        let layer = try make(.SUM, coeff: [1, 2, 3])
        #expect(throws: InputError.self) { try layer.setUp(bottom: bottoms(2, [3]), top: [Blob()]) }
        let sum = try make(.SUM)
        do {
            try sum.setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [3, 2])], top: [Blob()])
            Issue.record("expected a shape error")
        } catch let e as InputError {
            #expect(e.message.contains("2×3") && e.message.contains("3×2") && e.message.contains("'layer'"))
        }
    }
}
