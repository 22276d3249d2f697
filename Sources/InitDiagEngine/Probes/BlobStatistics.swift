import InitDiagCore
import InitDiagTrace
import CStatistics
import Dispatch

// The probes' statistics. The inner loops are the C++ kernels of Sources/CStatistics (vector
// code compiled for the x86-64 baseline and for AVX2+FMA, picked at run time); this file splits
// the work into fixed chunks over the threads, falls back to exact Double arithmetic where a
// chunk holds a value that is not finite, and turns the sums into statistics. Error bound ≈ 4e-6
// relative (per-element batch variance ≈ 4e-5 worst case), measured ~1e-10. What a step costs:
// `initdiag bench --statistics-only` and `bench --probes alternate` (Reports/BENCHMARKS.md).

/// The statistics of one blob at one step, with the names the trace uses (docs/trace-format.md).
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
    /// `forward/saturated_fraction` (`computeForward(_:shape:band:)` only, NaN otherwise): the
    /// share of the finite values y with |y − center| > halfWidth in Float arithmetic — for a
    /// sigmoid or tanh top the units whose local derivative is below 1% of its maximum
    /// (`MeanFieldNonlinearity.saturationBand`); NaN with no finite value.
    public var saturatedFraction: Double = .nan

    /// Statistic names of every recorded blob, in the order of `values`.
    public static let names = TraceStatisticNames.blob
    /// Statistic names of forward blobs, in the order of `forwardValues`.
    public static let forwardNames = TraceStatisticNames.forward

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
/// (`parallelChunks` is not used because its chunking follows the thread count.) The baseline and
/// AVX2 kernel copies round differently (FMA) and agree to the bound below; a machine always
/// runs the same copy.
///
/// Accuracy. Every sum is taken of values shifted close to their own mean, so nothing cancels:
/// * flat pass (`compute`): blocks of 512 elements; the block's shift m is its first value plus
///   the Float mean of the differences from it (a constant block gets m = its value exactly, and
///   a spread of exactly 0); d = x − m.
/// * batch pass (`computeForward`): per element j of a sample the shift is K_j = x[0, j] ("shifted
///   data" algorithm, Chan, Golub & LeVeque 1983): an element constant over the batch gets
///   Var_n = 0 exactly.
/// Σd, Σd², Σ|x| are accumulated in Float vector lanes, each lane adding at most 64 terms (or 16
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
/// Speed: the seed net at batch 128 records 205 M values per step; an in-place ReLU is recorded
/// inside its own pass together with the layer it shares its blob with (`computeReLUForward`,
/// `computeReLUBackward`, used by `Probe`), so 155 M of them are read by passes the net makes
/// anyway, and 50 M (parameters, pooled and fully connected blobs) by the statistics alone.
/// Measured figures are in Reports/BENCHMARKS.md.
///
/// Layout of the batch pass (kernels.h `columns`): rows (samples) are streamed in order, four at
/// a time, over column ranges of `forwardChunkElements` elements; the per-column Float sums and
/// maxima live in cache-resident scratch placed apart from the blob modulo 4 KiB (no 4K aliasing
/// between the row loads and the scratch stores).
/// Where a pass puts a blob's histogram (docs/trace-format.md "Histograms"): `TraceHistogramBins.slotCount`
/// Int64 counts at `counts`, overwritten. The histogram is taken in the same pass as the other
/// statistics (the kernels' `Hist` variants; the scalar fallbacks bin with `TraceHistogramBins.slot`).
public struct HistogramTarget {
    public let bins: TraceHistogramBins
    public let counts: UnsafeMutablePointer<Int64>
    public init(bins: TraceHistogramBins, counts: UnsafeMutablePointer<Int64>) {
        self.bins = bins; self.counts = counts
    }
    var kernelBins: idg_bins { idg_bins(scale: Float(bins.scale), offset: Float(bins.offset)) }
}

