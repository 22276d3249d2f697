import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

struct IPCase: CustomStringConvertible, Sendable {
    var name: String
    var shape: [Int]
    var axis: Int32 = 1
    var numOutput = 3
    var transpose = false
    var bias = true
    var description: String { name }

    var param: LayerParameter {
        var lp = LayerParameter(name: "ip_\(name)", type: "InnerProduct")
        var p = InnerProductParameter()
        p.numOutput = UInt32(numOutput); p.axis = axis; p.transpose = transpose; p.biasTerm = bias
        lp.innerProductParam = p
        return lp
    }
}

let ipCases: [IPCase] = [
    IPCase(name: "axis1_4d", shape: [3, 2, 2, 3]),
    IPCase(name: "axis2", shape: [2, 3, 2, 2], axis: 2),
    IPCase(name: "axis_minus1", shape: [2, 2, 5], axis: -1),
    IPCase(name: "transpose", shape: [3, 4, 2], transpose: true),
    IPCase(name: "transpose_axis2", shape: [2, 2, 3, 2], axis: 2, transpose: true),
    IPCase(name: "no_bias", shape: [4, 6], bias: false),
    IPCase(name: "axis0", shape: [2, 3], axis: 0),
]

func makeInnerProduct(_ c: IPCase) throws -> (InnerProductLayer, Blob, Blob) {
    let layer = try InnerProductLayer(param: c.param, context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1)))
    let bottom = Blob(name: "x", shape: c.shape), top = Blob(name: "y")
    fillUniform(bottom, seed: 17)
    try layer.setUp(bottom: [bottom], top: [top])
    fillUniform(layer.blobs[0], seed: 19)
    if c.bias { fillUniform(layer.blobs[1], seed: 23) }
    return (layer, bottom, top)
}

@Suite struct InnerProductTests {
    @Test(arguments: ipCases)
    func forwardMatchesDirectProduct(_ c: IPCase) throws {
        let (layer, bottom, top) = try makeInnerProduct(c)
        let axis = Int(c.axis) < 0 ? Int(c.axis) + c.shape.count : Int(c.axis)
        let m = c.shape[..<axis].reduce(1, *), k = c.shape[axis...].reduce(1, *), n = c.numOutput
        #expect(top.shape == Array(c.shape[..<axis]) + [n])
        #expect(layer.blobs[0].shape == (c.transpose ? [k, n] : [n, k]))
        #expect(layer.blobs.count == (c.bias ? 2 : 1))
        layer.forward(bottom: [bottom], top: [top])
        let x = bottom.dataArray, w = layer.blobs[0].dataArray
        for i in 0..<m {
            for j in 0..<n {
                var s = c.bias ? Double(layer.blobs[1].data[j]) : 0
                for t in 0..<k {
                    let wv = c.transpose ? w[t * n + j] : w[j * k + t]
                    s += Double(x[i * k + t]) * Double(wv)
                }
                #expect(abs(Double(top.data[i * n + j]) - s) <= 1e-5, "y[\(i), \(j)]")
            }
        }
    }

    @Test(arguments: ipCases)
    func gradientsMatchFiniteDifferences(_ c: IPCase) throws {
        let (layer, bottom, top) = try makeInnerProduct(c)
        let checked = GradientChecker().check(layer, bottom: [bottom], top: [top])
        #expect(checked == bottom.count + layer.blobs.reduce(0) { $0 + $1.count })
    }

    @Test func parameterDiffsAccumulateAndBottomDiffIsOverwritten() throws {
        for transpose in [false, true] {
            let (layer, bottom, top) = try makeInnerProduct(IPCase(name: "acc", shape: [4, 5], transpose: transpose))
            layer.forward(bottom: [bottom], top: [top])
            fillUniform(top, seed: 29)
            top.setDiff(top.dataArray)
            for b in layer.blobs { b.zeroDiff() }
            layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
            let w1 = layer.blobs[0].diffArray, b1 = layer.blobs[1].diffArray, x1 = bottom.diffArray
            // db = Σ_rows dy exactly as summed in double.
            for j in 0..<3 {
                let s = (0..<4).reduce(0.0) { $0 + Double(top.diff[$1 * 3 + j]) }
                #expect(abs(Double(b1[j]) - s) <= 1e-6)
            }
            bottom.setDiff([Float](repeating: -3, count: bottom.count))
            layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
            for (a, b) in zip(layer.blobs[0].diffArray, w1) { #expect(abs(a - 2 * b) <= 1e-6 * max(1, abs(b))) }
            for (a, b) in zip(layer.blobs[1].diffArray, b1) { #expect(abs(a - 2 * b) <= 1e-6 * max(1, abs(b))) }
            #expect(bottom.diffArray == x1)
            // propagate_down false: the bottom diff is left alone.
            bottom.setDiff([Float](repeating: 5, count: bottom.count))
            layer.backward(top: [top], propagateDown: [false], bottom: [bottom])
            #expect(bottom.diffArray.allSatisfy { $0 == 5 })
        }
    }

    @Test func reshapeChecksInputSizeAndAxis() throws {
        let (layer, _, top) = try makeInnerProduct(IPCase(name: "k", shape: [2, 3, 4]))
        // Same K = 12 with a different split is fine; the batch may change.
        try layer.reshape(bottom: [Blob(shape: [5, 12])], top: [top])
        #expect(top.shape == [5, 3])
        do {
            try layer.reshape(bottom: [Blob(shape: [2, 3, 5])], top: [top])
            Issue.record("no error for K 15")
        } catch let e as InputError {
            #expect(e.message.contains("'ip_k'") && e.message.contains("15") && e.message.contains("3×12"))
        }
        var bad = IPCase(name: "axis", shape: [2, 3], axis: 2)
        #expect(throws: InputError.self) { _ = try makeInnerProduct(bad) }
        bad.axis = -3
        #expect(throws: InputError.self) { _ = try makeInnerProduct(bad) }
        #expect(throws: InputError.self) { _ = try makeInnerProduct(IPCase(name: "zero", shape: [2, 3], numOutput: 0)) }
    }
}
