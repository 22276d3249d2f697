import InitDiagCore
import InitDiagTrace
/// Caffe's ArgMax (BVLC/caffe src/caffe/layers/argmax_layer.cpp): the indices (as floats) of
/// the top_k (default 1) largest values. With `axis`: along that axis, top shape = bottom shape
/// with axis → top_k; with out_max_val the values instead of the indices. Without `axis`: over
/// count(1) values per sample, top shape (N, 1 or 2, top_k, 1, …) padded to ≥ 3 axes, with
/// out_max_val both indices (channel 0) and values (channel 1). Ranking is std::greater on
/// (value, index) pairs as Caffe's partial_sort: ties go to the larger index. No backward
/// (Caffe: NOT_IMPLEMENTED); a requested bottom diff is set to 0.
public final class ArgMaxLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let outMaxVal: Bool
    public let topK: Int
    private var axis: Int? = nil
    private var dim = 0, axisDist = 1

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    public static var role: LayerRole { .metric }
    public var meanField: MeanFieldRule { .stop }
    public func allowForceBackward(bottomIndex: Int) -> Bool { false }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.argmaxParam ?? ArgMaxParameter()
        outMaxVal = p.outMaxVal
        topK = Int(p.topK)
        guard topK >= 1 else { throw shapeError(param, "top_k must not be less than 1") }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        guard top[0] !== b else { throw shapeError(param, "ArgMax does not compute in place") }
        if let a = param.argmaxParam?.axis {
            let ax = try resolveLayerAxis(Int(a), numAxes: b.numAxes, blob: b, param)
            guard topK <= b.shape[ax] else {
                throw shapeError(param, "top_k (\(topK)) must be less than or equal to the dimension of the axis (\(b.shape[ax]), bottom \(b.shapeString))")
            }
            axis = ax
            dim = b.shape[ax]
            axisDist = b.count(from: ax) / max(dim, 1)
            var shape = b.shape
            shape[ax] = topK
            top[0].reshape(shape)
        } else {
            guard b.numAxes >= 1, topK <= b.count(from: 1) else {
                throw shapeError(param, "top_k (\(topK)) must be less than or equal to the dimension of the flattened bottom blob per instance (bottom \(b.shapeString))")
            }
            axis = nil
            dim = b.count(from: 1)
            axisDist = 1
            var shape = Array(repeating: 1, count: max(b.numAxes, 3))
            shape[0] = b.shape[0]
            shape[2] = topK
            if outMaxVal { shape[1] = 2 }
            top[0].reshape(shape)
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = UnsafePointer(bottom[0].data), y = top[0].data
        let dim = self.dim, dist = axisDist, k = topK, hasAxis = axis != nil, outMax = outMaxVal
        let num = dim == 0 ? 0 : bottom[0].count / dim
        parallelChunks(num, minChunk: max(1, 16_384 / max(dim, 1))) { range in
            var pairs = [(Float, Int)](repeating: (0, 0), count: dim)
            for i in range {
                for j in 0..<dim { pairs[j] = (x[(i / dist * dim + j) * dist + i % dist], j) }
                // std::greater<std::pair<Dtype, int>>: larger value first, then larger index.
                pairs.sort { a, b in a.0 > b.0 || (a.0 == b.0 && a.1 > b.1) }
                for j in 0..<k {
                    if outMax {
                        if hasAxis {
                            y[(i / dist * k + j) * dist + i % dist] = pairs[j].0
                        } else {
                            y[2 * i * k + j] = Float(pairs[j].1)
                            y[2 * i * k + k + j] = pairs[j].0
                        }
                    } else {
                        y[(i / dist * k + j) * dist + i % dist] = Float(pairs[j].1)
                    }
                }
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        if propagateDown.first == true { bottom[0].zeroDiff() }
    }
}
