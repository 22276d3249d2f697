import InitDiagCore
import InitDiagTrace
/// MVNParameter (BVLC/caffe caffe.proto; LayerParameter.mvn_param = 120,
/// V1LayerParameter.mvn_param = 34).
public struct MVNParameter: Sendable, Equatable {
    public var normalizeVariance: Bool = true                      // 1
    public var acrossChannels: Bool = false                        // 2
    public var eps: Float = 1e-9                                   // 3
    public init() {}
}

extension MVNParameter: CaffeMessage {
    static let schema = MessageSchema<MVNParameter>("MVNParameter", [
        .scalar("normalize_variance", 1, \.normalizeVariance),
        .scalar("across_channels", 2, \.acrossChannels),
        .scalar("eps", 3, \.eps),
    ])
}
