import InitDiagCore
import InitDiagTrace
// LogParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.log_param = 134):
// y = log_base(shift + scale·x), base −1 meaning e.

public struct LogParameter: Sendable, Equatable {
    public var base: Float = -1                                    // 1
    public var scale: Float = 1                                    // 2
    public var shift: Float = 0                                    // 3
    public init() {}
}

extension LogParameter: CaffeMessage {
    static let schema = MessageSchema<LogParameter>("LogParameter", [
        .scalar("base", 1, \.base),
        .scalar("scale", 2, \.scale),
        .scalar("shift", 3, \.shift),
    ])
}
