import Dispatch

/// The statistics of one blob at one step, with the names the trace uses (SPEC.md §3).
///
/// Conventions (all accumulated in Double over the Float values):
/// * Non-finite values (NaN, ±Inf) are only counted, in `nonfiniteCount`; every other statistic
///   is over the finite values alone, so one NaN does not hide what the rest of the blob does.
///   The forward-only statistics (`betweenSampleStd`, `deadFraction`, `inputDependence`) are NaN
///   when the blob holds any non-finite value: a per-element variance over the batch is not
///   defined there, and the diagnosis reports divergence from `nonfiniteCount` anyway.
/// * `mean_abs` is Caffe debug_info's asum/count (BVLC/caffe src/caffe/net.cpp ForwardDebugInfo);
///   `std` is the population standard deviation (divide by the count), `l2` = sqrt(Σ x²),
///   `zero_fraction` = share of finite values exactly 0.
/// * With no finite value, mean/std/mean_abs/min/max/zero_fraction are NaN and l2 is 0.
/// * `betweenSampleStd` = sqrt(mean over j of Var_n(x[n, j])), Var_n the population variance over
///   the N samples of the batch (leading axis) — 0 for a batch of one sample.
/// * `inputDependence` = mean_j Var_n(x[n, j]) / Var(x over all n, j), with 0/0 defined as 0 (a
///   constant blob does not depend on the input). By the law of total variance it lies in [0, 1]
///   up to rounding.
/// * `deadFraction`: the share of channels (axis 1; for a 2-D blob its units; for a 1-D blob the
///   single unit) whose every value over all samples and positions is ≤ 0.
public struct BlobStats: Sendable {
    public var mean: Double
    public var std: Double
    public var meanAbs: Double
    public var l2: Double
    public var min: Double
    public var max: Double
    public var zeroFraction: Double
    public var nonfiniteCount: Int
    public var betweenSampleStd: Double
    public var deadFraction: Double
    public var inputDependence: Double

    /// Statistic names of every recorded blob, in the order of `values`.
    public static let names = ["mean", "std", "mean_abs", "l2", "min", "max", "zero_fraction", "nonfinite_count"]
    /// Statistic names of forward blobs, in the order of `forwardValues`.
    public static let forwardNames = names + ["between_sample_std", "dead_fraction", "input_dependence"]

    public init(mean: Double = .nan, std: Double = .nan, meanAbs: Double = .nan, l2: Double = 0,
                min: Double = .nan, max: Double = .nan, zeroFraction: Double = .nan, nonfiniteCount: Int = 0,
                betweenSampleStd: Double = .nan, deadFraction: Double = .nan, inputDependence: Double = .nan) {
        self.mean = mean; self.std = std; self.meanAbs = meanAbs; self.l2 = l2
        self.min = min; self.max = max; self.zeroFraction = zeroFraction; self.nonfiniteCount = nonfiniteCount
        self.betweenSampleStd = betweenSampleStd; self.deadFraction = deadFraction; self.inputDependence = inputDependence
    }

    /// The statistics in `names` order.
    public var values: [Double] {
        [mean, std, meanAbs, l2, min, max, zeroFraction, Double(nonfiniteCount)]
    }

    /// The statistics in `forwardNames` order.
    public var forwardValues: [Double] { values + [betweenSampleStd, deadFraction, inputDependence] }

    /// Writes `names.count` (or, with `forward`, `forwardNames.count`) values at `destination`:
    /// the step vector of TraceWriter is filled this way without allocating.
    public func store(into destination: UnsafeMutablePointer<Double>, forward: Bool) {
        destination[0] = mean; destination[1] = std; destination[2] = meanAbs; destination[3] = l2
        destination[4] = min; destination[5] = max; destination[6] = zeroFraction
        destination[7] = Double(nonfiniteCount)
        if forward {
            destination[8] = betweenSampleStd; destination[9] = deadFraction; destination[10] = inputDependence
        }
    }
}

