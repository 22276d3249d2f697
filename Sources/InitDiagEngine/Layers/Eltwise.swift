import InitDiagCore
import InitDiagTrace
import CBLAS

/// Caffe's Eltwise (BVLC/caffe src/caffe/layers/eltwise_layer.cpp) over ≥ 2 bottoms of one shape.
///
/// SUM: y = Σ coeff_i·x_i (start at 0, one axpy per bottom; coeff default 1, one per bottom);
/// dx_i = coeff_i·dy (a copy when coeff_i = 1).
/// PROD: y = x_0·x_1·…; dx_i = (Π_{j≠i} x_j)·dy with stable_prod_grad (default), else (y/x_i)·dy.
/// MAX: y = max; ties between bottoms 0 and 1 go to 1 (`a > b` picks a), later bottoms must be
/// strictly greater; dx_i = dy where bottom i was chosen, else 0.
/// Not in place (Caffe zeroes the top before reading bottoms for SUM).
public final class EltwiseLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let operation: EltwiseParameter.EltwiseOp
    public let stableProdGrad: Bool
    private let givenCoefficients: [Float]
    public private(set) var coefficients: [Float] = []
    /// Index of the chosen bottom per element for MAX (Caffe's max_idx_), allocated at reshape.
    private var argmax: UnsafeMutablePointer<Int32>
    private var argmaxCapacity = 1

    public static var minBottoms: Int { 2 }
    public static var exactTops: Int? { 1 }
    /// A sum, product or maximum of several signals is not modelled: the chain restarts.
    public var meanField: MeanFieldRule { .restart }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.eltwiseParam ?? EltwiseParameter()
        operation = p.operation
        stableProdGrad = p.stableProdGrad
        givenCoefficients = p.coeff
        if p.operation == .PROD && !p.coeff.isEmpty {
            throw InputError("layer '\(param.name)' (Eltwise): coeff is only allowed for operation SUM")
        }
        argmax = .allocate(capacity: 1)
        argmax.initialize(to: -1)
    }

    deinit { argmax.deallocate() }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard givenCoefficients.isEmpty || givenCoefficients.count == bottom.count else {
            throw InputError("layer '\(param.name)' (Eltwise): \(givenCoefficients.count) coeff values for \(bottom.count) bottoms; give one per bottom")
        }
        coefficients = givenCoefficients.isEmpty ? Array(repeating: 1, count: bottom.count) : givenCoefficients
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        for (i, b) in bottom.enumerated().dropFirst() where b.shape != bottom[0].shape {
            throw shapeError(param, "bottom[0] \(bottom[0].shapeString) and bottom[\(i)] \(b.shapeString) differ")
        }
        if bottom.contains(where: { $0 === top[0] }) {
            throw shapeError(param, "Eltwise does not compute in place")
        }
        top[0].reshape(like: bottom[0])
        let n = bottom[0].count
        if operation == .MAX, n > argmaxCapacity {
            argmax.deallocate()
            argmax = .allocate(capacity: n)
            argmaxCapacity = n
            argmax.initialize(repeating: -1, count: n)
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let n = top[0].count, y = top[0].data
        switch operation {
        case .PROD:
            let a = bottom[0].data, b = bottom[1].data
            parallelChunks(n) { r in for i in r { y[i] = a[i] * b[i] } }
            for blob in bottom.dropFirst(2) {
                let x = blob.data
                parallelChunks(n) { r in for i in r { y[i] = y[i] * x[i] } }
            }
        case .SUM:
            y.update(repeating: 0, count: n)
            // caffe_axpy is cblas_saxpy (y = coeff·x + y); the same call keeps the BLAS's own
            // rounding (a fused multiply-add in OpenBLAS's vector kernels).
            for (blob, coeff) in zip(bottom, coefficients) {
                cblas_saxpy(blasint(n), coeff, blob.data, 1, y, 1)
            }
        case .MAX:
            let a = bottom[0].data, b = bottom[1].data, m = argmax
            parallelChunks(n) { r in
                for i in r {
                    if a[i] > b[i] { y[i] = a[i]; m[i] = 0 } else { y[i] = b[i]; m[i] = 1 }
                }
            }
            for (k, blob) in bottom.enumerated().dropFirst(2) {
                let x = blob.data, idx = Int32(k)
                parallelChunks(n) { r in
                    for i in r where x[i] > y[i] { y[i] = x[i]; m[i] = idx }
                }
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let n = top[0].count, dy = top[0].diff, y = top[0].data
        for (i, blob) in bottom.enumerated() where i < propagateDown.count && propagateDown[i] {
            let dx = blob.diff
            switch operation {
            case .PROD:
                if stableProdGrad {
                    // Caffe: copy the first other bottom, multiply by the rest in order.
                    var initialized = false
                    for (j, other) in bottom.enumerated() where j != i {
                        let o = other.data
                        if !initialized {
                            dx.update(from: o, count: n)
                            initialized = true
                        } else {
                            parallelChunks(n) { r in for e in r { dx[e] = o[e] * dx[e] } }
                        }
                    }
                } else {
                    let x = blob.data
                    parallelChunks(n) { r in for e in r { dx[e] = y[e] / x[e] } }
                }
                parallelChunks(n) { r in for e in r { dx[e] = dx[e] * dy[e] } }
            case .SUM:
                let coeff = coefficients[i]
                if coeff == 1 {
                    dx.update(from: dy, count: n)
                } else {
                    parallelChunks(n) { r in for e in r { dx[e] = coeff * dy[e] } }
                }
            case .MAX:
                let m = argmax, idx = Int32(i)
                parallelChunks(n) { r in for e in r { dx[e] = m[e] == idx ? dy[e] : 0 } }
            }
        }
    }
}
