import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// End-to-end agreement with the committed PyTorch float64 references
/// (Fixtures/reference/conformance*/README.md): the whole net built from the fixture's prototxt,
/// weights from its Caffe HDF5 snapshot, one forward and one backward, every recorded value
/// compared as a dataset: max |actual − expected| ≤ 1e-4 · max |expected|.
@Suite struct ReferenceConformanceTests {
    static let tolerance = 1e-4

    /// Runs a fixture net once (TRAIN) with the fixture's input; returns the net and the capture.
    private func runFixture(_ folder: String, phase: Phase = .TRAIN) throws -> (Net, ConformanceCapture, HDF5File) {
        let dir = ConformanceSupport.reference(folder)
        let param = try Prototxt.loadNet(path: dir + "/net.prototxt")
        let net = try ConformanceSupport.buildNet(param, phase: phase)
        try Trainer.loadWeights(dir + "/weights.caffemodel.h5", into: net)
        let expected = try HDF5File.open(path: dir + "/expected.h5")
        let data = try ConformanceSupport.floats(expected, "input/data")
        let label = try ConformanceSupport.floats(expected, "input/label")
        let dataBlob = try #require(net.blob(named: "data")), labelBlob = try #require(net.blob(named: "label"))
        #expect(dataBlob.shape == data.shape && labelBlob.shape == label.shape)
        dataBlob.setData(data.values)
        labelBlob.setData(label.values)
        let capture = ConformanceCapture()
        net.observer = capture
        net.clearParamDiffs()
        _ = try net.forward()
        net.backward()
        return (net, capture, expected)
    }

    /// forward/<layer>, backward/<layer>, grad/<layer>/<i>, grad/data, loss: everything the file has.
    private func compareAll(_ net: Net, _ capture: ConformanceCapture, _ expected: HDF5File,
                            exactZero: Set<String> = [], report: inout ConformanceReport) throws {
        let layerNames = Set(net.layerParams.map(\.name))
        let forwardNames = try expected.openGroup("forward").childNames()
        let backwardNames = try expected.openGroup("backward").childNames()
        // Every layer but the Input one has a forward and a backward entry: nothing is skipped.
        #expect(Set(forwardNames) == layerNames.subtracting(["data"]))
        #expect(Set(backwardNames) == layerNames.subtracting(["data"]))
        for name in forwardNames {
            report.check("forward/\(name)", capture.forward[name], try ConformanceSupport.doubles(expected, "forward/\(name)").values,
                         tolerance: Self.tolerance)
        }
        for name in backwardNames {
            report.check("backward/\(name)", capture.backward[name], try ConformanceSupport.doubles(expected, "backward/\(name)").values,
                         tolerance: Self.tolerance)
        }
        let gradGroup = try expected.openGroup("grad")
        var gradCount = 0
        for layer in try gradGroup.childNames() where try gradGroup.childKind(layer) == .group {
            let li = try #require(net.layerIndex(named: layer), "grad/\(layer): no such layer")
            let blobs = net.layers[li].blobs
            for k in try gradGroup.openGroup(layer).childNames() {
                let i = try #require(Int(k))
                let exp = try ConformanceSupport.doubles(expected, "grad/\(layer)/\(k)")
                #expect(blobs[i].shape == exp.shape, "grad/\(layer)/\(k) shape")
                let key = "grad/\(layer)/\(k)"
                if exactZero.contains(key) {
                    // The stored values are 0; the file gives the absolute bound (attribute tolerance_abs).
                    let bound = try #require(try expected.openDataset(key).attribute("tolerance_abs")?.doubleValue)
                    let got = ConformanceSupport.maxAbsDiff(blobs[i].diffArray, exp.values)
                    #expect(ConformanceSupport.maxAbs(exp.values) == 0)
                    #expect(got <= bound, "\(key): max|Δ| \(got) > \(bound)")
                } else {
                    report.check(key, blobs[i].diffArray, exp.values, tolerance: Self.tolerance)
                }
                gradCount += 1
            }
        }
        #expect(gradCount == net.params.count)
        let input = try #require(net.blob(named: "data"))
        report.check("grad/data", input.diffArray, try ConformanceSupport.doubles(expected, "grad/data").values, tolerance: Self.tolerance)
        let loss = try #require(net.blob(named: "loss"))
        report.check("loss", loss.dataArray, try ConformanceSupport.doubles(expected, "loss").values, tolerance: Self.tolerance)
    }