/// One-pass blob statistics with reusable scratch memory. One instance per probe (not thread
/// safe itself; it runs its own threads).
///
/// Determinism: the pass is split into fixed chunks (65 536 elements; for forward blobs column
/// ranges of about 65 536 elements) whose partial sums are combined in chunk order, so the result
/// does not depend on the thread count at all: 1 and 2 threads give bit-identical statistics.
/// (`parallelChunks` is not used because its chunking follows the thread count.)
///
/// Accuracy: sums of (x − K) and (x − K)² with a shift K (the blob's first finite value; for the
/// per-element variances over the batch K_j = x[0, j]) avoid the cancellation of E[x²] − E[x]²
/// (the "shifted data" algorithm, Chan, Golub & LeVeque 1983): a constant blob, or an element that
/// is constant over the batch, gets a variance of exactly 0. The price is a relative error of
/// about ε·((K − mean)/std)² when the shift value is an outlier (1700 σ away: ~1e-10, tested).
///
/// Speed: the fast path reads 4 columns at a time as SIMD vectors and keeps every accumulator in
/// registers over the rows (forward blobs: the batch; other blobs: a [n/4, 4] view of the
/// buffer). It assumes finite values and checks afterwards (Σ(x − K_j)² is finite exactly when
/// every x is: Float's largest squared difference fits a Double); a chunk holding a NaN or Inf is
/// recomputed by the scalar path, which counts and skips non-finite values. Measured with -O on
/// a 128×64×32×32 blob, one thread: ≈0.4 G elements/s forward, ≈0.5 G/s flat (a plain Float sum
/// of the same buffer: ≈1.2 G/s); the scalar path ran at ≈0.06 G/s.
public final class BlobStatistics: @unchecked Sendable {
    /// Elements per chunk: large enough that the per-chunk overhead is negligible, small enough
    /// that a 2-core machine splits mid-sized blobs.
    public static let chunkElements = 1 << 16

    /// Threads to use; nil = `Engine.threads`.
    public var threads: Int?

    fileprivate struct Partial {
        var finite = 0
        var shiftedSum = 0.0
        var shiftedSquares = 0.0
        var absSum = 0.0
        var squares = 0.0
        var minimum = Double.infinity
        var maximum = -Double.infinity
        var zeros = 0
        var nonfinite = 0
        var varianceSum = 0.0
    }

    private var partials: UnsafeMutablePointer<Partial>
    private var partialCapacity = 0
    private var columnSum: UnsafeMutablePointer<Double>
    private var columnSquares: UnsafeMutablePointer<Double>
    private var columnAlive: UnsafeMutablePointer<UInt8>
    private var columnCapacity = 0

    public init(threads: Int? = nil) {
        self.threads = threads
        partials = .allocate(capacity: 1)
        columnSum = .allocate(capacity: 1)
        columnSquares = .allocate(capacity: 1)
        columnAlive = .allocate(capacity: 1)
    }

    deinit {
        partials.deallocate()
        columnSum.deallocate()
        columnSquares.deallocate()
        columnAlive.deallocate()
    }

    private func reservePartials(_ n: Int) {
        if n > partialCapacity {
            partials.deallocate()
            partials = .allocate(capacity: n)
            partialCapacity = n
        }
        partials.initialize(repeating: Partial(), count: n)
    }

    private func reserveColumns(_ n: Int) {
        if n > columnCapacity {
            columnSum.deallocate(); columnSquares.deallocate(); columnAlive.deallocate()
            columnSum = .allocate(capacity: n)
            columnSquares = .allocate(capacity: n)
            columnAlive = .allocate(capacity: n)
            columnCapacity = n
        }
    }

