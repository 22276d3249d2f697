import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct InfogainLossLayerTests {
    typealias Kit = CaffeLayerTestKit

    func param(axis: Int32? = nil, source: String? = nil, mode: LossParameter.NormalizationMode? = nil,
               ignore: Int32? = nil, bottoms: Int = 3) -> LayerParameter {
        Kit.param("InfogainLoss") { p in
            var ig = InfogainLossParameter()
            if let axis { ig.axis = axis }
            ig.source = source
            p.infogainLossParam = ig
            var l = LossParameter(); l.normalization = mode; l.ignoreLabel = ignore
            p.lossParam = l
            p.bottom = Array(["x", "label", "H"].prefix(bottoms))
        }
    }

    func matrix(_ c: Int) -> Blob {
        let h = Kit.blob([c, c], seed: 61, 0, 1)
        for i in 0..<c { h.data[i * c + i] += 1 }
        return h
    }

    func writeMatrix(_ h: Blob) throws -> String {
        var proto = BlobProto()
        proto.shape = BlobShape(dim: h.shape.map { Int64($0) })
        proto.data = h.dataArray
        let path = NSTemporaryDirectory() + "infogain_\(UUID().uuidString).binaryproto"
        try Data(proto.encode()).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func gradientWithMatrixBottom() throws {
        let layer = try InfogainLossLayer(param: param(), context: Kit.context())
        let x = Kit.blob([3, 4], seed: 51, -2, 2), labels = Kit.blob([3], values: [0, 3, 1]), loss = Blob()
        let h = matrix(4)
        try layer.setUp(bottom: [x, labels, h], top: [loss])
        #expect(GradientChecker().check(layer, bottom: [x, labels, h], top: [loss], checkBottoms: [0]) == x.count)
    }

    @Test func gradientWithSourceFileAndIgnoreLabel() throws {
        let h = matrix(3)
        let path = try writeMatrix(h)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let layer = try InfogainLossLayer(param: param(source: path, ignore: 2, bottoms: 2), context: Kit.context())
        #expect(layer.fileMatrix?.dataArray == h.dataArray)
        let x = Kit.blob([2, 3, 3], seed: 52, -2, 2), labels = Kit.blob([2, 3], values: [0, 2, 1, 1, 0, 2]), loss = Blob()
        try layer.setUp(bottom: [x, labels], top: [loss])
        #expect(GradientChecker().check(layer, bottom: [x, labels], top: [loss], checkBottoms: [0]) == x.count)
        loss.setDiff([1])
        layer.backward(top: [loss], propagateDown: [true, false], bottom: [x, labels])
        for c in 0..<3 { #expect(x.diff[c * 3 + 1] == 0) }   // position (0, 1) carries the ignore label
    }

    @Test func gradientOnAxisTwoWithNoNormalization() throws {
        let layer = try InfogainLossLayer(param: param(axis: 2, mode: .NONE), context: Kit.context())
        let x = Kit.blob([2, 2, 4], seed: 53, -2, 2), labels = Kit.blob([2, 2], values: [3, 0, 1, 2]), loss = Blob()
        let h = matrix(4)
        try layer.setUp(bottom: [x, labels, h], top: [loss])
        #expect(GradientChecker().check(layer, bottom: [x, labels, h], top: [loss], checkBottoms: [0]) == x.count)
    }

    @Test func identityMatrixIsSoftmaxLoss() throws {
        // H = I: InfogainLoss = SoftmaxWithLoss on the same scores.
        let x = Kit.blob([4, 5], seed: 54, -3, 3), labels = Kit.blob([4], values: [0, 4, 2, 2])
        let h = Blob(shape: [5, 5])
        for i in 0..<5 { h.data[i * 6] = 1 }
        let infogain = try InfogainLossLayer(param: param(), context: Kit.context())
        let softmax = try SoftmaxWithLossLayer(param: Kit.param("SoftmaxWithLoss"), context: Kit.context())
        let l1 = Blob(), l2 = Blob()
        try infogain.setUp(bottom: [x, labels, h], top: [l1])
        try softmax.setUp(bottom: [x, labels], top: [l2])
        infogain.forward(bottom: [x, labels, h], top: [l1])
        softmax.forward(bottom: [x, labels], top: [l2])
        #expect(abs(l1.data[0] - l2.data[0]) < 1e-5)
    }

    @Test func refusals() throws {
        // The legacy normalize field is refused (Caffe CHECKs), a missing source, a bad file.
        var p = param(bottoms: 3)
        p.lossParam?.normalize = true
        #expect(throws: InputError.self) { try InfogainLossLayer(param: p, context: Kit.context()) }
        do {
            _ = try InfogainLossLayer(param: param(bottoms: 2), context: Kit.context())
            Issue.record("expected a missing-source error")
        } catch let e as InputError { #expect(e.message.contains("source")) }
        let missing = NSTemporaryDirectory() + "no_such_infogain.binaryproto"
        do {
            _ = try InfogainLossLayer(param: param(source: missing, bottoms: 2), context: Kit.context())
            Issue.record("expected a missing-file error")
        } catch let e as InputError { #expect(e.message.contains(missing)) }
        let garbage = NSTemporaryDirectory() + "infogain_garbage_\(UUID().uuidString).binaryproto"
        try Data([0xFF, 0xFF, 0xFF]).write(to: URL(fileURLWithPath: garbage))
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        do {
            _ = try InfogainLossLayer(param: param(source: garbage, bottoms: 2), context: Kit.context())
            Issue.record("expected a decode error")
        } catch let e as InputError { #expect(e.message.contains(garbage)) }
        // H of the wrong size.
        let layer = try InfogainLossLayer(param: param(), context: Kit.context())
        #expect(throws: InputError.self) { try layer.setUp(bottom: [Blob(shape: [2, 3]), Blob(shape: [2]), Blob(shape: [2, 2])], top: [Blob()]) }
        // Two tops need two loss weights.
        #expect(throws: InputError.self) { try layer.setUp(bottom: [Blob(shape: [2, 2]), Blob(shape: [2]), Blob(shape: [2, 2])], top: [Blob(), Blob()]) }
    }
}
