import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct AbsValLayerTests {
    typealias Kit = NeuronTestKit

    @Test(arguments: [[2, 3, 4, 5], [7, 11], [3], [1, 2, 1, 9]])
    func gradient(shape: [Int]) throws {
        try Kit.gradient({ try Kit.make("AbsVal") }, shape: shape, inPlace: false, isKink: { abs($0) < 0.02 })
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("absval", inPlace: false)
    }

    /// sign(0) = 0 (caffe_cpu_sign), so the gradient at exactly 0 is 0.
    @Test func signAtZero() throws {
        let layer = try Kit.make("AbsVal")
        let x = CaffeLayerTestKit.blob([4], values: [-2, -0.0, 0, 3]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(y.dataArray == [2, 0, 0, 3])
        y.setDiff([0.5, 0.5, 0.5, 0.5])
        layer.backward(top: [y], propagateDown: [true], bottom: [x])
        #expect(x.diffArray == [-0.5, 0, 0, 0.5])
        #expect(layer.meanField == .pointwise(.absval))
    }

    /// Caffe: CHECK_NE(top[0], bottom[0]) "AbsVal Layer does not allow in-place computation."
    @Test func refusesInPlace() throws {
        let layer = try Kit.make("AbsVal")
        let x = CaffeLayerTestKit.blob([2, 3])
        #expect(throws: InputError.self) { try layer.setUp(bottom: [x], top: [x]) }
        let text = """
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
        layer { name: "abs" type: "AbsVal" bottom: "data" top: "data" }
        """
        let net = try Prototxt.parseNet(text, path: "absval.prototxt")
        do {
            _ = try ConformanceSupport.buildNet(net, phase: .TRAIN)
            Issue.record("an in-place AbsVal was accepted")
        } catch let e as InputError {
            #expect(e.message.contains("'abs'") && e.message.contains("in-place"))
        }
    }
}
