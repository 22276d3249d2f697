import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct AccuracyLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(topK: UInt32 = 1, ignore: Int32? = nil, axis: Int32 = 1) throws -> AccuracyLayer {
        try AccuracyLayer(param: Kit.param("Accuracy") { p in
            var a = AccuracyParameter(); a.topK = topK; a.ignoreLabel = ignore; a.axis = axis; p.accuracyParam = a
        }, context: Kit.context())
    }

    /// Five samples, four classes.
    /// s0: true 0 scores highest → correct at top 1.
    /// s1: true 1 ties with class 2 for the top → error at top 1 (ties count as errors), correct at top 2.
    /// s2: true 3 is second → error at top 1, correct at top 2.
    /// s3: true 2 (0.1) ties with class 3 below two others → four classes ≥: correct only at top 4.
    /// s4: all scores equal → error at top 1, 2 and 3 (four classes ≥), correct at top 4.
    let scores: [Float] = [
        0.9, 0.05, 0.03, 0.02,
        0.1, 0.4, 0.4, 0.1,
        0.1, 0.2, 0.3, 0.25,
        0.5, 0.3, 0.1, 0.1,
        0.25, 0.25, 0.25, 0.25,
    ]
    let labels: [Float] = [0, 1, 3, 2, 0]

    @Test func topOneCountsTiesAsErrors() throws {
        let layer = try make()
        let x = Kit.blob([5, 4], values: scores), lab = Kit.blob([5], values: labels), acc = Blob()
        try layer.setUp(bottom: [x, lab], top: [acc])
        layer.forward(bottom: [x, lab], top: [acc])
        #expect(acc.shape == [])
        #expect(acc.data[0] == Float(1) / 5)
    }

    @Test func topTwoAndTopFour() throws {
        let two = try make(topK: 2), four = try make(topK: 4)
        let x = Kit.blob([5, 4], values: scores), lab = Kit.blob([5], values: labels), acc = Blob()
        try two.setUp(bottom: [x, lab], top: [acc])
        two.forward(bottom: [x, lab], top: [acc])
        #expect(acc.data[0] == Float(3) / 5)
        try four.setUp(bottom: [x, lab], top: [acc])
        four.forward(bottom: [x, lab], top: [acc])
        #expect(acc.data[0] == 1)
    }

    @Test func ignoreLabelAndPerClassTop() throws {
        let layer = try make(ignore: 3)
        let x = Kit.blob([5, 4], values: scores), lab = Kit.blob([5], values: labels)
        let acc = Blob(), perClass = Blob()
        try layer.setUp(bottom: [x, lab], top: [acc, perClass])
        layer.forward(bottom: [x, lab], top: [acc, perClass])
        // s2 (label 3) ignored: 1 correct of 4.
        #expect(acc.data[0] == Float(1) / 4)
        // Class 0: s0 right, s4 wrong → 0.5; class 1: 0; class 2: 0; class 3: no samples → 0.
        #expect(perClass.dataArray == [0.5, 0, 0, 0])
        #expect(layer.labelError == nil)
    }

    @Test func spatialAxisAndNoPositions() throws {
        // (N = 1, C = 2, H = 2): position h compares channel scores at h.
        let layer = try make(ignore: 7)
        let x = Kit.blob([1, 2, 2], values: [1, 0, 0, 1]), lab = Kit.blob([1, 2], values: [0, 1]), acc = Blob()
        try layer.setUp(bottom: [x, lab], top: [acc])
        layer.forward(bottom: [x, lab], top: [acc])
        #expect(acc.data[0] == 1)
        lab.setData([7, 7])
        layer.forward(bottom: [x, lab], top: [acc])
        #expect(acc.data[0] == 0)
    }

    @Test func noBackwardAndBadInput() throws {
        let layer = try make()
        #expect(!layer.allowForceBackward(bottomIndex: 0) && !layer.allowForceBackward(bottomIndex: 1))
        let x = Kit.blob([5, 4], values: scores), lab = Kit.blob([5], values: labels), acc = Blob()
        try layer.setUp(bottom: [x, lab], top: [acc])
        x.setDiff(Array(repeating: 3, count: 20))
        layer.backward(top: [acc], propagateDown: [true, true], bottom: [x, lab])
        #expect(x.diffArray == Array(repeating: 3, count: 20))
        #expect(throws: InputError.self) { try make(topK: 5).setUp(bottom: [x, lab], top: [Blob()]) }
        #expect(throws: InputError.self) { try make().setUp(bottom: [x, Blob(shape: [4])], top: [Blob()]) }
        lab.setData([0, 1, 9, 2, 0])
        layer.forward(bottom: [x, lab], top: [acc])
        #expect(layer.labelError != nil)
        #expect(acc.data[0] == Float(1) / 4)
    }
}