    /// The statistics every recorded blob gets (gradients, parameters).
    public func compute(_ values: UnsafeBufferPointer<Float>) -> BlobStats {
        let count = values.count
        guard count > 0, let base = values.baseAddress else { return BlobStats() }
        let shift = firstFinite(base, count)
        let chunk = BlobStatistics.chunkElements
        let chunks = (count + chunk - 1) / chunk
        reservePartials(chunks)
        let partials = self.partials
        statisticsRunChunks(chunks, threads: threads ?? Engine.threads) { c in
            let lo = c * chunk, hi = Swift.min(count, lo + chunk)
            // Fast path: the chunk as a [rows, 4] matrix plus a scalar tail of < 4 elements.
            let rows = (hi - lo) / 4
            if var p = simdColumns(base + lo, stride: 4, rows: rows, columns: 0..<(rows > 0 ? 4 : 0), shift: shift,
                                   perColumn: false, alive: nil),
               scalarTail(base, (lo + rows * 4)..<hi, shift: shift, into: &p) {
                partials[c] = p
            } else {
                partials[c] = flatPartial(base, lo..<hi, shift: shift)
            }
        }
        var stats = finishStats(combine(partials, chunks), shift: shift)
        stats.betweenSampleStd = .nan; stats.deadFraction = .nan; stats.inputDependence = .nan
        return stats
    }

    /// The statistics of a forward blob whose leading axis is the batch: everything `compute`
    /// gives plus betweenSampleStd, deadFraction and inputDependence. `shape` must hold
    /// `values.count` elements (otherwise only the `compute` statistics are returned); an empty
    /// shape is one sample.
    public func computeForward(_ values: UnsafeBufferPointer<Float>, shape: [Int]) -> BlobStats {
        let count = values.count
        guard count > 0, let base = values.baseAddress, shape.reduce(1, *) == count else {
            return compute(values)
        }
        let samples = shape.isEmpty ? 1 : shape[0]
        let perSample = count / samples
        let channels = shape.count >= 2 ? shape[1] : 1
        let positions = perSample / Swift.max(channels, 1)
        let shift = firstFinite(base, count)
        // Column ranges of ~chunkElements elements (all samples of those columns), a multiple of
        // the SIMD width.
        let columnsPerChunk = Swift.max(4, (BlobStatistics.chunkElements / samples) & ~3)
        let chunks = (perSample + columnsPerChunk - 1) / columnsPerChunk
        reservePartials(chunks)
        reserveColumns(perSample)
        let partials = self.partials, columnSum = self.columnSum
        let columnSquares = self.columnSquares, columnAlive = self.columnAlive
        statisticsRunChunks(chunks, threads: threads ?? Engine.threads) { c in
            let lo = c * columnsPerChunk, hi = Swift.min(perSample, lo + columnsPerChunk)
            if let p = simdColumns(base, stride: perSample, rows: samples, columns: lo..<hi, shift: shift,
                                   perColumn: true, alive: columnAlive) {
                partials[c] = p
            } else {
                partials[c] = forwardPartialScalar(base, samples: samples, perSample: perSample, columns: lo..<hi,
                                                   shift: shift, columnSum: columnSum,
                                                   columnSquares: columnSquares, columnAlive: columnAlive)
            }
        }
        let total = combine(partials, chunks)
        var stats = finishStats(total, shift: shift)
        if total.nonfinite > 0 {
            stats.betweenSampleStd = .nan; stats.deadFraction = .nan; stats.inputDependence = .nan
            return stats
        }
        let meanVariance = total.varianceSum / Double(perSample)
        stats.betweenSampleStd = meanVariance.squareRoot()
        let overall = stats.std * stats.std
        stats.inputDependence = overall > 0 ? meanVariance / overall : 0
        var dead = 0
        for c in 0..<channels {
            var alive = false
            let start = c * positions
            for j in start..<(start + positions) where columnAlive[j] != 0 { alive = true; break }
            if !alive { dead += 1 }
        }
        stats.deadFraction = channels > 0 ? Double(dead) / Double(channels) : .nan
        return stats
    }