public final class BlobStatistics: @unchecked Sendable {
    /// Elements per chunk: large enough that the per-chunk overhead is negligible, small enough
    /// that a 2-core machine splits mid-sized blobs.
    public static let chunkElements = 1 << 16

    /// Elements per chunk of `computeForward` (all samples of a column range): at batch 128,
    /// 2048 columns, i.e. 8 KiB row segments (long enough for the hardware prefetcher) and 24 KiB
    /// of per-column Float scratch (40 KiB with the ReLU's sums, then partly in L2: 1024 or 512
    /// columns measured no faster). 2¹⁶ measured ≈ 1.5× slower on the seed net.
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
        var saturated = 0

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
    /// Per-chunk histogram slots (`slotCount` per partial), combined after the pass.
    private var chunkHistograms: UnsafeMutablePointer<Int64>
    private var chunkHistogramCapacity = 0
    /// Per-column scratch of the batch pass: Float arrays (sum, squares, maximum, and for the
    /// ReLU output sum and squares, each with `skewSlack` spare slots), Double arrays (column
    /// sum and squares of x and of the ReLU output), alive flags.
    private var floatScratch: [UnsafeMutablePointer<Float>] = []
    private var doubleScratch: [UnsafeMutablePointer<Double>] = []
    private var columnAlive: UnsafeMutablePointer<UInt8>
    private var columnCapacity = 0

    public init(threads: Int? = nil) {
        self.threads = threads
        partials = .allocate(capacity: 1)
        columnAlive = .allocate(capacity: 1)
        chunkHistograms = .allocate(capacity: 1)
    }

    deinit {
        partials.deallocate()
        chunkHistograms.deallocate()
        columnAlive.deallocate()
        for p in floatScratch { p.deallocate() }
        for p in doubleScratch { p.deallocate() }
    }

    private func reservePartials(_ n: Int) {
        if n > partialCapacity {
            partials.deallocate()
            partials = .allocate(capacity: n)
            partialCapacity = n
        }
        partials.initialize(repeating: Partial(), count: n)
    }

    /// Zeroed histogram slots for n partials (only when a histogram is asked for).
    private func reserveHistograms(_ n: Int) {
        let slots = n * TraceHistogramBins.slotCount
        if slots > chunkHistogramCapacity {
            chunkHistograms.deallocate()
            chunkHistograms = .allocate(capacity: slots)
            chunkHistogramCapacity = slots
        }
        chunkHistograms.initialize(repeating: 0, count: slots)
    }

    /// Sums the chunk histograms first..<first+chunks into `target`.
    private func combineHistograms(_ first: Int, _ chunks: Int, into target: HistogramTarget?) {
        guard let target else { return }
        let w = TraceHistogramBins.slotCount
        target.counts.initialize(repeating: 0, count: w)
        for c in first..<(first + chunks) {
            let h = chunkHistograms + c * w
            for k in 0..<w { target.counts[k] += h[k] }
        }
    }

