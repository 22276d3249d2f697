import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// contrastive_loss_param (105), hinge_loss_param (114), infogain_loss_param (116) and their V1
/// fields (40, 29, 16): text, binary round trip, V1 upgrade, and a net of every new loss type.
@Suite struct LossParametersTests {
    static let text = """
    layer { name: "c" type: "ContrastiveLoss" bottom: "a" bottom: "b" bottom: "sim" top: "lc"
            contrastive_loss_param { margin: 2.5 legacy_version: true } }
    layer { name: "h" type: "HingeLoss" bottom: "a" bottom: "label" top: "lh" hinge_loss_param { norm: L2 } }
    layer { name: "h2" type: "HingeLoss" bottom: "a" bottom: "label" top: "lh2" hinge_loss_param { norm: 1 } }
    layer { name: "i" type: "InfogainLoss" bottom: "a" bottom: "label" top: "li"
            infogain_loss_param { source: "H.binaryproto" axis: 2 } }
    """

    @Test func textAndBinaryRoundTrip() throws {
        let net = try Prototxt.parseNet(Self.text, path: "losses.prototxt")
        #expect(net.layer[0].contrastiveLossParam?.margin == 2.5)
        #expect(net.layer[0].contrastiveLossParam?.legacyVersion == true)
        #expect(net.layer[1].hingeLossParam?.norm == .L2)
        #expect(net.layer[2].hingeLossParam?.norm == .L1)
        #expect(net.layer[3].infogainLossParam?.source == "H.binaryproto")
        #expect(net.layer[3].infogainLossParam?.axis == 2)
        let back = try CaffeModel.decode(CaffeModel.encode(net), path: "losses.caffemodel")
        #expect(back.layer.map { $0.hingeLossParam } == net.layer.map { $0.hingeLossParam })
        #expect(back.layer.map { $0.contrastiveLossParam } == net.layer.map { $0.contrastiveLossParam })
        #expect(back.layer.map { $0.infogainLossParam } == net.layer.map { $0.infogainLossParam })
        // Defaults: margin 1, legacy false, L1, axis 1.
        #expect(ContrastiveLossParameter().margin == 1 && !ContrastiveLossParameter().legacyVersion)
        #expect(HingeLossParameter().norm == .L1 && InfogainLossParameter().axis == 1)
    }

    @Test func badNormIsNamed() throws {
        for value in ["L3", "0", "3"] {
            do {
                _ = try Prototxt.parseNet("layer { name: \"h\" type: \"HingeLoss\" hinge_loss_param { norm: \(value) } }", path: "n.prototxt")
                Issue.record("norm \(value) accepted")
            } catch {
                #expect("\(error)".contains("Norm"), "\(error)")
            }
        }
    }

    @Test func v1LayersUpgrade() throws {
        let net = try Prototxt.parseNet("""
        layers { name: "e" type: EUCLIDEAN_LOSS bottom: "a" bottom: "b" top: "le" }
        layers { name: "s" type: SIGMOID_CROSS_ENTROPY_LOSS bottom: "a" bottom: "t" top: "ls" }
        layers { name: "c" type: CONTRASTIVE_LOSS bottom: "a" bottom: "b" bottom: "y" top: "lc" contrastive_loss_param { margin: 3 } }
        layers { name: "h" type: HINGE_LOSS bottom: "a" bottom: "l" top: "lh" hinge_loss_param { norm: L2 } }
        layers { name: "m" type: MULTINOMIAL_LOGISTIC_LOSS bottom: "a" bottom: "l" top: "lm" }
        layers { name: "i" type: INFOGAIN_LOSS bottom: "a" bottom: "l" top: "li" infogain_loss_param { source: "H" } }
        """, path: "v1.prototxt")
        #expect(net.layer.map(\.type) == ["EuclideanLoss", "SigmoidCrossEntropyLoss", "ContrastiveLoss", "HingeLoss",
                                          "MultinomialLogisticLoss", "InfogainLoss"])
        #expect(net.layer[2].contrastiveLossParam?.margin == 3)
        #expect(net.layer[3].hingeLossParam?.norm == .L2)
        #expect(net.layer[5].infogainLossParam?.source == "H")
        for type in net.layer.map(\.type) { #expect(LayerFactory.implemented[type] != nil, "\(type)") }
    }
}