    /// ‖update‖₂ / ‖weights‖₂ (SPEC.md §3 `param<i>/update_ratio`), both norms accumulated in
    /// Double in fixed order. 0/0 = 0 (nothing moved); a non-zero update of all-zero weights
    /// (e.g. zero-initialised biases at the first step) gives +∞.
    public static func updateRatio(update: UnsafeBufferPointer<Float>, weights: UnsafeBufferPointer<Float>) -> Double {
        let u = l2(update), w = l2(weights)
        if u == 0 { return 0 }
        return w > 0 ? u / w : .infinity
    }

    /// sqrt(Σ x²) accumulated in Double, 4 independent lanes combined in lane order.
    public static func l2(_ values: UnsafeBufferPointer<Float>) -> Double {
        guard let base = values.baseAddress else { return 0 }
        var lanes = SIMD4<Double>()
        var i = 0
        while i + 4 <= values.count {
            let v = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD4<Float>.self)
            let x = SIMD4<Double>(Double(v[0]), Double(v[1]), Double(v[2]), Double(v[3]))
            lanes += x * x
            i += 4
        }
        var sum = lanes[0] + lanes[1] + lanes[2] + lanes[3]
        while i < values.count { let x = Double(base[i]); sum += x * x; i += 1 }
        return sum.squareRoot()
    }

    /// Statistics of a blob's data (`forward` adds the batch statistics) or diff.
    public func compute(_ blob: Blob, diff: Bool = false, forward: Bool = false) -> BlobStats {
        let buffer = UnsafeBufferPointer(diff ? blob.diffBuffer : blob.dataBuffer)
        return forward ? computeForward(buffer, shape: blob.shape) : compute(buffer)
    }
}

private func combine(_ partials: UnsafeMutablePointer<BlobStatistics.Partial>, _ chunks: Int) -> BlobStatistics.Partial {
    var t = BlobStatistics.Partial()
    for c in 0..<chunks {
        let p = partials[c]
        t.finite += p.finite
        t.shiftedSum += p.shiftedSum
        t.shiftedSquares += p.shiftedSquares
        t.absSum += p.absSum
        t.squares += p.squares
        t.minimum = Swift.min(t.minimum, p.minimum)
        t.maximum = Swift.max(t.maximum, p.maximum)
        t.zeros += p.zeros
        t.nonfinite += p.nonfinite
        t.varianceSum += p.varianceSum
    }
    return t
}

private func firstFinite(_ base: UnsafePointer<Float>, _ count: Int) -> Double {
    for i in 0..<count where base[i].isFinite { return Double(base[i]) }
    return 0
}

