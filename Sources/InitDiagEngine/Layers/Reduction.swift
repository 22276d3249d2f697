import InitDiagCore
import InitDiagTrace
import CBLAS

/// Caffe's Reduction (BVLC/caffe src/caffe/layers/reduction_layer.cpp): the axes from `axis`
/// (default 0) on are reduced; top shape = bottom shape[0 ..< axis] (a scalar for axis 0). Per
/// row i of dim = count(axis) values: SUM Σx, ASUM Σ|x|, SUMSQ Σx², MEAN Σx/dim, each × coeff
/// (default 1; MEAN's coefficient is coeff/dim). Sums go through BLAS sdot/sasum as in Caffe.
/// Backward: dx = c·dy_i (SUM, MEAN), c·dy_i·sign(x) (ASUM, sign(0) = 0), 2c·dy_i·x (SUMSQ),
/// c the coefficient above.
public final class ReductionLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let operation: ReductionParameter.ReductionOp
    private var rows = 0, dim = 0
    private var coeff: Float = 1
    private let ones = Blob(name: "reduction_ones")

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    public var meanField: MeanFieldRule { .restart }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        operation = param.reductionParam?.operation ?? .SUM
        guard (param.reductionParam?.coeff ?? 1).isFinite else { throw shapeError(param, "coeff must be finite") }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        let p = param.reductionParam ?? ReductionParameter()
        let axis = try resolveLayerAxis(Int(p.axis), numAxes: b.numAxes, blob: b, param)
        if top[0] === b { throw shapeError(param, "Reduction does not compute in place") }
        top[0].reshape(Array(b.shape[..<axis]))
        rows = b.count(from: 0, to: axis)
        dim = b.count(from: axis)
        coeff = p.coeff
        if operation == .MEAN { coeff /= Float(dim) }
        if operation == .SUM || operation == .MEAN, ones.count != dim {
            ones.reshape([dim])
            ones.data.update(repeating: 1, count: dim)
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = UnsafePointer(bottom[0].data), y = top[0].data, dim = self.dim, op = operation
        let ones = UnsafePointer(self.ones.data)
        let n = blasint(dim)
        layerRowChunks(rows, rowLength: dim) { i in
            let r = x + i * dim
            switch op {
            case .SUM, .MEAN: y[i] = cblas_sdot(n, ones, 1, r, 1)
            case .ASUM: y[i] = cblas_sasum(n, r, 1)
            case .SUMSQ: y[i] = cblas_sdot(n, r, 1, r, 1)
            }
        }
        if coeff != 1 { for i in 0..<rows { y[i] *= coeff } }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let x = UnsafePointer(bottom[0].data), dx = bottom[0].diff, dy = UnsafePointer(top[0].diff)
        let dim = self.dim, op = operation, coeff = self.coeff
        layerRowChunks(rows, rowLength: dim) { i in
            let c = dy[i] * coeff
            let r = x + i * dim, d = dx + i * dim
            switch op {
            case .SUM, .MEAN: for j in 0..<dim { d[j] = c }
            case .ASUM:
                // caffe_cpu_sign then caffe_scal.
                for j in 0..<dim { let s: Float = r[j] > 0 ? 1 : (r[j] < 0 ? -1 : 0); d[j] = c * s }
            case .SUMSQ:
                let c2 = 2 * c
                for j in 0..<dim { d[j] = c2 * r[j] }
            }
        }
    }
}
