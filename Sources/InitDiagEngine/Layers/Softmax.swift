import InitDiagCore
import InitDiagTrace
/// Softmax over one axis as Caffe computes it (BVLC/caffe src/caffe/layers/softmax_layer.cpp):
/// per (outer, inner) position, subtract the maximum over the axis, exponentiate, divide by the
/// sum. Shared by SoftmaxLayer and SoftmaxWithLossLayer.
struct SoftmaxKernel {
    var outer = 0, channels = 0, inner = 0

    /// p = softmax(x) along the channel axis; `scratch` holds 2·inner floats (max and sum).
    /// x and p may be the same buffer.
    func forward(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>) {
        let c = channels, inner = inner, dim = c * inner
        layerRowChunks(outer, rowLength: dim) { o in
            let src = x + o * dim, dst = p + o * dim
            for k in 0..<inner {
                // Caffe starts from channel 0 and keeps std::max(scale, x) = (scale < x ? x : scale).
                var m = src[k]
                for j in 0..<c { let v = src[j * inner + k]; if m < v { m = v } }
                var sum: Float = 0
                for j in 0..<c {
                    let e = softmaxExpf(src[j * inner + k] - m)
                    dst[j * inner + k] = e
                    sum += e
                }
                for j in 0..<c { dst[j * inner + k] /= sum }
            }
        }
    }

    /// dx = (dy − Σ_c dy·p)·p per position (Caffe softmax Backward_cpu). dx may alias dy.
    func backward(_ p: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        let c = channels, inner = inner, dim = c * inner
        layerRowChunks(outer, rowLength: dim) { o in
            let base = o * dim
            for k in 0..<inner {
                var dot: Float = 0
                for j in 0..<c { let i = base + j * inner + k; dot += dy[i] * p[i] }
                for j in 0..<c { let i = base + j * inner + k; dx[i] = (dy[i] - dot) * p[i] }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func softmaxExpf(_ x: Float) -> Float { Glibc.expf(x) }
@inline(__always) func softmaxLogf(_ x: Float) -> Float { Glibc.logf(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func softmaxExpf(_ x: Float) -> Float { Darwin.expf(x) }
@inline(__always) func softmaxLogf(_ x: Float) -> Float { Darwin.logf(x) }
#endif

/// Caffe's Softmax layer (softmax_param.axis, default 1). In-place supported.
public final class SoftmaxLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let axis: Int32
    private var kernel = SoftmaxKernel()

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    /// Probabilities, not a Gaussian signal: the chain restarts from the measurement (not `.stop`,
    /// so a Softmax feeding a loss still shows its measured moments in the chained series).
    public var meanField: MeanFieldRule { .restart }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        axis = param.softmaxParam?.axis ?? 1
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        let a = try resolveLayerAxis(Int(axis), numAxes: b.numAxes, blob: b, param)
        kernel = SoftmaxKernel(outer: b.count(from: 0, to: a), channels: b.shape[a], inner: b.count(from: a + 1))
        if top[0] !== b { top[0].reshape(like: b) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        kernel.forward(bottom[0].data, top[0].data)
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        kernel.backward(top[0].data, top[0].diff, bottom[0].diff)
    }
}
