import InitDiagCore
import InitDiagTrace
/// TileParameter (BVLC/caffe caffe.proto; LayerParameter.tile_param = 138).
public struct TileParameter: Sendable, Equatable {
    public var axis: Int32 = 1                                     // 1
    public var tiles: Int32? = nil                                 // 2 (required by TileLayer)
    public init() {}
}

extension TileParameter: CaffeMessage {
    static let schema = MessageSchema<TileParameter>("TileParameter", [
        .scalar("axis", 1, \.axis),
        .optional("tiles", 2, \.tiles),
    ])
}
