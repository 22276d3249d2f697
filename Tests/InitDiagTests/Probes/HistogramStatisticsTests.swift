import CStatistics
import Foundation
import Testing
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine

// Histograms of recorded blobs (docs/trace-format.md "Histograms"), taken inside the one-pass
// kernels (the `Hist` variants of kernels.h) and by the scalar fallbacks: every count against a
// two-pass reference that bins each value by comparing it with the Double bin edges — for both
// kernel copies, 1 and 2 threads, odd shapes, NaN/±Inf, values on edges, beyond the range and
// tiny negatives, and all-equal blobs. Counts are integers: they must agree exactly.

/// The reference: slot 0 below e_0, 65 above e_64, otherwise the bin k with e_k ≤ x < e_{k+1}
/// (the last bin closed), found by comparisons with the edges alone.
private func referenceCounts(_ x: [Float], _ bins: TraceHistogramBins) -> [Int64] {
    let e = bins.edges
    var c = [Int64](repeating: 0, count: 66)
    for v in x where v.isFinite {
        let d = Double(v)
        if d < e[0] { c[0] += 1; continue }
        if d > e[64] { c[65] += 1; continue }
        var k = 63
        while k > 0 && d < e[k] { k -= 1 }
        c[k + 1] += 1
    }
    return c
}

/// Values that hit every kind of slot: spread over ±1.5·M of the bins, some exactly on edges,
/// on ±hi, tiny negatives and positives (whose product with the scale is far below the bin
/// width), 0 and −0, and with `nonFinite` NaN and ±Inf.
private func mixed(_ count: Int, bins: TraceHistogramBins, seed: UInt32, nonFinite: Bool) -> [Float] {
    var g = MT19937(seed: seed)
    let e = bins.edges
    return (0..<count).map { _ in
        let u = Double(g.next()) / Double(UInt32.max)
        switch g.next() % 29 {
        case 0: return Float(e[Int(g.next() % 65)])
        case 1: return -1e-30
        case 2: return 1e-30
        case 3: return 0
        case 4: return -0.0
        case 5: return Float(bins.hi)
        case 6: return nonFinite ? .nan : Float(bins.lo)
        case 7: return nonFinite ? (g.next() % 2 == 0 ? .infinity : -.infinity) : Float(bins.hi * 3)
        case 8: return -Float.leastNonzeroMagnitude
        default: return Float(bins.lo + (u * 1.5 - 0.25) * (bins.hi - bins.lo))
        }
    }
}

private func counts(_ body: (HistogramTarget) -> Void, _ bins: TraceHistogramBins) -> [Int64] {
    let p = UnsafeMutablePointer<Int64>.allocate(capacity: 66)
    defer { p.deallocate() }
    p.initialize(repeating: -7, count: 66)
    body(HistogramTarget(bins: bins, counts: p))
    return Array(UnsafeBufferPointer(start: p, count: 66))
}

private func counts2(_ body: (HistogramTarget, HistogramTarget) -> Void, _ a: TraceHistogramBins,
                     _ b: TraceHistogramBins) -> ([Int64], [Int64]) {
    let p = UnsafeMutablePointer<Int64>.allocate(capacity: 132)
    defer { p.deallocate() }
    p.initialize(repeating: -7, count: 132)
    body(HistogramTarget(bins: a, counts: p), HistogramTarget(bins: b, counts: p + 66))
    return (Array(UnsafeBufferPointer(start: p, count: 66)), Array(UnsafeBufferPointer(start: p + 66, count: 66)))
}

@Suite(.serialized) struct HistogramStatisticsTests {
    static let shapes: [[Int]] = [[7], [1, 13], [3, 5, 7], [5, 3, 1, 1], [129, 37], [300, 1000], [2, 200_003]]
    static let binChoices: [TraceHistogramBins] = [
        .symmetric(maxAbs: 3), .symmetric(maxAbs: 1e-3), TraceHistogramBins(lo: 0, hi: 1)!,
        TraceHistogramBins(lo: -1, hi: 1)!, TraceHistogramBins(lo: -0.25, hi: 0.75)!,
    ]

