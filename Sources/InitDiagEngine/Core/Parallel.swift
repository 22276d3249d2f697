import InitDiagCore
import InitDiagTrace
import Dispatch

/// Thread count used for the engine's own loops. There is one pool: Dispatch's. OpenBLAS is set to
/// one thread (its own workers would spin in `sched_yield` while the engine's loops run, and the
/// engine's while BLAS runs); large products are split by `sgemm` over this pool instead.
/// Results depend on the thread count only through the chunking of those splits, never on timing.
public enum Engine {
    nonisolated(unsafe) public private(set) static var threads: Int = 1

    public static func configureThreads(_ n: Int) {
        threads = max(1, n)
        setBLASThreads(threads)
    }
}

/// Runs `body(i)` for i in 0..<n on up to `Engine.threads` threads. Each i must touch disjoint
/// memory. Falls back to a plain loop when n or the thread count is 1.
@inline(__always)
public func parallelFor(_ n: Int, _ body: (Int) -> Void) {
    let t = Engine.threads
    if n <= 1 || t <= 1 {
        for i in 0..<n { body(i) }
        return
    }
    // The caller guarantees disjoint writes; the closure only lives for this call.
    withoutActuallyEscaping(body) { body in
        let shared = unsafeBitCast(body, to: (@Sendable (Int) -> Void).self)
        DispatchQueue.concurrentPerform(iterations: n) { i in shared(i) }
    }
}

/// Splits 0..<n into `Engine.threads` contiguous chunks and runs `body(range)` for each.
@inline(__always)
public func parallelChunks(_ n: Int, minChunk: Int = 16_384, _ body: (Range<Int>) -> Void) {
    let t = min(Engine.threads, max(1, n / max(minChunk, 1)))
    if t <= 1 { body(0..<n); return }
    let step = (n + t - 1) / t
    withoutActuallyEscaping(body) { body in
        let shared = unsafeBitCast(body, to: (@Sendable (Range<Int>) -> Void).self)
        DispatchQueue.concurrentPerform(iterations: t) { k in
            let lo = k * step, hi = min(n, lo + step)
            if lo < hi { shared(lo..<hi) }
        }
    }
}