/// Fast path over `columns` of a rows × stride matrix at `base`: 4 columns at a time, every
/// accumulator in registers across the rows. Per column j only Σd, Σd² (d = x − K_j, K_j its
/// row-0 value), Σ|x|, min, max and the zero count are accumulated (SSE2 has 16 registers); the
/// global sums follow exactly in algebra: with e = K_j − K,
///   Σ(x − K) = Σd + n·e,   Σ(x − K)² = Σd² + 2e·Σd + n·e²,   Σx² = Σd² + 2K_j·Σd + n·K_j².
/// With `perColumn`, also Σ_j Var_rows(x[·, j]) and the alive flags (some value > 0). Nil when a
/// value is not finite (Σd² is then not finite: Float's largest square fits a Double).
@inline(__always)
private func simdColumns(_ base: UnsafePointer<Float>, stride: Int, rows: Int, columns: Range<Int>, shift: Double,
                         perColumn: Bool, alive: UnsafeMutablePointer<UInt8>?) -> BlobStatistics.Partial? {
    var p = BlobStatistics.Partial()
    guard rows > 0 else { return p }
    let n = Double(rows)
    var j = columns.lowerBound
    while j + 4 <= columns.upperBound {
        var c1 = SIMD4<Double>(), c2 = SIMD4<Double>(), absSum = SIMD4<Double>()
        var minimum = SIMD4<Float>(repeating: .infinity), maximum = SIMD4<Float>(repeating: -.infinity)
        var zeros = SIMD4<Int32>()
        let first = UnsafeRawPointer(base + j).loadUnaligned(as: SIMD4<Float>.self)
        let columnShift = SIMD4<Double>(Double(first[0]), Double(first[1]), Double(first[2]), Double(first[3]))
        var row = base + j
        for _ in 0..<rows {
            let v = UnsafeRawPointer(row).loadUnaligned(as: SIMD4<Float>.self)
            row += stride
            let x = SIMD4<Double>(Double(v[0]), Double(v[1]), Double(v[2]), Double(v[3]))
            let d = x - columnShift
            c1 += d
            c2 += d * d
            absSum += x.replacing(with: -x, where: x .< 0)
            // (pointwiseMin/Max are several times slower here: they honour NaN, which the fast
            // path never sees.)
            minimum = minimum.replacing(with: v, where: v .< minimum)
            maximum = maximum.replacing(with: v, where: v .> maximum)
            // A true mask lane is all ones (-1).
            zeros &+= SIMD4<Int32>(repeating: 0).replacing(with: 1, where: v .== 0)
        }
        for l in 0..<4 where !c2[l].isFinite || !absSum[l].isFinite { return nil }
        for l in 0..<4 {
            let k = columnShift[l], e = k - shift
            p.shiftedSum += c1[l] + n * e
            p.shiftedSquares += c2[l] + 2 * e * c1[l] + n * e * e
            p.squares += c2[l] + 2 * k * c1[l] + n * k * k
            p.absSum += absSum[l]
            p.minimum = Swift.min(p.minimum, Double(minimum[l]))
            p.maximum = Swift.max(p.maximum, Double(maximum[l]))
            p.zeros += Int(zeros[l])
            if perColumn {
                p.varianceSum += Swift.max(0, (c2[l] - c1[l] * c1[l] / n) / n)
                alive?[j + l] = maximum[l] > 0 ? 1 : 0
            }
        }
        p.finite += 4 * rows
        j += 4
    }
    // Remaining columns (< 4), one at a time, the same sums.
    while j < columns.upperBound {
        let k = Double(base[j]), e = k - shift
        var c1 = 0.0, c2 = 0.0, absSum = 0.0
        var minimum = Double.infinity, maximum = -Double.infinity
        var row = base + j
        for _ in 0..<rows {
            let v = row.pointee
            row += stride
            guard v.isFinite else { return nil }
            let x = Double(v)
            let d = x - k
            c1 += d
            c2 += d * d
            absSum += Swift.abs(x)
            if x < minimum { minimum = x }
            if x > maximum { maximum = x }
            if v == 0 { p.zeros += 1 }
        }
        p.shiftedSum += c1 + n * e
        p.shiftedSquares += c2 + 2 * e * c1 + n * e * e
        p.squares += c2 + 2 * k * c1 + n * k * k
        p.absSum += absSum
        p.minimum = Swift.min(p.minimum, minimum)
        p.maximum = Swift.max(p.maximum, maximum)
        if perColumn {
            p.varianceSum += Swift.max(0, (c2 - c1 * c1 / n) / n)
            alive?[j] = maximum > 0 ? 1 : 0
        }
        p.finite += rows
        j += 1
    }
    return p
}

/// Adds the elements of `range` to `p` (scalar, global shift); false when one is not finite.
private func scalarTail(_ base: UnsafePointer<Float>, _ range: Range<Int>, shift: Double,
                        into p: inout BlobStatistics.Partial) -> Bool {
    for i in range {
        let v = base[i]
        guard v.isFinite else { return false }
        let x = Double(v)
        let d = x - shift
        p.finite += 1
        p.shiftedSum += d
        p.shiftedSquares += d * d
        p.absSum += Swift.abs(x)
        p.squares += x * x
        if x < p.minimum { p.minimum = x }
        if x > p.maximum { p.maximum = x }
        if v == 0 { p.zeros += 1 }
    }
    return true
}

