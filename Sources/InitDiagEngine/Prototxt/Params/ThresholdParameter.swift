import InitDiagCore
import InitDiagTrace
// ThresholdParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.threshold_param = 128,
// V1LayerParameter.threshold_param = 25): y = [x > threshold].

public struct ThresholdParameter: Sendable, Equatable {
    public var threshold: Float = 0                                // 1
    public init() {}
}

extension ThresholdParameter: CaffeMessage {
    static let schema = MessageSchema<ThresholdParameter>("ThresholdParameter", [
        .scalar("threshold", 1, \.threshold),
    ])
}
