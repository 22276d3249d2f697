import InitDiagCore
import InitDiagTrace
/// SliceParameter (BVLC/caffe caffe.proto; LayerParameter.slice_param = 126,
/// V1LayerParameter.slice_param = 31). `slice_dim` is the legacy form of `axis`.
public struct SliceParameter: Sendable, Equatable {
    public var axis: Int32 = 1                                     // 3
    public var slicePoint: [UInt32] = []                           // 2
    public var sliceDim: UInt32? = nil                             // 1 (legacy) [default = 1]
    public init() {}
}

extension SliceParameter: CaffeMessage {
    static let schema = MessageSchema<SliceParameter>("SliceParameter", [
        .scalar("axis", 3, \.axis),
        .repeated("slice_point", 2, \.slicePoint),
        .optional("slice_dim", 1, \.sliceDim),
    ])
}