/// Scalar path of `compute` for a chunk that holds non-finite values: counts and skips them.
private func flatPartial(_ base: UnsafePointer<Float>, _ range: Range<Int>, shift: Double) -> BlobStatistics.Partial {
    var p = BlobStatistics.Partial()
    for i in range {
        let v = base[i]
        if v.isFinite {
            let x = Double(v)
            let d = x - shift
            p.finite += 1
            p.shiftedSum += d
            p.shiftedSquares += d * d
            p.absSum += Swift.abs(x)
            p.squares += x * x
            if x < p.minimum { p.minimum = x }
            if x > p.maximum { p.maximum = x }
            if v == 0 { p.zeros += 1 }
        } else {
            p.nonfinite += 1
        }
    }
    return p
}

/// Scalar path of `computeForward` for a chunk that holds non-finite values (row by row, per-
/// column sums in scratch). Its per-column results are only used when every value is finite,
/// which never happens here, but it keeps the global statistics exact.
private func forwardPartialScalar(_ base: UnsafePointer<Float>, samples: Int, perSample: Int, columns: Range<Int>,
                                  shift: Double, columnSum: UnsafeMutablePointer<Double>,
                                  columnSquares: UnsafeMutablePointer<Double>,
                                  columnAlive: UnsafeMutablePointer<UInt8>) -> BlobStatistics.Partial {
    var p = BlobStatistics.Partial()
    for j in columns { columnSum[j] = 0; columnSquares[j] = 0; columnAlive[j] = 0 }
    for n in 0..<samples {
        let row = base + n * perSample
        for j in columns {
            let v = row[j]
            if v.isFinite {
                let x = Double(v)
                let d = x - shift
                p.finite += 1
                p.shiftedSum += d
                p.shiftedSquares += d * d
                p.absSum += Swift.abs(x)
                p.squares += x * x
                if x < p.minimum { p.minimum = x }
                if x > p.maximum { p.maximum = x }
                if v == 0 { p.zeros += 1 }
                let dj = x - Double(base[j])
                columnSum[j] += dj
                columnSquares[j] += dj * dj
                if v > 0 { columnAlive[j] = 1 }
            } else {
                p.nonfinite += 1
            }
        }
    }
    let n = Double(samples)
    for j in columns {
        let s = columnSum[j]
        p.varianceSum += Swift.max(0, (columnSquares[j] - s * s / n) / n)
    }
    return p
}

private func finishStats(_ t: BlobStatistics.Partial, shift: Double) -> BlobStats {
    var s = BlobStats(nonfiniteCount: t.nonfinite)
    s.l2 = t.squares.squareRoot()
    guard t.finite > 0 else { return s }
    let n = Double(t.finite)
    s.mean = shift + t.shiftedSum / n
    // Shifted-data variance: (Σd² − (Σd)²/n)/n, d = x − K.
    s.std = Swift.max(0, (t.shiftedSquares - t.shiftedSum * t.shiftedSum / n) / n).squareRoot()
    s.meanAbs = t.absSum / n
    s.min = t.minimum
    s.max = t.maximum
    s.zeroFraction = Double(t.zeros) / n
    return s
}

/// Runs body(c) for every chunk c in 0..<chunks on up to `threads` threads (worker k takes chunks
/// k, k + t, …). Each chunk writes only its own slots, so the assignment does not affect results.
private func statisticsRunChunks(_ chunks: Int, threads: Int, _ body: (Int) -> Void) {
    let t = Swift.min(Swift.max(threads, 1), chunks)
    if t <= 1 {
        for c in 0..<chunks { body(c) }
        return
    }
    withoutActuallyEscaping(body) { body in
        // Chunks touch disjoint memory; the closure lives only for this call.
        let shared = unsafeBitCast(body, to: (@Sendable (Int) -> Void).self)
        DispatchQueue.concurrentPerform(iterations: t) { k in
            var c = k
            while c < chunks { shared(c); c += t }
        }
    }
}