    @Test func binsChoiceAndEdges() throws {
        #expect(TraceHistogramBins.symmetric(maxAbs: 3) == TraceHistogramBins(lo: -4, hi: 4))
        #expect(TraceHistogramBins.symmetric(maxAbs: 4) == TraceHistogramBins(lo: -4, hi: 4))
        #expect(TraceHistogramBins.symmetric(maxAbs: 4.000001) == TraceHistogramBins(lo: -8, hi: 8))
        #expect(TraceHistogramBins.symmetric(maxAbs: 0.3) == TraceHistogramBins(lo: -0.5, hi: 0.5))
        #expect(TraceHistogramBins.symmetric(maxAbs: 0) == TraceHistogramBins(lo: -1, hi: 1))
        #expect(TraceHistogramBins.symmetric(maxAbs: .nan) == TraceHistogramBins(lo: -1, hi: 1))
        #expect(TraceHistogramBins.symmetric(maxAbs: 1e-40).hi == 0x1p-60)
        #expect(TraceHistogramBins.symmetric(maxAbs: Double(Float.greatestFiniteMagnitude)).hi == 0x1p128)
        #expect(TraceHistogramBins(lo: 0, hi: 3) == nil, "width 3/64 is not a power of two")
        #expect(TraceHistogramBins(lo: 0.01, hi: 1.01) == nil, "lo not a whole number of widths")
        #expect(TraceHistogramBins(lo: 1, hi: 2) == nil, "0 must lie in [lo, hi]")
        for b in Self.binChoices {
            let e = b.edges
            #expect(e.count == 65 && e.first == b.lo && e.last == b.hi)
            #expect(TraceHistogramBins(edges: e) == b)
            #expect(b.centers.count == 64 && abs(b.centers[0] - (e[0] + e[1]) / 2) == 0)
        }
        var bad = TraceHistogramBins(lo: -1, hi: 1)!.edges
        bad[10] += 1e-9
        #expect(TraceHistogramBins(edges: bad) == nil)
    }

    @Test func slotMatchesEdgeComparisons() {
        for b in Self.binChoices {
            let x = mixed(20_000, bins: b, seed: 3, nonFinite: true)
            var c = [Int64](repeating: 0, count: 66)
            for v in x { if let k = b.slot(v) { c[k] += 1 } }
            #expect(c == referenceCounts(x, b), "\(b)")
        }
    }

