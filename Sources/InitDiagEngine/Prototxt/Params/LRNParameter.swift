import InitDiagCore
import InitDiagTrace
/// LRNParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter.lrn_param = 118,
/// V1LayerParameter.lrn_param = 18).
public struct LRNParameter: Sendable, Equatable {
    public enum NormRegion: String, Sendable, CaseIterable { case ACROSS_CHANNELS, WITHIN_CHANNEL }
    public var localSize: UInt32 = 5                               // 1
    public var alpha: Float = 1                                    // 2
    public var beta: Float = 0.75                                  // 3
    public var normRegion: NormRegion = .ACROSS_CHANNELS           // 4
    public var k: Float = 1                                        // 5
    public var engine: ComputeEngine = .DEFAULT                    // 6
    public init() {}
}

extension LRNParameter.NormRegion: ProtoEnum { static var protoEnumName: String { "NormRegion" } }

extension LRNParameter: CaffeMessage {
    static let schema = MessageSchema<LRNParameter>("LRNParameter", [
        .scalar("local_size", 1, \.localSize),
        .scalar("alpha", 2, \.alpha),
        .scalar("beta", 3, \.beta),
        .scalar("norm_region", 4, \.normRegion),
        .scalar("k", 5, \.k),
        .scalar("engine", 6, \.engine),
    ])
}
