import Dispatch

// Per-step cost of the probe statistics on the seed net (VGG19, CIFAR-10, batch 128: 205 M
// elements = 822 MB per step), release build, measured by ProbeBenchmark in one run against a
// plain Float sum of the same bytes: before 764 ms (1 thread) / 656 ms (2 threads), after 166 ms /
// 135 ms; plain sum 56–61 ms, the bandwidth floor. Error bound ≈ 4e-6 relative (per-element batch
// variance ≈ 4e-5 worst case), measured ~1e-10. Details: the doc comment of BlobStatistics.

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
/// ranges of about 262 144 elements, see `forwardChunkElements`) whose partial sums are combined in chunk order, so the result
/// does not depend on the thread count at all: 1 and 2 threads give bit-identical statistics.
/// (`parallelChunks` is not used because its chunking follows the thread count.)
///
/// Accuracy. Every sum is taken of values shifted close to their own mean, so nothing cancels:
/// * flat pass (`compute`): blocks of 512 elements; the block's shift m is its first value plus
///   the Float mean of the differences from it (a constant block gets m = its value exactly, and
///   a spread of exactly 0); d = x − m.
/// * batch pass (`computeForward`): per element j of a sample the shift is K_j = x[0, j] ("shifted
///   data" algorithm, Chan, Golub & LeVeque 1983): an element constant over the batch gets
///   Var_n = 0 exactly.
/// Σd, Σd², Σ|x| are accumulated in Float SIMD lanes, each lane adding at most 64 terms (or 16
/// four-term sums) before it is promoted to Double; blocks, columns and chunks are combined in
/// Double with the exact shift algebra Σ(x − K) = Σd + n·e, Σ(x − K)² = Σd² + 2e·Σd + n·e²
/// (e = m − K), so the Double stages add only ~1e-16. Error bound (u = 2⁻²⁴, recursive summation
/// γ₆₃ ≈ 63u, plus u for x − m and u for d²): each Float partial is within ≈ 66u ≈ 3.9e-6 of
/// Σ|terms|, hence mean (relative to the spread), std, mean_abs and l2 within ≈ 4e-6 relative. Per
/// element over the batch, with z = |K_j − μ_j|/σ_j, Var_n is within ≈ 66u(1 + z²) + 130u·z·√(1+z²)
/// relative (≈ 4.3e-5 at z = √3); its mean over j averages these. Measured against a Double
/// two-pass reference on 128×64×32×32 blobs (convolution-like, ReLU-like): ~1e-10 relative for
/// every statistic; bias-dominated units (Var_n/mean² = 1e-9, the seed net's case): 4e-9 on
/// between_sample_std. Raw Float moments (no shift) would lose such a Var_n entirely.
/// A chunk holding a NaN or Inf (or a value whose Float square overflows) makes a Float sum
/// non-finite and is recomputed by the scalar Double path, which counts and skips such values.
///
/// Speed (release, AMD EPYC 2 cores shared with other jobs, `ProbeBenchmark.run(batch: 128, …)`:
/// every record of one seed-net step, 205 M elements = 822 MB: forward tops 82 M, bottom
/// gradients 82 M, parameters data + gradients 41 M):
///   before (Double accumulation, 4-column strided batch pass): 764 ms/step on 1 thread, 656 ms
///   on 2 (plain Float sum of the same bytes in the same run: 67 / 60 ms);
///   after: 166 ms on 1 thread, 135 ms on 2 (plain sum in the same run: 56 / 61 ms), i.e.
///   2.2–3× the memory-bandwidth floor; best seen 113 ms. The machine was loaded (load ≈ 7 on 2
///   cores), so timings vary ±30 % between runs; ratios within a run are the reliable part.
/// The 50 ms budget is below the floor of reading these bytes once (≈ 55–60 ms for a plain sum
/// here); see the package report for what would remove bytes (ReLU records derived from the
/// convolution pass).
///
/// Layout of the batch pass: rows (samples) are streamed in order, four at a time, over column
/// ranges of `forwardChunkElements` elements; the per-column Float sums and maxima live in L1
/// scratch placed 1–3 KiB away from the blob modulo 4 KiB (no 4K aliasing between the row loads
/// and the scratch stores).
public final class BlobStatistics: @unchecked Sendable {
    /// Elements per chunk: large enough that the per-chunk overhead is negligible, small enough
    /// that a 2-core machine splits mid-sized blobs.
    public static let chunkElements = 1 << 16

