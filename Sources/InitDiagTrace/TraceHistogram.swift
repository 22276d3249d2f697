import InitDiagCore

/// The bins of one recorded blob's histogram (docs/trace-format.md, "Histograms"): 64 equal bins
/// over [lo, hi], chosen once per run at the first recorded step and stored with the trace
/// (attribute `bin_edges`), plus an underflow slot (x < lo) and an overflow slot (x > hi). A step's
/// histogram is 66 counts: slot 0 underflow, slots 1…64 the bins (bin k is [e_k, e_{k+1}), the
/// last one closed), slot 65 overflow. Non-finite values are not counted (`nonfinite_count` has
/// them).
///
/// The range is restricted so that the kernels can bin exactly in Float: the bin width is a power
/// of two and lo a whole number of widths, so t = x·(64/(hi − lo)) is exact and x lies in bin
/// ⌊t⌋ + offset. Two kinds are used: a bounded nonlinearity's output range ([0, 1] for sigmoid,
/// [−1, 1] for tanh), and [−M, M] with M the smallest power of two ≥ max|x| at the first recorded
/// step (clamped to [2⁻⁶⁰, 2¹²⁸]; M = 1 when the blob has no finite non-zero value then).
public struct TraceHistogramBins: Sendable, Equatable {
    public static let binCount = 64
    /// Every column of a step recorded without histograms (`--histogram-every`): counts are never
    /// negative, so a row of −1 reads as "not counted" in any viewer.
    public static let notCounted: Int64 = -1
    /// Counts per step: underflow, the 64 bins, overflow.
    public static let slotCount = 66
    /// Smallest and largest M of a symmetric range.
    public static let smallestHalfRange = 0x1p-60
    public static let largestHalfRange = 0x1p128

    public let lo: Double
    public let hi: Double

    /// Bins per unit of x (a power of two).
    public var scale: Double { Double(TraceHistogramBins.binCount) / (hi - lo) }
    /// −lo·scale, a whole number in 0…64.
    public var offset: Double { -lo * scale }
    public var width: Double { (hi - lo) / Double(TraceHistogramBins.binCount) }
    /// The 65 bin edges e_0 = lo … e_64 = hi (exact).
    public var edges: [Double] { (0...TraceHistogramBins.binCount).map { lo + Double($0) * width } }
    /// The 64 bin centres.
    public var centers: [Double] { (0..<TraceHistogramBins.binCount).map { lo + (Double($0) + 0.5) * width } }

    /// Bins over [lo, hi]; nil unless the width is a power of two and lo a multiple of it with
    /// 0 ≤ −lo/width ≤ 64 (the ranges the kernels bin exactly).
    public init?(lo: Double, hi: Double) {
        guard lo.isFinite, hi.isFinite, hi > lo else { return nil }
        let s = Double(TraceHistogramBins.binCount) / (hi - lo)
        guard s.isFinite, s > 0, s.significandBitPattern == 0, s.exponent >= -126, s.exponent <= 126 else { return nil }
        let o = -lo * s
        guard o == o.rounded(), o >= 0, o <= Double(TraceHistogramBins.binCount) else { return nil }
        self.lo = lo
        self.hi = hi
    }

    /// The bins whose edges are `edges` (the `bin_edges` attribute of a trace), nil when they are
    /// not 65 edges of such bins.
    public init?(edges: [Double]) {
        guard edges.count == TraceHistogramBins.binCount + 1, let b = TraceHistogramBins(lo: edges[0], hi: edges[64]),
              b.edges == edges else { return nil }
        self = b
    }

    /// [−M, M], M the smallest power of two ≥ `maxAbs` (see the type).
    public static func symmetric(maxAbs: Double) -> TraceHistogramBins {
        var m = 1.0
        if maxAbs.isFinite, maxAbs > 0 {
            m = maxAbs.significandBitPattern == 0 ? maxAbs : Double(sign: .plus, exponent: maxAbs.exponent + 1, significand: 1)
            m = Swift.min(Swift.max(m, smallestHalfRange), largestHalfRange)
        }
        return TraceHistogramBins(lo: -m, hi: m)!
    }

    /// The slot of `x` (0 underflow, 1…64 bins, 65 overflow), nil when x is not finite. Exact: the
    /// product of a Float and a power of two is exact in Double.
    @inline(__always)
    public func slot(_ x: Float) -> Int? {
        guard x.isFinite else { return nil }
        let t = Double(x) * scale
        let o = offset
        let top = Double(TraceHistogramBins.binCount) - o
        if t == top { return TraceHistogramBins.binCount }
        if t > top { return TraceHistogramBins.slotCount - 1 }
        let k = t.rounded(.down) + o
        return k < 0 ? 0 : Int(k) + 1
    }

    /// Turns the histogram of x over these bins into that of Caffe's ReLU max(x, 0) over the same
    /// bins, in place (docs/trace-format.md "Histograms": a fused in-place ReLU shares its bottom's
    /// bins). Exact: slots are monotone in x, every x ≤ 0 becomes ±0 (0's slot) and every x > 0
    /// keeps its slot, so the counts below 0's slot move into it.
    public func foldNonPositiveIntoZero(_ counts: UnsafeMutablePointer<Int64>) {
        let z = slot(0)!
        for k in 0..<z { counts[z] += counts[k]; counts[k] = 0 }
    }

    /// The quantile probabilities of the `q..` series, in `TraceStatisticNames.quantiles` order.
    public static let quantileProbabilities: [Double] = [0.01, 0.05, 0.5, 0.95, 0.99]

    /// The p-quantile estimated from one step's counts: the slot where the cumulative count first
    /// reaches p·n (n = the counted values), interpolated linearly inside it; the slot's interval
    /// is its bin's edges (for the underflow slot [min, lo], for overflow [hi, max]) clipped to
    /// [min, max]. The exact order statistic x₍⌈pn⌉₎ lies in the same slot, so the error is at
    /// most that clipped interval's width (one bin width inside [lo, hi]). NaN when n = 0.
    public func quantile(_ p: Double, counts: UnsafePointer<Int64>, min: Double, max: Double) -> Double {
        var n: Int64 = 0
        for s in 0..<TraceHistogramBins.slotCount { n += counts[s] }
        guard n > 0, min.isFinite, max.isFinite else { return .nan }
        let rank = p * Double(n)
        var before: Int64 = 0
        for s in 0..<TraceHistogramBins.slotCount {
            let c = counts[s]
            if c > 0, Double(before + c) >= rank {
                var a: Double, b: Double
                switch s {
                case 0: a = min; b = lo
                case TraceHistogramBins.slotCount - 1: a = hi; b = max
                default: a = lo + Double(s - 1) * width; b = a + width
                }
                a = Swift.max(a, min); b = Swift.min(b, max)
                if b < a { b = a }
                let f = Swift.min(1, Swift.max(0, (rank - Double(before)) / Double(c)))
                return a + f * (b - a)
            }
            before += c
        }
        return max
    }
}
