import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct SilenceTests {
    @Test func backwardZeroesRequestedDiffs() throws {
        let layer = try SilenceLayer(param: CaffeLayerTestKit.param("Silence"), context: CaffeLayerTestKit.context())
        let a = CaffeLayerTestKit.blob([2, 3]), b = CaffeLayerTestKit.blob([4])
        try layer.setUp(bottom: [a, b], top: [])
        a.setDiff([Float](repeating: 5, count: 6)); b.setDiff([Float](repeating: 7, count: 4))
        let before = a.dataArray
        layer.forward(bottom: [a, b], top: [])
        #expect(a.dataArray == before)
        layer.backward(top: [], propagateDown: [true, false], bottom: [a, b])
        #expect(a.diffArray == [Float](repeating: 0, count: 6))
        #expect(b.diffArray == [Float](repeating: 7, count: 4))
        #expect(SilenceLayer.exactTops == 0 && SilenceLayer.minBottoms == 1)
        #expect(layer.meanField == .stop)
    }

    /// In a net: a Silence consumes a blob, which is then no net output, and backward runs.
    @Test func inANet() throws {
        let text = """
        name: "s"
        layer { name: "in" type: "Input" top: "x" top: "y" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 3 } } }
        layer { name: "silence" type: "Silence" bottom: "y" }
        layer { name: "r" type: "Reshape" bottom: "x" top: "r" reshape_param { shape { dim: -1 } } }
        """
        let net = try ConformanceSupport.buildNet(try Prototxt.parseNet(text, path: "silence.prototxt"), phase: .TRAIN)
        #expect(net.outputBlobIDs.map { net.blobs[$0].name } == ["r"])
        _ = try net.forward()
        net.backward()
    }
}
