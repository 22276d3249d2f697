import InitDiagCore
import InitDiagTrace
/// Caffe's Silence (BVLC/caffe src/caffe/layers/silence_layer.cpp): takes any number of bottoms
/// (at least one), has no tops and computes nothing forward — it keeps unused blobs from being
/// net outputs. Backward writes zero diffs to the bottoms whose propagateDown is set.
public final class SilenceLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public static var minBottoms: Int { 1 }
    public static var exactTops: Int? { 0 }
    public var meanField: MeanFieldRule { .stop }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {}

    public func forward(bottom: [Blob], top: [Blob]) {}

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        for (i, b) in bottom.enumerated() where i < propagateDown.count && propagateDown[i] {
            b.zeroDiff()
        }
    }
}
