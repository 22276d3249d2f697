import InitDiagCore
import InitDiagTrace
/// ArgMaxParameter (BVLC/caffe caffe.proto; LayerParameter.argmax_param = 103,
/// V1LayerParameter.argmax_param = 23). `axis` has no default: without it ArgMax works over
/// everything after axis 0.
public struct ArgMaxParameter: Sendable, Equatable {
    public var outMaxVal: Bool = false                             // 1
    public var topK: UInt32 = 1                                    // 2
    public var axis: Int32? = nil                                  // 3
    public init() {}
}

extension ArgMaxParameter: CaffeMessage {
    static let schema = MessageSchema<ArgMaxParameter>("ArgMaxParameter", [
        .scalar("out_max_val", 1, \.outMaxVal),
        .scalar("top_k", 2, \.topK),
        .optional("axis", 3, \.axis),
    ])
}
