import InitDiagCore
import InitDiagTrace
import CBLAS

/// Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, with op(A) M×K, op(B) K×N.
/// Every matrix product in the engine goes through here (OpenBLAS).
///
/// Threads: OpenBLAS always runs single-threaded (`Engine.configureThreads` sets it to 1). A product
/// large enough to pay for it is split here, over `Engine.threads` disjoint column (or row) blocks
/// of C, each computed by one single-threaded OpenBLAS call on a thread of the engine's own pool
/// (`parallelFor`, Dispatch: idle workers block, they never spin). Two thread pools that each spin
/// while the other works — OpenBLAS's and the engine's — cost a quarter of all cycles in
/// `sched_yield` before. The split depends only on the shape and the thread count (never on
/// timing), so a given thread count always gives the same result. Callers that already run inside a `parallelFor`
/// use `sgemmSerial`.
@inline(__always)
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                  alpha: Float, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    sgemmSplit(threads: Engine.threads, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
               a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// `sgemm` split for `threads` threads (the blocks are run through `parallelFor`).
@inline(__always)
func sgemmSplit(threads: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                alpha: Float, a: UnsafePointer<Float>, lda: Int?, b: UnsafePointer<Float>, ldb: Int?,
                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int?) {
    let la = lda ?? (transA ? m : k)
    let lb = ldb ?? (transB ? k : n)
    let lc = ldc ?? n
    let t = GEMMSplit.parts(m: m, n: n, k: k, threads: threads)
    if t <= 1 {
        sgemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: la,
                    b: b, ldb: lb, beta: beta, c: c, ldc: lc)
        return
    }
    if n >= m {
        // Column blocks of C: B's columns (rows of Bᵀ) and C's columns.
        let step = GEMMSplit.step(n, parts: t)
        parallelFor(t) { part in
            let lo = part * step, hi = min(n, lo + step)
            guard lo < hi else { return }
            sgemmSerial(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: la,
                        b: transB ? b + lo * lb : b + lo, ldb: lb, beta: beta, c: c + lo, ldc: lc)
        }
    } else {
        // Row blocks of C: A's rows (columns of Aᵀ) and C's rows.
        let step = GEMMSplit.step(m, parts: t)
        parallelFor(t) { part in
            let lo = part * step, hi = min(m, lo + step)
            guard lo < hi else { return }
            sgemmSerial(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                        a: transA ? a + lo : a + lo * la, lda: la,
                        b: b, ldb: lb, beta: beta, c: c + lo * lc, ldc: lc)
        }
    }
}

/// How `sgemm` splits a product over threads: into `threads` blocks of the longer side of C when
/// the product has at least `minFLOPs` and each block keeps at least 16 columns or rows.
public enum GEMMSplit {
    /// Below ≈ 4 MFLOP (a few hundred µs on one core) the hand-off costs more than it saves.
    public static let minFLOPs = 4_000_000

    @inline(__always)
    static func parts(m: Int, n: Int, k: Int, threads: Int) -> Int {
        guard threads > 1 else { return 1 }
        let flops = 2 * m * n * k
        guard flops >= minFLOPs else { return 1 }
        return max(1, min(threads, max(m, n) / 16))
    }

    /// Block length: the side divided evenly, rounded up to a multiple of 16 (whole SIMD panels).
    @inline(__always)
    static func step(_ side: Int, parts: Int) -> Int {
        let s = (side + parts - 1) / parts
        return (s + 15) / 16 * 16
    }
}

/// `sgemm` on the calling thread only (for products inside an engine-level parallel loop).
@inline(__always)
public func sgemmSerial(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
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

/// y = alpha·x + y (cblas_saxpy) over `parallelChunks` of the vector: elementwise, so the result
/// does not depend on the split.
@inline(__always)
public func saxpyParallel(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    parallelChunks(n, minChunk: 65_536) { r in
        cblas_saxpy(blasint(r.count), alpha, x + r.lowerBound, 1, y + r.lowerBound, 1)
    }
}

/// x = alpha·x (cblas_sscal) over `parallelChunks` of the vector.
@inline(__always)
public func sscalParallel(_ n: Int, _ alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    parallelChunks(n, minChunk: 65_536) { r in
        cblas_sscal(blasint(r.count), alpha, x + r.lowerBound, 1)
    }
}

/// OpenBLAS runs on one thread always: the engine parallelises around it (see `sgemm`).
func setBLASThreads(_ n: Int) { openblas_set_num_threads(1) }

public func blasCoreName() -> String {
    guard let p = openblas_get_corename() else { return "unknown" }
    return String(cString: p)
}
