import InitDiagCore
import InitDiagTrace
/// ReshapeParameter (BVLC/caffe caffe.proto; LayerParameter.reshape_param = 133).
public struct ReshapeParameter: Sendable, Equatable {
    public var shape: BlobShape? = nil                             // 1
    public var axis: Int32 = 0                                     // 2
    public var numAxes: Int32 = -1                                 // 3
    public init() {}
}

extension ReshapeParameter: CaffeMessage {
    static let schema = MessageSchema<ReshapeParameter>("ReshapeParameter", [
        .message("shape", 1, \.shape),
        .scalar("axis", 2, \.axis),
        .scalar("num_axes", 3, \.numAxes),
    ])
}
