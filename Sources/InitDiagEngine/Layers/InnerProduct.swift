import InitDiagCore
import InitDiagTrace
/// Caffe's InnerProduct layer (BVLC/caffe src/caffe/layers/inner_product_layer.cpp).
///
/// The bottom is viewed as an M × K matrix, M = count of the axes before `axis`, K = count from
/// `axis` on (row-major flattening, i.e. (c, h, w) order as PyTorch's view). y = x·Wᵀ + b with W
/// (N, K), or y = x·W with `transpose` (W stored (K, N)). Top shape = bottom shape[0..<axis] + [N].
public final class InnerProductLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []

    public let numOutput: Int
    public let biasTerm: Bool
    public let transpose: Bool
    public private(set) var axis = 1
    /// Rows (M) and input size (K) of the current bottom.
    public private(set) var rows = 0
    public private(set) var inputSize = 0
    /// M ones for the bias gradient (grown at reshape).
    private let ones = Blob(name: "ones")
    private var onesFilled = 0

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }

    // Per-type knowledge (Core/LayerTraits.swift).
    public static var role: LayerRole { .weighted }
    /// z = Wx + b with zero-mean i.i.d. weights: m' = σ_w²·m + σ_b² (docs/mean-field.md).
    public var meanField: MeanFieldRule { .linear }
    /// weight_filler, then bias_filler when bias_term; an omitted filler is Caffe's constant 0.
    public var declaredFillers: [FillerParameter] {
        let p = param.innerProductParam ?? InnerProductParameter()
        let zero = FillerParameter(type: "constant")
        return Array([p.weightFiller ?? zero, p.biasFiller ?? zero].prefix(blobs.count))
    }
    /// The schemes replace the weight and the bias. Their fans are read in PyTorch's (out, in)
    /// layout: a transposed InnerProduct stores its weight as (in, out), so the shape is reversed.
    public var schemeTargets: SchemeTargets? {
        guard let w = blobs.first else { return nil }
        return SchemeTargets(weight: 0, bias: blobs.count > 1 ? 1 : nil,
                             fanShape: transpose ? w.shape.reversed() : w.shape)
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.innerProductParam ?? InnerProductParameter()
        guard p.numOutput > 0 else { throw shapeError(param, "num_output must be positive") }
        numOutput = Int(p.numOutput)
        biasTerm = p.biasTerm
        transpose = p.transpose
    }

    private func canonicalAxis(_ b: Blob) throws -> Int {
        let a = Int((param.innerProductParam ?? InnerProductParameter()).axis)
        // Caffe Blob::CanonicalAxisIndex: −num_axes ≤ axis < num_axes.
        guard a >= -b.numAxes, a < b.numAxes else {
            throw shapeError(param, "axis \(a) out of range for bottom \(b.shapeString)")
        }
        return a < 0 ? a + b.numAxes : a
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        axis = try canonicalAxis(b)
        let k = b.count(from: axis)
        let weightShape = transpose ? [k, numOutput] : [numOutput, k]
        blobs = [Blob(name: "\(param.name).weight", shape: weightShape)]
        if biasTerm { blobs.append(Blob(name: "\(param.name).bias", shape: [numOutput])) }
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        axis = try canonicalAxis(b)
        guard top[0] !== b else {
            throw shapeError(param, "in-place inner product is not supported (top '\(b.name)' is its bottom)")
        }
        let k = b.count(from: axis)
        let weight = blobs[0]
        let weightK = transpose ? weight.shape[0] : weight.shape[1]
        // Caffe Reshape: "Input size incompatible with inner product parameters."
        guard k == weightK else {
            throw shapeError(param, "input size \(k) (bottom \(b.shapeString) from axis \(axis)) does not match weight \(weight.shapeString)")
        }
        inputSize = k
        rows = b.count(from: 0, to: axis)
        if onesFilled != rows {
            ones.reshape([rows])
            ones.data.update(repeating: 1, count: rows)
            onesFilled = rows
        }
        top[0].reshape(Array(b.shape[0..<axis]) + [numOutput])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let m = rows, n = numOutput, k = inputSize
        let x = UnsafePointer(bottom[0].data), y = top[0].data
        // y (M×N) = x (M×K) · Wᵀ, W (N×K); transposed storage (K×N): y = x · W.
        sgemm(transA: false, transB: !transpose, m: m, n: n, k: k, alpha: 1,
              a: x, b: blobs[0].data, beta: 0, c: y)
        if biasTerm {
            // Caffe adds the bias with a rank-1 GEMM after the product: one float add per element.
            let bias = UnsafePointer(blobs[1].data)
            parallelChunks(m, minChunk: max(1, 32_768 / max(n, 1))) { range in
                for r in range {
                    let row = y + r * n
                    for j in 0..<n { row[j] += bias[j] }
                }
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let m = rows, n = numOutput, k = inputSize
        let dy = UnsafePointer(top[0].diff), x = UnsafePointer(bottom[0].data)
        let weight = blobs[0]
        // Parameter diffs accumulate (beta 1).
        if transpose {
            // dW (K×N) += xᵀ · dy
            sgemm(transA: true, transB: false, m: k, n: n, k: m, alpha: 1, a: x, b: dy, beta: 1, c: weight.diff)
        } else {
            // dW (N×K) += dyᵀ · x
            sgemm(transA: true, transB: false, m: n, n: k, k: m, alpha: 1, a: dy, b: x, beta: 1, c: weight.diff)
        }
        if biasTerm {
            // Caffe: db = 1·(dyᵀ·1) + 1·db (gemv with a ones vector, beta 1).
            sgemv(transA: true, m: m, n: n, alpha: 1, a: dy, x: ones.data, beta: 1, y: blobs[1].diff)
        }
        if propagateDown.first ?? false {
            // dx (M×K) = dy (M×N) · W (N×K); transposed storage (K×N): dx = dy · Wᵀ. Overwrites.
            sgemm(transA: false, transB: transpose, m: m, n: k, k: n, alpha: 1, a: dy, b: weight.data,
                  beta: 0, c: bottom[0].diff)
        }
    }
}
