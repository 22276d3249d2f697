import InitDiagCore
import InitDiagTrace
/// CropParameter (BVLC/caffe caffe.proto; LayerParameter.crop_param = 144).
public struct CropParameter: Sendable, Equatable {
    public var axis: Int32 = 2                                     // 1
    public var offset: [UInt32] = []                               // 2
    public init() {}
}

extension CropParameter: CaffeMessage {
    static let schema = MessageSchema<CropParameter>("CropParameter", [
        .scalar("axis", 1, \.axis),
        .repeated("offset", 2, \.offset),
    ])
}