    /// Every pass of BlobStatistics against the reference, both kernel copies, 1 and 2 threads.
    @Test func everyPassMatchesTheReference() {
        let isa = idg_isa()
        defer { _ = idg_set_isa(isa) }
        for (k, shape) in Self.shapes.enumerated() {
            let n = shape.reduce(1, *)
            // (The largest shapes with two of the bin choices: the suite runs in debug builds.)
            for (bi, bins) in Self.binChoices.enumerated() where n < 100_000 || bi < 2 {
                let yBins = Self.binChoices[(bi + 1) % Self.binChoices.count]
                for nonFinite in [false, true] where n >= 13 || !nonFinite {
                    let x = mixed(n, bins: bins, seed: UInt32(100 * k + 10 * bi + (nonFinite ? 1 : 0)), nonFinite: nonFinite)
                    let y = x.map { v in (v < 0 ? 0 : v) + 0 * (0 < v ? 0 : v) }
                    let dy = mixed(n, bins: yBins, seed: UInt32(7 + k), nonFinite: nonFinite)
                    let dx = zip(dy, y).map { g, v in g * (v > 0 ? 1 : 0) }
                    let rx = referenceCounts(x, bins), ry = referenceCounts(y, yBins)
                    let rdy = referenceCounts(dy, yBins), rdx = referenceCounts(dx, bins)
                    // Shared bins (an in-place ReLU's, docs/trace-format.md): y over x's bins, dx over dy's.
                    let rySharing = referenceCounts(y, bins), rdxSharing = referenceCounts(dx, yBins)
                    for copy: Int32 in [0, 2] {
                        _ = idg_set_isa(copy)
                        for threads in [1, 2] {
                            let st = BlobStatistics(threads: threads)
                            let what = "\(shape) bins \(bi) nonfinite \(nonFinite) isa \(copy) threads \(threads)"
                            x.withUnsafeBufferPointer { xp in
                                #expect(counts({ _ = st.compute(xp, histogram: $0) }, bins) == rx, "flat \(what)")
                                #expect(counts({ _ = st.computeForward(xp, shape: shape, histogram: $0) }, bins) == rx,
                                        "forward \(what)")
                                #expect(counts({ _ = st.computeForward(xp, shape: shape, band: (0.5, 0.497), histogram: $0) },
                                               bins) == rx, "band \(what)")
                                var out = [Float](repeating: 0, count: n)
                                // y over its own bins (counted), then over x's (derived from x's).
                                func forward(_ xb: TraceHistogramBins, _ yb: TraceHistogramBins) -> ([Int64], [Int64]) {
                                    counts2({ a, b in
                                        out.withUnsafeMutableBufferPointer { o in
                                            _ = st.computeReLUForward(xp, shape: shape, output: o.baseAddress, histograms: (a, b))
                                        }
                                    }, xb, yb)
                                }
                                let (hx, hy) = forward(bins, yBins)
                                #expect(hx == rx && hy == ry, "relu forward \(what)")
                                let (sx, sy) = forward(bins, bins)
                                #expect(sx == rx && sy == rySharing, "relu forward, y's histogram derived from x's, \(what)")
                                #expect(zip(out, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) },
                                        "relu forward output \(what)")
                            }
                            var dxOut = [Float](repeating: 0, count: n)
                            // dx over its own bins (two counts per value), then over dy's (one split count).
                            func backward(_ dyb: TraceHistogramBins, _ dxb: TraceHistogramBins) -> ([Int64], [Int64]) {
                                counts2({ a, b in
                                    dy.withUnsafeBufferPointer { d in y.withUnsafeBufferPointer { yp in
                                        dxOut.withUnsafeMutableBufferPointer { o in
                                            _ = st.computeReLUBackward(dy: d.baseAddress!, y: yp.baseAddress!, dx: o.baseAddress!,
                                                                       count: n, histograms: (a, b))
                                        }
                                    } }
                                }, dyb, dxb)
                            }
                            let (hdy, hdx) = backward(yBins, bins)
                            #expect(hdy == rdy && hdx == rdx, "relu backward \(what)")
                            let (sdy, sdx) = backward(yBins, yBins)
                            #expect(sdy == rdy && sdx == rdxSharing, "relu backward, one count per value, \(what)")
                        }
                    }
                }
            }
        }
    }

    /// All-equal blobs: every value in one slot (an edge, the top edge, 0, beyond the range).
    @Test func allEqualBlobs() {
        let isa = idg_isa()
        defer { _ = idg_set_isa(isa) }
        let bins = TraceHistogramBins.symmetric(maxAbs: 1)
        for v: Float in [0, -0.0, 0.25, 1, -1, 7, -7, -1e-30, .nan] {
            for shape in [[64, 9], [3, 1000], [100_000]] {
                let n = shape.reduce(1, *)
                let x = [Float](repeating: v, count: n)
                let r = referenceCounts(x, bins)
                #expect(r.reduce(0, +) == (v.isNaN ? 0 : Int64(n)) && r.filter { $0 != 0 }.count == (v.isNaN ? 0 : 1))
                for copy: Int32 in [0, 2] {
                    _ = idg_set_isa(copy)
                    let st = BlobStatistics(threads: 2)
                    x.withUnsafeBufferPointer { xp in
                        #expect(counts({ _ = st.compute(xp, histogram: $0) }, bins) == r, "\(v) \(shape) flat")
                        #expect(counts({ _ = st.computeForward(xp, shape: shape, histogram: $0) }, bins) == r, "\(v) \(shape)")
                    }
                }
            }
        }
    }

    /// The quantiles lie in the slot of the exact order statistic x₍⌈pn⌉₎, so within that slot's
    /// interval (clipped to [min, max]) of it.
    @Test func quantilesWithinTheirSlot() {
        for (k, bins) in Self.binChoices.enumerated() {
            for n in [1, 2, 17, 1000, 54_321] {
                let x = mixed(n, bins: bins, seed: UInt32(40 + k), nonFinite: true)
                let finite = x.filter(\.isFinite).map(Double.init).sorted()
                var c = referenceCounts(x, bins)
                let lo = finite.first ?? .nan, hi = finite.last ?? .nan
                for p in TraceHistogramBins.quantileProbabilities {
                    let q = c.withUnsafeMutableBufferPointer { bins.quantile(p, counts: $0.baseAddress!, min: lo, max: hi) }
                    guard !finite.isEmpty else { #expect(q.isNaN); continue }
                    let exact = finite[max(0, Int((p * Double(finite.count)).rounded(.up)) - 1)]
                    let s = bins.slot(Float(exact))!
                    var a = s == 0 ? lo : s == 65 ? bins.hi : bins.edges[s - 1]
                    var b = s == 0 ? bins.lo : s == 65 ? hi : bins.edges[s]
                    a = max(a, lo); b = min(b, hi)
                    #expect(q >= a && q <= b, "p \(p) n \(n) bins \(k): \(q) outside [\(a), \(b)] of exact \(exact)")
                    #expect(abs(q - exact) <= b - a)
                }
            }
        }
    }
}
