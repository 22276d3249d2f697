import InitDiagCore
import InitDiagTrace
import CBLAS

/// Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, with op(A) M×K, op(B) K×N.
/// Every matrix product in the engine goes through here (OpenBLAS).
@inline(__always)
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                  alpha: Float, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    let la = lda ?? (transA ? m : k)
    let lb = ldb ?? (transB ? k : n)
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(la), b, blasint(lb), beta, c,
                blasint(ldc ?? n))
}

/// y = alpha·op(A)·x + beta·y, A row-major M×N.
@inline(__always)
public func sgemv(transA: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>,
                  x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
    cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), alpha,
                a, blasint(n), x, 1, beta, y, 1)
}

func setBLASThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

public func blasCoreName() -> String {
    guard let p = openblas_get_corename() else { return "unknown" }
    return String(cString: p)
}