    @Test func smallVGGMatchesPyTorch() throws {
        let (net, capture, expected) = try runFixture("conformance")
        var report = ConformanceReport()
        try compareAll(net, capture, expected, report: &report)
        let fc2 = try #require(net.blob(named: "fc2"))
        report.check("logits", fc2.dataArray, try ConformanceSupport.doubles(expected, "logits").values, tolerance: Self.tolerance)
        let lossLayer = try #require(net.layers.last as? SoftmaxWithLossLayer)
        report.check("probabilities", lossLayer.probabilities.dataArray,
                     try ConformanceSupport.doubles(expected, "probabilities").values, tolerance: Self.tolerance)
        // 12 forward + 12 backward + 10 grads + grad/data + loss + logits + probabilities.
        #expect(report.rows.count == 38)
        print(report.summary("conformance"))
    }

    @Test func batchNormScaleTrainAndTestMatchPyTorch() throws {
        let (net, capture, expected) = try runFixture("conformance_bn")
        var report = ConformanceReport()
        try compareAll(net, capture, expected, exactZero: ["grad/conv1/1"], report: &report)
        let fc1 = try #require(net.blob(named: "fc1"))
        report.check("logits", fc1.dataArray, try ConformanceSupport.doubles(expected, "logits").values, tolerance: Self.tolerance)

        let bnIndex = try #require(net.layerIndex(named: "bn1"))
        let bn = try #require(net.layers[bnIndex] as? BatchNormLayer)
        report.check("batch_stats/bn1/mean", bn.mean.dataArray,
                     try ConformanceSupport.doubles(expected, "batch_stats/bn1/mean").values, tolerance: Self.tolerance)
        report.check("batch_stats/bn1/var", bn.variance.dataArray,
                     try ConformanceSupport.doubles(expected, "batch_stats/bn1/var").values, tolerance: Self.tolerance)
        for k in 0..<3 {
            report.check("bn_blobs/bn1/\(k)", bn.blobs[k].dataArray,
                         try ConformanceSupport.doubles(expected, "bn_blobs/bn1/\(k)").values, tolerance: Self.tolerance)
        }

        // TEST phase: the same weights, bn1's blobs as the TRAIN pass left them (global statistics).
        let param = try Prototxt.loadNet(path: ConformanceSupport.reference("conformance_bn/net.prototxt"))
        let testNet = try ConformanceSupport.buildNet(param, phase: .TEST)
        try Trainer.loadWeights(ConformanceSupport.reference("conformance_bn/weights.caffemodel.h5"), into: testNet)
        testNet.shareWeights(from: net)
        let testBNIndex = try #require(testNet.layerIndex(named: "bn1"))
        let testBN = try #require(testNet.layers[testBNIndex] as? BatchNormLayer)
        #expect(testBN.useGlobalStats)
        #expect(testBN.blobs[2].data[0] == 1)
        let data = try #require(net.blob(named: "data")), label = try #require(net.blob(named: "label"))
        try #require(testNet.blob(named: "data")).setData(data.dataArray)
        try #require(testNet.blob(named: "label")).setData(label.dataArray)
        let testCapture = ConformanceCapture()
        testNet.observer = testCapture
        _ = try testNet.forward()
        let testNames = try expected.openGroup("test/forward").childNames()
        #expect(Set(testNames) == Set(testNet.layerParams.map(\.name)).subtracting(["data"]))
        for name in testNames {
            report.check("test/forward/\(name)", testCapture.forward[name],
                         try ConformanceSupport.doubles(expected, "test/forward/\(name)").values, tolerance: Self.tolerance)
        }
        print(report.summary("conformance_bn"))
    }
}
