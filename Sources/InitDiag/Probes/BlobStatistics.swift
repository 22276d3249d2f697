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
/// The pass is split into fixed chunks (65 536 elements; for forward blobs column ranges of about
/// 65 536 elements) whose partial sums are combined in chunk order, so the result does not depend
/// on the thread count at all: 1 and 2 threads give bit-identical statistics.
///
/// Accuracy: sums of (x − K) and (x − K)² with a shift K (the first finite value; for the per-
/// element variances over the batch K_j = x[0, j]) avoid the cancellation of E[x²] − E[x]²
/// (the "shifted data" algorithm, Chan, Golub & LeVeque 1983): a constant blob, or an element that
/// is constant over the batch, gets a variance of exactly 0.
public final class BlobStatistics: @unchecked Sendable {
    /// Elements per chunk: large enough that the per-chunk overhead is negligible, small enough
    /// that a 2-core machine splits mid-sized blobs.
    public static let chunkElements = 1 << 16

    /// Threads to use; nil = `Engine.threads`.
    public var threads: Int?

    private struct Partial {
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
        let shift = BlobStatistics.firstFinite(base, count)
        let chunk = BlobStatistics.chunkElements
        let chunks = (count + chunk - 1) / chunk
        reservePartials(chunks)
        let partials = self.partials
        statisticsRunChunks(chunks, threads: threads ?? Engine.threads) { c in
            let lo = c * chunk, hi = Swift.min(count, lo + chunk)
            partials[c] = BlobStatistics.flatPartial(base, lo..<hi, shift: shift)
        }
        var stats = BlobStatistics.finish(combine(chunks), shift: shift)
        stats.betweenSampleStd = .nan; stats.deadFraction = .nan; stats.inputDependence = .nan
        return stats
    }

    /// The statistics of a forward blob whose leading axis is the batch: everything `compute`
    /// gives plus betweenSampleStd, deadFraction and inputDependence. `shape` must hold
    /// `values.count` elements; an empty or rank-0 shape is one sample.
    public func computeForward(_ values: UnsafeBufferPointer<Float>, shape: [Int]) -> BlobStats {
        let count = values.count
        guard count > 0, let base = values.baseAddress, shape.reduce(1, *) == count else {
            return compute(values)
        }
        let samples = shape.isEmpty ? 1 : shape[0]
        let perSample = count / samples
        let channels = shape.count >= 2 ? shape[1] : 1
        let positions = perSample / Swift.max(channels, 1)
        let shift = BlobStatistics.firstFinite(base, count)
        // Column ranges of ~chunkElements elements (all samples of those columns).
        let columnsPerChunk = Swift.max(1, BlobStatistics.chunkElements / samples)
        let chunks = (perSample + columnsPerChunk - 1) / columnsPerChunk
        reservePartials(chunks)
        reserveColumns(perSample)
        let partials = self.partials, columnSum = self.columnSum
        let columnSquares = self.columnSquares, columnAlive = self.columnAlive
        statisticsRunChunks(chunks, threads: threads ?? Engine.threads) { c in
            let lo = c * columnsPerChunk, hi = Swift.min(perSample, lo + columnsPerChunk)
            var p = Partial()
            for j in lo..<hi { columnSum[j] = 0; columnSquares[j] = 0; columnAlive[j] = 0 }
            for n in 0..<samples {
                let row = base + n * perSample
                for j in lo..<hi {
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
                        // Shift by the first sample's value of this element (exact 0 for an
                        // element the input does not change).
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
            var varianceSum = 0.0
            for j in lo..<hi {
                let s = columnSum[j]
                varianceSum += Swift.max(0, (columnSquares[j] - s * s / n) / n)
            }
            p.varianceSum = varianceSum
            partials[c] = p
        }
        let total = combine(chunks)
        var stats = BlobStatistics.finish(total, shift: shift)
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

    /// Statistics of a blob's data (`forward` adds the batch statistics) or diff.
    public func compute(_ blob: Blob, diff: Bool = false, forward: Bool = false) -> BlobStats {
        let buffer = UnsafeBufferPointer(diff ? blob.diffBuffer : blob.dataBuffer)
        return forward ? computeForward(buffer, shape: blob.shape) : compute(buffer)
    }

    private func combine(_ chunks: Int) -> Partial {
        var t = Partial()
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

    private static func firstFinite(_ base: UnsafePointer<Float>, _ count: Int) -> Double {
        for i in 0..<count where base[i].isFinite { return Double(base[i]) }
        return 0
    }

    private static func flatPartial(_ base: UnsafePointer<Float>, _ range: Range<Int>, shift: Double) -> Partial {
        var p = Partial()
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

    private static func finish(_ t: Partial, shift: Double) -> BlobStats {
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
