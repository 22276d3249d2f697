import InitDiagCore
import InitDiagTrace
// ClipParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.clip_param = 148):
// y = max(min, min(x, max)). Both fields are `required` in caffe.proto: they are optional here so
// that a missing one is reported by the layer, naming it.

public struct ClipParameter: Sendable, Equatable {
    public var min: Float? = nil                                   // 1 (required)
    public var max: Float? = nil                                   // 2 (required)
    public init() {}
}

extension ClipParameter: CaffeMessage {
    static let schema = MessageSchema<ClipParameter>("ClipParameter", [
        .optional("min", 1, \.min),
        .optional("max", 2, \.max),
    ])
}
