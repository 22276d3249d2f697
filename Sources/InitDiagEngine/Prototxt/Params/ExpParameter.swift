import InitDiagCore
import InitDiagTrace
// ExpParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.exp_param = 111,
// V1LayerParameter.exp_param = 41): y = base^(shift + scale·x), base −1 meaning e.

public struct ExpParameter: Sendable, Equatable {
    public var base: Float = -1                                    // 1
    public var scale: Float = 1                                    // 2
    public var shift: Float = 0                                    // 3
    public init() {}
}

extension ExpParameter: CaffeMessage {
    static let schema = MessageSchema<ExpParameter>("ExpParameter", [
        .scalar("base", 1, \.base),
        .scalar("scale", 2, \.scale),
        .scalar("shift", 3, \.shift),
    ])
}
