import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Forward and backward of the loss layers against Fixtures/reference/loss/expected.h5 (float64
/// references made by scripts/reference/make_loss_reference.py: PyTorch where it has the
/// operation, numpy where Caffe's formula differs). Each case's bottoms are the fixture's
/// float32-rounded values; the top diff is the case's loss_weight, as the net writes it.
@Suite struct LossReferenceTests {
    static let path = fixture("reference/loss/expected.h5")
    static let cases = [
        "euclidean_4d", "euclidean_lw",
        "sigmoid_ce_default", "sigmoid_ce_valid_ignore", "sigmoid_ce_full_lw",
        "multinomial", "multinomial_clamp_lw",
        "hinge_l1", "hinge_l2_lw",
        "contrastive", "contrastive_legacy_lw",
        "infogain_bottom_ignore", "infogain_source_none_lw", "infogain_axis2_batch",
    ]
    /// float32 arithmetic against float64: |ours − reference| ≤ 1e-5·|reference| + 1e-5.
    static let relative = 1e-5, absolute = 1e-5

    @Test func fixtureHoldsEveryCase() throws {
        let file = try HDF5File.open(path: Self.path)
        #expect(Set(try file.childNames()) == Set(Self.cases))
    }

    @Test(arguments: cases)
    func matchesReference(_ name: String) throws {
        let file = try HDF5File.open(path: Self.path)
        let group = try file.openGroup(name)
        let type = try #require(try group.attribute("type")?.stringValue)
        let lossWeight = try #require(try group.attribute("loss_weight")?.doubleValue)
        var p = LayerParameter(name: name, type: type)
        var loss = LossParameter()
        if let mode = try group.attribute("normalization")?.stringValue {
            loss.normalization = try #require(LossParameter.NormalizationMode(rawValue: mode))
        }
        if let ignore = try group.attribute("ignore_label")?.intValue { loss.ignoreLabel = Int32(ignore) }
        p.lossParam = loss
        p.lossWeight = [Float(lossWeight)]
        if let margin = try group.attribute("margin")?.doubleValue {
            var c = ContrastiveLossParameter()
            c.margin = Float(margin)
            c.legacyVersion = (try group.attribute("legacy_version")?.intValue ?? 0) != 0
            p.contrastiveLossParam = c
        }
        if let norm = try group.attribute("norm")?.stringValue {
            var h = HingeLossParameter()
            h.norm = try #require(HingeLossParameter.Norm(rawValue: norm))
            p.hingeLossParam = h
        }
        var temporary: String? = nil
        if type == "InfogainLoss" {
            var ig = InfogainLossParameter()
            ig.axis = Int32(try group.attribute("axis")?.intValue ?? 1)
            if try group.attribute("h_source") != nil {
                let (shape, values) = try group.openDataset("H").readDoubles()
                var proto = BlobProto()
                proto.shape = BlobShape(dim: shape.map { Int64($0) })
                proto.data = values.map { Float($0) }
                let file = NSTemporaryDirectory() + "infogain_H_\(UUID().uuidString).binaryproto"
                try Data(proto.encode()).write(to: URL(fileURLWithPath: file))
                ig.source = file
                temporary = file
            }
            p.infogainLossParam = ig
        }
        defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
        let names = try group.childNames()
        var bottom: [Blob] = []
        for i in 0..<3 where names.contains("x\(i)") {
            let (shape, values) = try group.openDataset("x\(i)").readDoubles()
            let b = Blob(name: "x\(i)", shape: shape)
            b.setData(values.map { Float($0) })
            bottom.append(b)
        }
        p.bottom = bottom.map(\.name)
        p.top = ["loss"]
        let layer = try #require(LayerFactory.implemented[type]).init(param: p, context: CaffeLayerTestKit.context())
        let top = Blob(name: "loss")
        try layer.setUp(bottom: bottom, top: [top])
        layer.forward(bottom: bottom, top: [top])
        if let reader = layer as? LabelReadingLayer { #expect(reader.labelError == nil) }
        let expectedLoss = try group.openDataset("loss").readDoubles().values[0]
        let lossError = abs(Double(top.data[0]) - expectedLoss)
        #expect(lossError <= Self.relative * abs(expectedLoss) + Self.absolute, "\(name): loss \(top.data[0]) vs \(expectedLoss)")
        top.setDiff([Float(lossWeight)])
        let propagate = bottom.indices.map { names.contains("grad\($0)") }
        for (b, on) in zip(bottom, propagate) where on { b.setDiff([Float](repeating: .nan, count: b.count)) }
        layer.backward(top: [top], propagateDown: propagate, bottom: bottom)
        var worst = 0.0
        for (i, on) in propagate.enumerated() where on {
            let (shape, reference) = try group.openDataset("grad\(i)").readDoubles()
            #expect(shape == bottom[i].shape)
            for (k, r) in reference.enumerated() {
                let a = Double(bottom[i].diff[k])
                let err = abs(a - r)
                worst = max(worst, err / (abs(r) + 1))
                #expect(err <= Self.relative * abs(r) + Self.absolute, "\(name): grad\(i)[\(k)] \(a) vs \(r)")
            }
        }
        print("loss reference \(name): |Δloss| = \(lossError), max |Δgrad|/(|ref|+1) = \(worst)")
    }
}