    /// Elements per chunk of `computeForward` (all samples of a column range): at batch 128,
    /// 2048 columns, i.e. 8 KiB row segments (long enough for the hardware prefetcher) and 24 KiB
    /// of per-column Float scratch (L1-resident). 2¹⁶ measured ≈ 1.5× slower on the seed net.
    public static let forwardChunkElements = 1 << 18

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

        /// Adds one finite value in double (the exact path both scalar fallbacks share).
        @inline(__always)
        mutating func addFinite(_ v: Float, shift: Double) {
            let x = Double(v)
            let d = x - shift
            finite += 1
            shiftedSum += d
            shiftedSquares += d * d
            absSum += Swift.abs(x)
            squares += x * x
            if x < minimum { minimum = x }
            if x > maximum { maximum = x }
            if v == 0 { zeros += 1 }
        }
    }

    private var partials: UnsafeMutablePointer<Partial>
    private var partialCapacity = 0
    private var columnSum: UnsafeMutablePointer<Double>
    private var columnSquares: UnsafeMutablePointer<Double>
    private var columnAlive: UnsafeMutablePointer<UInt8>
    private var floatSum: UnsafeMutablePointer<Float>
    private var floatSquares: UnsafeMutablePointer<Float>
    private var columnMax: UnsafeMutablePointer<Float>
    private var columnCapacity = 0

    public init(threads: Int? = nil) {
        self.threads = threads
        partials = .allocate(capacity: 1)
        columnSum = .allocate(capacity: 1)
        columnSquares = .allocate(capacity: 1)
        columnAlive = .allocate(capacity: 1)
        floatSum = .allocate(capacity: 1)
        floatSquares = .allocate(capacity: 1)
        columnMax = .allocate(capacity: 1)
    }

    deinit {
        partials.deallocate()
        columnSum.deallocate()
        columnSquares.deallocate()
        columnAlive.deallocate()
        floatSum.deallocate()
        floatSquares.deallocate()
        columnMax.deallocate()
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
            floatSum.deallocate(); floatSquares.deallocate(); columnMax.deallocate()
            floatSum = .allocate(capacity: n + BlobStatistics.skewSlack)
            floatSquares = .allocate(capacity: n + BlobStatistics.skewSlack)
            columnMax = .allocate(capacity: n + BlobStatistics.skewSlack)
            columnSum = .allocate(capacity: n)
            columnSquares = .allocate(capacity: n)
            columnAlive = .allocate(capacity: n)
            columnCapacity = n
        }
    }

    /// Extra Float slots of each per-column Float scratch array: room to place it at a chosen
    /// offset modulo 4 KiB (see `skewed`).
    fileprivate static let skewSlack = 1024

    /// The first pointer at or after `region` whose distance from `base` is `bytes` modulo 4 KiB
    /// (both are Float-aligned, so the shift is a whole number of Floats below `skewSlack`).
    private func skewed(_ region: UnsafeMutablePointer<Float>, from base: UnsafePointer<Float>,
                        bytes: Int) -> UnsafeMutablePointer<Float> {
        let wanted = (Int(bitPattern: base) + bytes) & 4095
        let delta = (wanted - (Int(bitPattern: region) & 4095) + 4096) & 4095
        return region + delta / MemoryLayout<Float>.stride
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
            partials[c] = flatFast(base, lo..<hi, shift: shift) ?? flatPartial(base, lo..<hi, shift: shift)
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
        if samples == 1 {
            // One sample: every Var_n is 0, so only the alive test needs the shape; the per-column
            // scratch of the batch path would cost more than the statistics themselves.
            var stats = compute(values)
            guard stats.nonfiniteCount == 0 else { return stats }
            stats.betweenSampleStd = 0
            stats.inputDependence = 0
            var dead = 0, j = 0
            for c in 0..<channels {
                let end = (c + 1) * positions
                while j < end && !(base[j] > 0) { j += 1 }
                if j == end { dead += 1 }
                j = end
            }
            stats.deadFraction = channels > 0 ? Double(dead) / Double(channels) : .nan
            return stats
        }
        let shift = firstFinite(base, count)
        // Column ranges of ~chunkElements elements (all samples of those columns), a multiple of
        // the SIMD width; fixed by the shape alone.
        let width = StatsLanes.scalarCount
        let columnsPerChunk = Swift.max(width, (BlobStatistics.forwardChunkElements / samples) / width * width)
        let chunks = (perSample + columnsPerChunk - 1) / columnsPerChunk
        reservePartials(chunks)
        reserveColumns(perSample)
        let partials = self.partials
        // The per-column Float scratch is stored to while the same columns of every row are
        // loaded; rows lie at multiples of the row stride, so scratch at the same offset modulo
        // 4 KiB as the blob makes each load wait on an unrelated store ("4K aliasing"). Each
        // scratch array is placed 1, 2 and 3 KiB away from the blob modulo 4 KiB.
        let scratch = ForwardScratch(floatSum: skewed(floatSum, from: base, bytes: 1024),
                                     floatSquares: skewed(floatSquares, from: base, bytes: 2048),
                                     columnMax: skewed(columnMax, from: base, bytes: 3072),
                                     columnSum: columnSum, columnSquares: columnSquares, columnAlive: columnAlive)
        statisticsRunChunks(chunks, threads: threads ?? Engine.threads) { c in
            let lo = c * columnsPerChunk, hi = Swift.min(perSample, lo + columnsPerChunk)
            if let p = forwardFast(base, samples: samples, perSample: perSample, columns: lo..<hi, shift: shift,
                                   scratch: scratch) {
                partials[c] = p
            } else {
                partials[c] = forwardPartialScalar(base, samples: samples, perSample: perSample, columns: lo..<hi,
                                                   shift: shift, columnSum: scratch.columnSum,
                                                   columnSquares: scratch.columnSquares,
                                                   columnAlive: scratch.columnAlive)
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

/// Float SIMD lanes of the fast paths (two SSE registers on the baseline x86-64 target).
private typealias StatsLanes = SIMD8<Float>

/// Every Float accumulator of the fast paths adds at most this many terms before it is promoted
/// to Double (see the accuracy note of `BlobStatistics`).
private let floatTermsPerSum = 64

/// |x| by clearing the sign bit (one AND; a compare-and-select costs five instructions on SSE2).
@inline(__always)
private func statsAbs(_ x: StatsLanes) -> StatsLanes {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7FFF_FFFF), to: StatsLanes.self)
}

@inline(__always)
private func loadLanes(_ p: UnsafePointer<Float>) -> StatsLanes {
    UnsafeRawPointer(p).loadUnaligned(as: StatsLanes.self)
}

/// Fast path of `compute` over base[range]: blocks of 8 × 64 elements. Each block first gets its
/// own Float mean m (a shift close to its values, so the Float sums below do not cancel), then
/// Σd, Σd² (d = x − m), Σ|x| in Float lanes (64 terms each), min, max and the zero count. The
/// block's sums are promoted to Double and moved to the blob's shift K exactly in algebra:
///   Σ(x − K) = Σd + n·e,   Σ(x − K)² = Σd² + 2e·Σd + n·e²,   Σx² = Σd² + 2m·Σd + n·m²,  e = m − K.
/// Nil when a value is not finite, or so large that a Float square overflows (the scalar Double
/// path then takes the chunk).
private func flatFast(_ base: UnsafePointer<Float>, _ range: Range<Int>, shift: Double) -> BlobStatistics.Partial? {
    var p = BlobStatistics.Partial()
    let width = StatsLanes.scalarCount
    let blockElements = width * floatTermsPerSum
    var minimum = StatsLanes(repeating: .infinity), maximum = StatsLanes(repeating: -.infinity)
    var i = range.lowerBound
    while i < range.upperBound {
        let end = Swift.min(range.upperBound, i + blockElements)
        let vectorEnd = i + (end - i) / width * width
        // The shift: the block's first value plus the Float mean of the differences from it, so
        // that a constant block gets m equal to its value exactly (and a spread of exactly 0).
        let first = base[i]
        let firstLanes = StatsLanes(repeating: first)
        var total = StatsLanes()
        var k = i
        while k < vectorEnd { total += loadLanes(base + k) - firstLanes; k += width }
        var blockSum = 0.0
        for l in 0..<width { blockSum += Double(total[l]) }
        while k < end { blockSum += Double(base[k]) - Double(first); k += 1 }
        let count = Double(end - i)
        let m = first + Float(blockSum / count)
        guard m.isFinite, blockSum.isFinite else { return nil }
        let mLanes = StatsLanes(repeating: m)
        var s1 = StatsLanes(), s2 = StatsLanes(), absSum = StatsLanes()
        var zeros = SIMD8<Int32>()
        k = i
        while k < vectorEnd {
            let x = loadLanes(base + k)
            let d = x - mLanes
            s1 += d
            s2 += d * d
            absSum += statsAbs(x)
            // (pointwiseMin/Max honour NaN and are several times slower; NaN never reaches here.)
            minimum = minimum.replacing(with: x, where: x .< minimum)
            maximum = maximum.replacing(with: x, where: x .> maximum)
            zeros &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: x .== 0)
            k += width
        }
        var d1 = 0.0, d2 = 0.0, a = 0.0
        for l in 0..<width {
            d1 += Double(s1[l]); d2 += Double(s2[l]); a += Double(absSum[l])
            p.zeros += Int(zeros[l])
        }
        let md = Double(m)
        while k < end {
            let v = base[k]
            let d = Double(v) - md
            d1 += d; d2 += d * d; a += Swift.abs(Double(v))
            if v < minimum[0] { minimum[0] = v }
            if v > maximum[0] { maximum[0] = v }
            if v == 0 { p.zeros += 1 }
            k += 1
        }
        guard d2.isFinite, a.isFinite else { return nil }
        let e = md - shift
        p.shiftedSum += d1 + count * e
        p.shiftedSquares += d2 + 2 * e * d1 + count * e * e
        p.squares += d2 + 2 * md * d1 + count * md * md
        p.absSum += a
        p.finite += end - i
        i = end
    }
    for l in 0..<width {
        p.minimum = Swift.min(p.minimum, Double(minimum[l]))
        p.maximum = Swift.max(p.maximum, Double(maximum[l]))
    }
    return p
}

