import InitDiagCore
import InitDiagTrace
// TanHParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.tanh_param = 127,
// V1LayerParameter.tanh_param = 37). Only the engine: the CPU computation is the same for all.

public struct TanHParameter: Sendable, Equatable {
    public var engine: ComputeEngine = .DEFAULT                    // 1
    public init() {}
}

extension TanHParameter: CaffeMessage {
    static let schema = MessageSchema<TanHParameter>("TanHParameter", [
        .scalar("engine", 1, \.engine),
    ])
}
