import InitDiagCore
import InitDiagTrace
// SigmoidParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.sigmoid_param = 124,
// V1LayerParameter.sigmoid_param = 38). Only the engine: the CPU computation is the same for all.

public struct SigmoidParameter: Sendable, Equatable {
    public var engine: ComputeEngine = .DEFAULT                    // 1
    public init() {}
}

extension SigmoidParameter: CaffeMessage {
    static let schema = MessageSchema<SigmoidParameter>("SigmoidParameter", [
        .scalar("engine", 1, \.engine),
    ])
}
