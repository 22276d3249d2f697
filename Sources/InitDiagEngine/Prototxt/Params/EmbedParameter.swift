import InitDiagCore
import InitDiagTrace
/// EmbedParameter (BVLC/caffe caffe.proto; LayerParameter.embed_param = 137).
public struct EmbedParameter: Sendable, Equatable {
    public var numOutput: UInt32 = 0                               // 1
    public var inputDim: UInt32 = 0                                // 2
    public var biasTerm: Bool = true                               // 3
    public var weightFiller: FillerParameter? = nil                // 4
    public var biasFiller: FillerParameter? = nil                  // 5
    public init() {}
}

extension EmbedParameter: CaffeMessage {
    static let schema = MessageSchema<EmbedParameter>("EmbedParameter", [
        .scalar("num_output", 1, \.numOutput),
        .scalar("input_dim", 2, \.inputDim),
        .scalar("bias_term", 3, \.biasTerm),
        .message("weight_filler", 4, \.weightFiller),
        .message("bias_filler", 5, \.biasFiller),
    ])
}
