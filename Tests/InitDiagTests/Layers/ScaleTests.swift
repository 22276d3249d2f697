import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct ScaleLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(axis: Int32 = 1, numAxes: Int32 = 1, bias: Bool = false) throws -> ScaleLayer {
        try ScaleLayer(param: Kit.param("Scale") { p in
            var s = ScaleParameter(); s.axis = axis; s.numAxes = numAxes; s.biasTerm = bias; p.scaleParam = s
        }, context: Kit.context())
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var shape: [Int], axis: Int32, numAxes: Int32, gammaShape: [Int]
        var testDescription: String { "\(shape) axis \(axis) num_axes \(numAxes)" }
    }

    static let cases: [Case] = [
        Case(shape: [2, 3, 4, 5], axis: 1, numAxes: 1, gammaShape: [3]),      // per channel
        Case(shape: [2, 3, 4, 5], axis: 1, numAxes: 0, gammaShape: []),       // scalar
        Case(shape: [2, 3, 4, 5], axis: 1, numAxes: 2, gammaShape: [3, 4]),
        Case(shape: [2, 3, 4], axis: 0, numAxes: 1, gammaShape: [2]),         // axis 0 (outer 1)
        Case(shape: [2, 3, 4], axis: -1, numAxes: -1, gammaShape: [4]),       // to the end, inner 1
        Case(shape: [4, 6], axis: 1, numAxes: 1, gammaShape: [6]),            // 2-D
        Case(shape: [2, 3], axis: 0, numAxes: -1, gammaShape: [2, 3]),        // elementwise γ
    ]

    @Test(arguments: cases, [false, true])
    func gradientWithLearnedScale(c: Case, bias: Bool) throws {
        let layer = try make(axis: c.axis, numAxes: c.numAxes, bias: bias)
        let x = Kit.blob(c.shape, seed: 21), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        #expect(layer.blobs.count == (bias ? 2 : 1))
        #expect(layer.blobs.allSatisfy { $0.shape == c.gammaShape })
        fillUniform(layer.blobs[0], 0.5, 1.5, seed: 22)
        if bias { fillUniform(layer.blobs[1], -1, 1, seed: 23) }
        let n = GradientChecker().check(layer, bottom: [x], top: [y])
        #expect(n == x.count + layer.blobs.reduce(0) { $0 + $1.count })
    }

    @Test(arguments: [false, true])
    func gradientWithScaleFromSecondBottom(bias: Bool) throws {
        let layer = try make(axis: 1, numAxes: 1, bias: bias)
        let x = Kit.blob([2, 3, 4], seed: 24), gamma = Kit.blob([3, 4], seed: 25, 0.5, 1.5), y = Blob()
        try layer.setUp(bottom: [x, gamma], top: [y])
        // Two bottoms: blobs hold only β (Caffe's bias_param_id_ = 0).
        #expect(layer.blobs.count == (bias ? 1 : 0))
        if bias { #expect(layer.blobs[0].shape == [3, 4]); fillUniform(layer.blobs[0], seed: 26) }
        let n = GradientChecker().check(layer, bottom: [x, gamma], top: [y])
        #expect(n == x.count + gamma.count + (bias ? 12 : 0))
    }

    @Test func forwardValues() throws {
        let layer = try make(bias: true)
        let x = Kit.blob([1, 2, 2], values: [1, 2, 3, 4]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.blobs[0].setData([2, -1])
        layer.blobs[1].setData([0.5, 10])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [2.5, 4.5, 7, 6])
    }

    @Test func gammaDiffAccumulationFollowsCaffe() throws {
        // Outer > 1: a learned γ accumulates its diff over two backward passes.
        let perChannel = try make()
        let x = Kit.blob([2, 3, 4], seed: 1), y = Blob()
        try perChannel.setUp(bottom: [x], top: [y])
        perChannel.blobs[0].setData([1, 1, 1])
        perChannel.forward(bottom: [x], top: [y])
        y.setDiff(Array(repeating: 1, count: y.count))
        perChannel.blobs[0].zeroDiff()
        perChannel.backward(top: [y], propagateDown: [true], bottom: [x])
        let once = perChannel.blobs[0].diffArray
        perChannel.backward(top: [y], propagateDown: [true], bottom: [x])
        #expect(perChannel.blobs[0].diffArray == once.map { $0 + $0 })
        // Outer = 1 with inner > 1 and several γ (axis 0): Caffe writes the γ diff directly.
        let axis0 = try make(axis: 0)
        try axis0.setUp(bottom: [x], top: [y])
        axis0.blobs[0].setData([1, 1])
        axis0.forward(bottom: [x], top: [y])
        axis0.blobs[0].zeroDiff()
        axis0.backward(top: [y], propagateDown: [true], bottom: [x])
        let first = axis0.blobs[0].diffArray
        axis0.backward(top: [y], propagateDown: [true], bottom: [x])
        #expect(axis0.blobs[0].diffArray == first)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        try Kit.expectInPlaceMatches({ try make(bias: true) }, shape: [2, 3, 4]) { layer in
            layer.blobs[0].setData([0.5, -2, 3])
            layer.blobs[1].setData([1, 2, 3])
        }
    }

    @Test func shapeErrorsNameBothShapes() throws {
        let layer = try make()
        let x = Blob(shape: [2, 3, 4]), gamma = Blob(shape: [4]), y = Blob()
        do {
            try layer.setUp(bottom: [x, gamma], top: [y])
            Issue.record("expected a shape error")
        } catch let e as InputError {
            #expect(e.message.contains("2×3×4") && e.message.contains("4") && e.message.contains("layer"))
        }
        let tooMany = try make(axis: 1, numAxes: 3)
        #expect(throws: InputError.self) { try tooMany.setUp(bottom: [x], top: [y]) }
        #expect(throws: InputError.self) { try make(numAxes: -2) }
        let badAxis = try make(axis: 3)
        #expect(throws: InputError.self) { try badAxis.setUp(bottom: [x], top: [y]) }
    }
}
