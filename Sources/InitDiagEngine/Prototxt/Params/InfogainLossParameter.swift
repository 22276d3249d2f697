import InitDiagCore
import InitDiagTrace
/// InfogainLossParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter field 116,
/// V1LayerParameter field 16).
public struct InfogainLossParameter: Sendable, Equatable {
    /// A binary BlobProto file holding the C×C infogain matrix H (used when the layer has no
    /// third bottom).
    public var source: String? = nil                               // 1
    /// The axis of the class scores (softmax and H's dimension).
    public var axis: Int32 = 1                                     // 2 [1]
    public init() {}
}

extension InfogainLossParameter: CaffeMessage {
    static let schema = MessageSchema<InfogainLossParameter>("InfogainLossParameter", [
        .optional("source", 1, \.source),
        .scalar("axis", 2, \.axis),
    ])
}
