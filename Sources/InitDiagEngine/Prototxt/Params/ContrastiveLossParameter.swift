import InitDiagCore
import InitDiagTrace
/// ContrastiveLossParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter field 105,
/// V1LayerParameter field 40).
public struct ContrastiveLossParameter: Sendable, Equatable {
    /// Margin for dissimilar pairs.
    public var margin: Float = 1                                   // 1 [1.0]
    /// false: max(margin − d, 0)² as Hadsell et al. (2006); true: Caffe's first implementation,
    /// max(margin − d², 0).
    public var legacyVersion: Bool = false                         // 2 [false]
    public init() {}
}

extension ContrastiveLossParameter: CaffeMessage {
    static let schema = MessageSchema<ContrastiveLossParameter>("ContrastiveLossParameter", [
        .scalar("margin", 1, \.margin),
        .scalar("legacy_version", 2, \.legacyVersion),
    ])
}
