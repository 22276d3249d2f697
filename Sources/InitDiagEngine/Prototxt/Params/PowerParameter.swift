import InitDiagCore
import InitDiagTrace
// PowerParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.power_param = 122,
// V1LayerParameter.power_param = 21): y = (shift + scale·x)^power.

public struct PowerParameter: Sendable, Equatable {
    public var power: Float = 1                                    // 1
    public var scale: Float = 1                                    // 2
    public var shift: Float = 0                                    // 3
    public init() {}
}

extension PowerParameter: CaffeMessage {
    static let schema = MessageSchema<PowerParameter>("PowerParameter", [
        .scalar("power", 1, \.power),
        .scalar("scale", 2, \.scale),
        .scalar("shift", 3, \.shift),
    ])
}
