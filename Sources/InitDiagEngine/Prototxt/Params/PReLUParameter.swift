import InitDiagCore
import InitDiagTrace
// PReLUParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.prelu_param = 131).

public struct PReLUParameter: Sendable, Equatable {
    /// Filler of the slopes; Caffe's default when omitted is constant 0.25 (prelu_layer.cpp).
    public var filler: FillerParameter? = nil                      // 1
    /// One slope for all channels instead of one per channel.
    public var channelShared: Bool = false                         // 2
    public init() {}
}

extension PReLUParameter: CaffeMessage {
    static let schema = MessageSchema<PReLUParameter>("PReLUParameter", [
        .message("filler", 1, \.filler),
        .scalar("channel_shared", 2, \.channelShared),
    ])
}