/// Columns past the last full vector (< 8) of one row, scalar, into the same accumulators.
@inline(__always)
private func forwardTailColumns(_ row: UnsafePointer<Float>, _ base: UnsafePointer<Float>, _ columns: Range<Int>,
                                _ s: ForwardScratch, _ absTotal: inout Double, _ minimum: inout Float,
                                _ zeros: inout Int) {
    for j in columns {
        let x = row[j]
        let d = x - base[j]
        s.floatSum[j] += d
        s.floatSquares[j] += d * d
        if x > s.columnMax[j] { s.columnMax[j] = x }
        absTotal += Swift.abs(Double(x))
        if x < minimum { minimum = x }
        if x == 0 { zeros += 1 }
    }
}

/// Per-column scratch of the forward fast path, indexed by the column j of the blob (chunks own
/// disjoint column ranges, so threads never share a slot).
fileprivate struct ForwardScratch {
    var floatSum: UnsafeMutablePointer<Float>
    var floatSquares: UnsafeMutablePointer<Float>
    var columnMax: UnsafeMutablePointer<Float>
    var columnSum: UnsafeMutablePointer<Double>
    var columnSquares: UnsafeMutablePointer<Double>
    var columnAlive: UnsafeMutablePointer<UInt8>
}

/// Fast path of `computeForward` over the columns `columns` of the samples × perSample matrix:
/// rows are streamed in order (contiguous reads), per-column Float sums Σd, Σd² (d = x − K_j,
/// K_j = x[0, j]) and the per-column maximum live in L1/L2-resident scratch, and are promoted to
/// Double every 64 rows. Σ|x| is promoted every 64 vectors of a row; min and the zero count stay
/// in registers. Per column, in Double at the end:
///   Var_n(x[·, j]) = (Σd² − (Σd)²/n)/n,   alive_j = max_n x[n, j] > 0,
/// and the global sums follow as in `flatFast` with e = K_j − K. Nil when a value is not finite
/// (Σd² or Σ|x| is then not finite).
private func forwardFast(_ base: UnsafePointer<Float>, samples: Int, perSample: Int, columns: Range<Int>,
                         shift: Double, scratch s: ForwardScratch) -> BlobStatistics.Partial? {
    var p = BlobStatistics.Partial()
    let width = StatsLanes.scalarCount
    let lo = columns.lowerBound, hi = columns.upperBound
    let vectorHi = lo + (hi - lo) / width * width
    let columnBlock = width * floatTermsPerSum
    for j in columns { s.columnSum[j] = 0; s.columnSquares[j] = 0; s.columnMax[j] = -.infinity }
    var minimum = StatsLanes(repeating: .infinity)
    var minimumTail = Float.infinity
    var absTotal = 0.0
    var zeroTotal = 0
    var r0 = 0
    while r0 < samples {
        let r1 = Swift.min(samples, r0 + floatTermsPerSum)
        for j in columns { s.floatSum[j] = 0; s.floatSquares[j] = 0 }
        var n = r0
        // Four rows at a time: the per-column scratch is read and written once per 4 rows. Each
        // Float accumulator gets at most 16 additions of 4-term sums (64 values) per promotion.
        let quadBlock = width * floatTermsPerSum / 4
        while n + 4 <= r1 {
            let row0 = base + n * perSample, row1 = row0 + perSample
            let row2 = row1 + perSample, row3 = row2 + perSample
            var jb = lo
            while jb < vectorHi {
                let je = Swift.min(vectorHi, jb + quadBlock)
                var absSum = StatsLanes()
                var zeros = SIMD8<Int32>()
                var j = jb
                while j < je {
                    let x0 = loadLanes(row0 + j), x1 = loadLanes(row1 + j)
                    let x2 = loadLanes(row2 + j), x3 = loadLanes(row3 + j)
                    let k = loadLanes(base + j)
                    let d0 = x0 - k, d1 = x1 - k, d2 = x2 - k, d3 = x3 - k
                    let f1 = UnsafeMutableRawPointer(s.floatSum + j), f2 = UnsafeMutableRawPointer(s.floatSquares + j)
                    let fm = UnsafeMutableRawPointer(s.columnMax + j)
                    f1.storeBytes(of: f1.loadUnaligned(as: StatsLanes.self) + ((d0 + d1) + (d2 + d3)), as: StatsLanes.self)
                    f2.storeBytes(of: f2.loadUnaligned(as: StatsLanes.self) + ((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)),
                                  as: StatsLanes.self)
                    let hi01 = x0.replacing(with: x1, where: x1 .> x0), hi23 = x2.replacing(with: x3, where: x3 .> x2)
                    let hi = hi01.replacing(with: hi23, where: hi23 .> hi01)
                    let m = fm.loadUnaligned(as: StatsLanes.self)
                    fm.storeBytes(of: m.replacing(with: hi, where: hi .> m), as: StatsLanes.self)
                    absSum += (statsAbs(x0) + statsAbs(x1)) + (statsAbs(x2) + statsAbs(x3))
                    let lo01 = x0.replacing(with: x1, where: x1 .< x0), lo23 = x2.replacing(with: x3, where: x3 .< x2)
                    let low = lo01.replacing(with: lo23, where: lo23 .< lo01)
                    minimum = minimum.replacing(with: low, where: low .< minimum)
                    let zero = StatsLanes()
                    zeros &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: x0 .== zero)
                    zeros &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: x1 .== zero)
                    zeros &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: x2 .== zero)
                    zeros &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: x3 .== zero)
                    j += width
                }
                for l in 0..<width { absTotal += Double(absSum[l]); zeroTotal += Int(zeros[l]) }
                jb = je
            }
            for r in 0..<4 { forwardTailColumns(base + (n + r) * perSample, base, vectorHi..<hi, s,
                                                &absTotal, &minimumTail, &zeroTotal) }
            n += 4
        }
        while n < r1 {
            let row = base + n * perSample
            var jb = lo
            while jb < vectorHi {
                let je = Swift.min(vectorHi, jb + columnBlock)
                var absSum = StatsLanes()
                var zeros = SIMD8<Int32>()
                var j = jb
                while j < je {
                    let x = loadLanes(row + j)
                    let d = x - loadLanes(base + j)
                    let f1 = UnsafeMutableRawPointer(s.floatSum + j), f2 = UnsafeMutableRawPointer(s.floatSquares + j)
                    let fm = UnsafeMutableRawPointer(s.columnMax + j)
                    f1.storeBytes(of: f1.loadUnaligned(as: StatsLanes.self) + d, as: StatsLanes.self)
                    f2.storeBytes(of: f2.loadUnaligned(as: StatsLanes.self) + d * d, as: StatsLanes.self)
                    let m = fm.loadUnaligned(as: StatsLanes.self)
                    fm.storeBytes(of: m.replacing(with: x, where: x .> m), as: StatsLanes.self)
                    absSum += statsAbs(x)
                    minimum = minimum.replacing(with: x, where: x .< minimum)
                    zeros &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: x .== 0)
                    j += width
                }
                for l in 0..<width { absTotal += Double(absSum[l]); zeroTotal += Int(zeros[l]) }
                jb = je
            }
            forwardTailColumns(row, base, vectorHi..<hi, s, &absTotal, &minimumTail, &zeroTotal)
            n += 1
        }
        for j in columns {
            s.columnSum[j] += Double(s.floatSum[j])
            s.columnSquares[j] += Double(s.floatSquares[j])
        }
        r0 = r1
    }
    guard absTotal.isFinite else { return nil }
    let n = Double(samples), inverseN = 1 / n
    for j in columns {
        let c1 = s.columnSum[j], c2 = s.columnSquares[j]
        guard c2.isFinite else { return nil }
        let k = Double(base[j]), e = k - shift
        p.shiftedSum += c1 + n * e
        p.shiftedSquares += c2 + 2 * e * c1 + n * e * e
        p.squares += c2 + 2 * k * c1 + n * k * k
        // (A product with 1/n instead of two divisions: a batch of one sample has one column
        // per element.)
        p.varianceSum += Swift.max(0, (c2 - c1 * c1 * inverseN) * inverseN)
        let columnMax = s.columnMax[j]
        s.columnAlive[j] = columnMax > 0 ? 1 : 0
        p.maximum = Swift.max(p.maximum, Double(columnMax))
    }
    for l in 0..<width { p.minimum = Swift.min(p.minimum, Double(minimum[l])) }
    p.minimum = Swift.min(p.minimum, Double(minimumTail))
    p.absSum = absTotal
    p.zeros = zeroTotal
    p.finite = samples * (hi - lo)
    return p
}

/// Scalar path of `compute` for a chunk that holds non-finite values: counts and skips them.
private func flatPartial(_ base: UnsafePointer<Float>, _ range: Range<Int>, shift: Double) -> BlobStatistics.Partial {
    var p = BlobStatistics.Partial()
    for i in range {
        let v = base[i]
        if v.isFinite {
            p.addFinite(v, shift: shift)
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
                p.addFinite(v, shift: shift)
                let dj = Double(v) - Double(base[j])
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