    private func reserveColumns(_ n: Int) {
        if n > columnCapacity {
            for p in floatScratch { p.deallocate() }
            for p in doubleScratch { p.deallocate() }
            columnAlive.deallocate()
            floatScratch = (0..<5).map { _ in .allocate(capacity: n + BlobStatistics.skewSlack) }
            doubleScratch = (0..<4).map { _ in .allocate(capacity: n) }
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

    /// The statistics every recorded blob gets (gradients, parameters); with `histogram`, its
    /// histogram from the same pass.
    public func compute(_ values: UnsafeBufferPointer<Float>, histogram: HistogramTarget? = nil) -> BlobStats {
        let count = values.count
        guard count > 0, let base = values.baseAddress else {
            histogram?.counts.initialize(repeating: 0, count: TraceHistogramBins.slotCount)
            return BlobStats()
        }
        let shift = firstFinite(base, count)
        let chunk = BlobStatistics.chunkElements
        let chunks = (count + chunk - 1) / chunk
        reservePartials(chunks)
        if histogram != nil { reserveHistograms(chunks) }
        let partials = self.partials
        let hists = HistogramSlots(chunkHistograms)
        var kb = histogram?.kernelBins ?? idg_bins()
        let bins = histogram?.bins
        withUnsafePointer(to: &kb) { kbp in
            let kbs = UnsafeSendablePointer(kbp)
            statisticsRunChunks(chunks, threads: threads ?? Engine.threads) { c in
                let lo = c * chunk, hi = Swift.min(count, lo + chunk)
                var p = idg_partial_empty()
                let h = bins == nil ? nil : hists.chunk(c)
                partials[c] = idg_flat(base, lo, hi, shift, &p, bins == nil ? nil : kbs.pointer, h) != 0
                    ? Partial(p) : flatPartial(base, lo..<hi, shift: shift, bins: bins, histogram: h)
            }
        }
        combineHistograms(0, chunks, into: histogram)
        var stats = finishStats(combine(partials, chunks), shift: shift)
        stats.betweenSampleStd = .nan; stats.deadFraction = .nan; stats.inputDependence = .nan
        return stats
    }

    /// The statistics of a forward blob whose leading axis is the batch: everything `compute`
    /// gives plus betweenSampleStd, deadFraction and inputDependence. `shape` must hold
    /// `values.count` elements (otherwise only the `compute` statistics are returned); an empty
    /// shape is one sample.
    public func computeForward(_ values: UnsafeBufferPointer<Float>, shape: [Int],
                               histogram: HistogramTarget? = nil) -> BlobStats {
        guard values.count > 0, let base = values.baseAddress, shape.reduce(1, *) == values.count else {
            return compute(values, histogram: histogram)
        }
        return batchPass(base, shape: shape, relu: false, output: nil, histogram: histogram).x
    }

    /// `computeForward` plus `saturatedFraction`, counted in the same pass (the batch kernel's
    /// band variant): the share of finite values with |y − band.center| > band.halfWidth, both
    /// taken as Float and compared in Float. Without a batch layout (shape not matching) the flat
    /// statistics and a scalar count.
    public func computeForward(_ values: UnsafeBufferPointer<Float>, shape: [Int],
                               band: (center: Double, halfWidth: Double), histogram: HistogramTarget? = nil) -> BlobStats {
        let b = (Float(band.center), Float(band.halfWidth))
        guard values.count > 0, let base = values.baseAddress, shape.reduce(1, *) == values.count else {
            var s = compute(values, histogram: histogram)
            var n = 0, finite = 0
            for v in values where v.isFinite {
                finite += 1
                if Swift.abs(v - b.0) > b.1 { n += 1 }
            }
            s.saturatedFraction = finite > 0 ? Double(n) / Double(finite) : .nan
            return s
        }
        return batchPass(base, shape: shape, relu: false, output: nil, band: b, histogram: histogram).x
    }

    /// The forward statistics of x and of y = max(x, 0) (Caffe's ReLU with negative_slope 0) from
    /// one read of x, and, with `output`, y written there (which may be x itself: the in-place
    /// ReLU after a convolution). y is written only after both sets of statistics are taken, so
    /// x's are exact even in place. The probes use it to record a convolution's output and the
    /// ReLU's output in the ReLU's own pass.
    /// With `histograms` (both or neither), the histograms of x and y from the same pass; when y's
    /// bins are x's (the probes' choice for a fused ReLU), y's is derived from x's
    /// (`foldNonPositiveIntoZero`): one count per value instead of two.
    public func computeReLUForward(_ values: UnsafeBufferPointer<Float>, shape: [Int],
                                   output: UnsafeMutablePointer<Float>?,
                                   histograms: (x: HistogramTarget, y: HistogramTarget)? = nil) -> (x: BlobStats, y: BlobStats) {
        guard values.count > 0, let base = values.baseAddress, shape.reduce(1, *) == values.count else {
            // No batch layout: statistics of x, then y written and measured on its own.
            let x = compute(values, histogram: histograms?.x)
            if let out = output, let base = values.baseAddress {
                for i in 0..<values.count { out[i] = caffeReLU(base[i]) }
                return (x, compute(UnsafeBufferPointer(start: out, count: values.count), histogram: histograms?.y))
            }
            if let h = histograms?.y {
                // y's histogram without writing y.
                h.counts.initialize(repeating: 0, count: TraceHistogramBins.slotCount)
                for v in values { if let k = h.bins.slot(caffeReLU(v)) { h.counts[k] += 1 } }
            }
            return (x, BlobStats())
        }
        if let h = histograms, h.y.bins == h.x.bins {
            let r = batchPass(base, shape: shape, relu: true, output: output, histogram: h.x, reluHistogram: nil)
            h.y.counts.update(from: h.x.counts, count: TraceHistogramBins.slotCount)
            h.y.bins.foldNonPositiveIntoZero(h.y.counts)
            return (r.x, r.y!)
        }
        let r = batchPass(base, shape: shape, relu: true, output: output, histogram: histograms?.x,
                          reluHistogram: histograms?.y)
        return (r.x, r.y!)
    }

    /// Caffe's ReLU backward with negative_slope 0, dx = dy·[y > 0], written into `dx` (which may be
    /// dy itself), with the statistics of dy and of dx from the same pass: the gradient the layer
    /// above wrote and the one the ReLU writes.
    /// With `histograms` (both or neither), the histograms of dy and dx from the same pass; when
    /// dx's bins are dy's (the probes' choice for a fused ReLU) the pass counts dy where y > 0 and
    /// where y ≤ 0 apart — one count per value — and both histograms follow: dy's is the sum,
    /// dx's the first with the second's count added to 0's slot (dx = dy·0 = ±0 there).
    public func computeReLUBackward(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                    count: Int, histograms: (dy: HistogramTarget, dx: HistogramTarget)? = nil)
        -> (dy: BlobStats, dx: BlobStats) {
        guard count > 0 else {
            histograms?.dy.counts.initialize(repeating: 0, count: TraceHistogramBins.slotCount)
            histograms?.dx.counts.initialize(repeating: 0, count: TraceHistogramBins.slotCount)
            return (BlobStats(), BlobStats())
        }
        let shiftA = firstFinite(dy, count)
        var shiftB = 0.0
        for i in 0..<count {
            let b = dy[i] * (y[i] > 0 ? 1 : 0)
            if b.isFinite { shiftB = Double(b); break }
        }
        let chunk = BlobStatistics.chunkElements
        let chunks = (count + chunk - 1) / chunk
        reservePartials(2 * chunks)
        if histograms != nil { reserveHistograms(2 * chunks) }
        let partials = self.partials
        let hists = HistogramSlots(chunkHistograms)
        var kb = (histograms?.dy.kernelBins ?? idg_bins(), histograms?.dx.kernelBins ?? idg_bins())
        let bins = histograms.map { ($0.dy.bins, $0.dx.bins) }
        // Split: chunk histograms c hold dy where y > 0, chunks + c dy where y ≤ 0 (dy's bins).
        let split = bins.map { $0.0 == $0.1 } ?? false
        withUnsafePointer(to: &kb.0) { ka in withUnsafePointer(to: &kb.1) { kbx in
            let kas = UnsafeSendablePointer(ka), kbs = UnsafeSendablePointer(kbx)
            statisticsRunChunks(chunks, threads: threads ?? Engine.threads) { c in
                let lo = c * chunk, hi = Swift.min(count, lo + chunk)
                var pa = idg_partial_empty(), pb = idg_partial_empty()
                let ha = bins == nil ? nil : hists.chunk(c), hb = bins == nil ? nil : hists.chunk(chunks + c)
                let done = Int(idg_relu_backward(dy, y, dx, lo, hi, shiftA, shiftB, &pa, &pb,
                                                 bins == nil ? nil : kas.pointer, ha,
                                                 bins == nil || split ? nil : kbs.pointer, hb))
                var a = Partial(pa), b = Partial(pb)
                // From the first block the kernel left (a value that is not finite, or huge): exact.
                for i in done..<hi {
                    let v = dy[i]
                    let w = v * (y[i] > 0 ? 1 : 0)
                    dx[i] = w
                    if v.isFinite { a.addFinite(v, shift: shiftA) } else { a.nonfinite += 1 }
                    if w.isFinite { b.addFinite(w, shift: shiftB) } else { b.nonfinite += 1 }
                    if let bins, let ha, let hb {
                        if split {
                            if let k = bins.0.slot(v) { (y[i] > 0 ? ha : hb)[k] += 1 }
                        } else {
                            if let k = bins.0.slot(v) { ha[k] += 1 }
                            if let k = bins.1.slot(w) { hb[k] += 1 }
                        }
                    }
                }
                partials[c] = a
                partials[chunks + c] = b
            }
        } }
        combineHistograms(0, chunks, into: histograms?.dy)
        combineHistograms(chunks, chunks, into: histograms?.dx)
        if split, let h = histograms {
            // dy = (y > 0 part) + (y ≤ 0 part); dx = the y > 0 part, the rest at ±0.
            let z = h.dx.bins.slot(0)!
            var masked: Int64 = 0
            for k in 0..<TraceHistogramBins.slotCount {
                masked += h.dx.counts[k]
                swap(&h.dy.counts[k], &h.dx.counts[k])
                h.dy.counts[k] += h.dx.counts[k]
            }
            h.dx.counts[z] += masked
        }
        let a = finishStats(combine(partials, chunks), shift: shiftA)
        let b = finishStats(combine(partials + chunks, chunks), shift: shiftB)
        return (a, b)
    }

    /// The batch pass over a samples × perSample matrix: the statistics of x, and with `relu`
    /// those of max(x, 0) too (then written to `output` when given).
    private func batchPass(_ base: UnsafePointer<Float>, shape: [Int], relu: Bool,
                           output: UnsafeMutablePointer<Float>?,
                           band: (Float, Float)? = nil, histogram: HistogramTarget? = nil,
                           reluHistogram: HistogramTarget? = nil) -> (x: BlobStats, y: BlobStats?) {
        let count = shape.reduce(1, *)
        let samples = shape.isEmpty ? 1 : shape[0]
        let perSample = count / samples
        let channels = shape.count >= 2 ? shape[1] : 1
        let positions = perSample / Swift.max(channels, 1)
        let shift = firstFinite(base, count)
        let reluShift = Double(caffeReLU(Float(shift)))
        // Column ranges of ~forwardChunkElements elements (all samples of those columns), a
        // multiple of the vector width; fixed by the shape alone.
        let width = 8
        let columnsPerChunk = Swift.max(width, (BlobStatistics.forwardChunkElements / samples) / width * width)
        let chunks = (perSample + columnsPerChunk - 1) / columnsPerChunk
        reservePartials(2 * chunks)
        reserveColumns(perSample)
        // With the ReLU, x's histogram alone when the caller derives y's (reluHistogram nil).
        let withHistogram = histogram != nil
        if withHistogram { reserveHistograms(2 * chunks) }
        let hists = HistogramSlots(chunkHistograms)
        var kbins = (histogram?.kernelBins ?? idg_bins(), reluHistogram?.kernelBins ?? idg_bins())
        let xBins = withHistogram ? histogram?.bins : nil, yBins = withHistogram && relu ? reluHistogram?.bins : nil
        let partials = self.partials
        // The per-column Float scratch is stored to while the same columns of every row are
        // loaded; rows lie at multiples of the row stride, so scratch at the same offset modulo
        // 4 KiB as the blob makes each load wait on an unrelated store ("4K aliasing"). The five
        // scratch arrays are placed 640, 1280, … 3200 bytes away from the blob modulo 4 KiB.
        let f = (0..<5).map { skewed(floatScratch[$0], from: base, bytes: 640 * ($0 + 1)) }
        var scratch = idg_column_scratch(sum: f[0], squares: f[1], maximum: f[2],
                                         column_sum: doubleScratch[0], column_squares: doubleScratch[1],
                                         alive: columnAlive, relu_sum: f[3], relu_squares: f[4],
                                         relu_column_sum: doubleScratch[2], relu_column_squares: doubleScratch[3])
        withUnsafePointer(to: &scratch) { scratchPointer in
        withUnsafePointer(to: &kbins.0) { kxp in withUnsafePointer(to: &kbins.1) { kyp in
            let sp = UnsafeSendablePointer(scratchPointer)
            let kx = UnsafeSendablePointer(kxp), ky = UnsafeSendablePointer(kyp)
            statisticsRunChunks(chunks, threads: threads ?? Engine.threads) { c in
                let lo = c * columnsPerChunk, hi = Swift.min(perSample, lo + columnsPerChunk)
                var p = idg_partial_empty(), q = idg_partial_empty()
                let hx = withHistogram ? hists.chunk(c) : nil, hy = yBins != nil ? hists.chunk(chunks + c) : nil
                let bx = withHistogram ? kx.pointer : nil, by = yBins != nil ? ky.pointer : nil
                let ok: Bool
                if relu {
                    ok = idg_columns(base, samples, perSample, lo, hi, shift, sp.pointer, &p, &q, reluShift, output,
                                     bx, hx, by, hy) != 0
                } else if let band {
                    ok = idg_columns_band(base, samples, perSample, lo, hi, shift, sp.pointer, &p, band.0, band.1,
                                          bx, hx) != 0
                } else {
                    ok = idg_columns(base, samples, perSample, lo, hi, shift, sp.pointer, &p, nil, 0, nil,
                                     bx, hx, nil, nil) != 0
                }
                if ok {
                    partials[c] = Partial(p)
                    partials[chunks + c] = Partial(q)
                    return
                }
                // A value that is not finite: exact scalar statistics of x and of y (nothing is
                // written yet), then y.
                let s = sp.pointer.pointee
                partials[c] = forwardPartialScalar(base, samples: samples, perSample: perSample, columns: lo..<hi,
                                                   shift: shift, relu: false, columnSum: s.column_sum,
                                                   columnSquares: s.column_squares, columnAlive: s.alive, band: band,
                                                   bins: xBins, histogram: hx)
                guard relu else { return }
                partials[chunks + c] = forwardPartialScalar(base, samples: samples, perSample: perSample,
                                                            columns: lo..<hi, shift: reluShift, relu: true,
                                                            columnSum: s.column_sum, columnSquares: s.column_squares,
                                                            columnAlive: s.alive, bins: yBins, histogram: hy)
                if let out = output {
                    for n in 0..<samples {
                        for j in lo..<hi { out[n * perSample + j] = caffeReLU(base[n * perSample + j]) }
                    }
                }
            }
        } }
        }
        if withHistogram {
            combineHistograms(0, chunks, into: histogram)
            if yBins != nil { combineHistograms(chunks, chunks, into: reluHistogram) }
        }
        let columnAlive = self.columnAlive
        func finish(_ total: Partial, shift: Double) -> BlobStats {
            var stats = finishStats(total, shift: shift)
            if band != nil, !relu { stats.saturatedFraction = total.finite > 0 ? Double(total.saturated) / Double(total.finite) : .nan }
            if total.nonfinite > 0 {
                stats.betweenSampleStd = .nan; stats.deadFraction = .nan; stats.inputDependence = .nan
                return stats
            }
            let meanVariance = total.varianceSum / Double(perSample)
            stats.betweenSampleStd = meanVariance.squareRoot()
            let overall = stats.std * stats.std
            stats.inputDependence = overall > 0 ? meanVariance / overall : 0
            // A channel is dead when no value of it is > 0 (the same for x and max(x, 0)).
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
        let x = finish(combine(partials, chunks), shift: shift)
        return (x, relu ? finish(combine(partials + chunks, chunks), shift: reluShift) : nil)
    }

    /// ‖update‖₂ / ‖weights‖₂ (docs/trace-format.md `param<i>/update_ratio`), both norms accumulated in
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
        t.saturated += p.saturated
    }
    return t
}

private func firstFinite(_ base: UnsafePointer<Float>, _ count: Int) -> Double {
    for i in 0..<count where base[i].isFinite { return Double(base[i]) }
    return 0
}

/// Scalar path of `compute` for a chunk that holds non-finite values: counts and skips them.
private func flatPartial(_ base: UnsafePointer<Float>, _ range: Range<Int>, shift: Double,
                         bins: TraceHistogramBins? = nil, histogram: UnsafeMutablePointer<Int64>? = nil) -> BlobStatistics.Partial {
    var p = BlobStatistics.Partial()
    histogram?.initialize(repeating: 0, count: TraceHistogramBins.slotCount)
    for i in range {
        let v = base[i]
        if v.isFinite {
            p.addFinite(v, shift: shift)
            if let bins, let histogram, let k = bins.slot(v) { histogram[k] += 1 }
        } else {
            p.nonfinite += 1
        }
    }
    return p
}

/// Scalar path of the batch pass for a chunk the kernel left (a value that is not finite, or so
/// large that a Float square overflows), row by row, per-column sums in scratch; with `relu`, of
/// caffeReLU(x) instead of x.
private func forwardPartialScalar(_ base: UnsafePointer<Float>, samples: Int, perSample: Int, columns: Range<Int>,
                                  shift: Double, relu: Bool, columnSum: UnsafeMutablePointer<Double>,
                                  columnSquares: UnsafeMutablePointer<Double>,
                                  columnAlive: UnsafeMutablePointer<UInt8>,
                                  band: (Float, Float)? = nil, bins: TraceHistogramBins? = nil,
                                  histogram: UnsafeMutablePointer<Int64>? = nil) -> BlobStatistics.Partial {
    var p = BlobStatistics.Partial()
    histogram?.initialize(repeating: 0, count: TraceHistogramBins.slotCount)
    for j in columns { columnSum[j] = 0; columnSquares[j] = 0; columnAlive[j] = 0 }
    for n in 0..<samples {
        let row = base + n * perSample
        for j in columns {
            let v = relu ? caffeReLU(row[j]) : row[j]
            if v.isFinite {
                p.addFinite(v, shift: shift)
                if let band, Swift.abs(v - band.0) > band.1 { p.saturated += 1 }
                if let bins, let histogram, let k = bins.slot(v) { histogram[k] += 1 }
                let dj = Double(v) - Double(relu ? caffeReLU(base[j]) : base[j])
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

/// Caffe's ReLU with negative_slope 0, exactly as ReLULayer computes it (NaN and −∞ give NaN).
@inline(__always)
func caffeReLU(_ v: Float) -> Float { (v < 0 ? 0 : v) + 0 * (0 < v ? 0 : v) }

extension BlobStatistics.Partial {
    fileprivate init(_ c: idg_partial) {
        self.init()
        finite = Int(c.finite); zeros = Int(c.zeros); nonfinite = Int(c.nonfinite)
        shiftedSum = c.shifted_sum; shiftedSquares = c.shifted_squares; absSum = c.abs_sum
        squares = c.squares; minimum = c.minimum; maximum = c.maximum; varianceSum = c.variance_sum
        saturated = Int(c.saturated)
    }
}

/// The per-chunk histogram slots, handed to the statistics threads (each chunk writes its own).
private struct HistogramSlots: @unchecked Sendable {
    let base: UnsafeMutablePointer<Int64>
    init(_ b: UnsafeMutablePointer<Int64>) { base = b }
    func chunk(_ c: Int) -> UnsafeMutablePointer<Int64> { base + c * TraceHistogramBins.slotCount }
}

/// A pointer handed to the statistics threads, each of which touches only its own columns.
private struct UnsafeSendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafePointer<T>
    init(_ p: UnsafePointer<T>) { pointer = p }
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
