import InitDiagCore
import InitDiagTrace
// ELUParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.elu_param = 140).

public struct ELUParameter: Sendable, Equatable {
    /// α of y = α(eˣ − 1) for x ≤ 0.
    public var alpha: Float = 1                                    // 1
    public init() {}
}

extension ELUParameter: CaffeMessage {
    static let schema = MessageSchema<ELUParameter>("ELUParameter", [
        .scalar("alpha", 1, \.alpha),
    ])
}
