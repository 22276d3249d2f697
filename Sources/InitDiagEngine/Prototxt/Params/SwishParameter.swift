import InitDiagCore
import InitDiagTrace
// SwishParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.swish_param = 147):
// y = x·sigmoid(β·x).

public struct SwishParameter: Sendable, Equatable {
    public var beta: Float = 1                                     // 1
    public init() {}
}

extension SwishParameter: CaffeMessage {
    static let schema = MessageSchema<SwishParameter>("SwishParameter", [
        .scalar("beta", 1, \.beta),
    ])
}
