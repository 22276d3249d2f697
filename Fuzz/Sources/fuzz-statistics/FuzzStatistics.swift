// libFuzzer target: the probes' statistics kernels (Sources/CStatistics, C++ with raw pointers,
// run under AddressSanitizer here) on hostile blobs. Bytes 0–2 choose a shape (1–9 samples,
// 1–5 channels, 1–13 positions), byte 3 the kernel copy (baseline or AVX2) and the ReLU slope's
// sign; the rest are the blob's Float bits (NaN, ±∞, denormals, 1e38 included), repeated to fill it.
// Checks: every statistic against a two-pass Double reference; the fused ReLU passes write exactly
// what Caffe's scalar formula writes and measure what the plain passes measure.
import CStatistics
import InitDiag

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStatistics(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 8 else { return 0 }
    let samples = 1 + Int(data[0] % 9), channels = 1 + Int(data[1] % 5), positions = 1 + Int(data[2] % 13)
    let count = samples * channels * positions
    let best = idg_set_isa(2)
    idg_set_isa(data[3] & 1 == 0 ? 0 : best)
    defer { idg_set_isa(best) }
    let floatBytes = (size - 4) / 4
    guard floatBytes > 0 else { return 0 }
    var x = [Float](repeating: 0, count: count)
    for i in 0..<count {
        let k = 4 + 4 * (i % floatBytes)
        x[i] = Float(bitPattern: UInt32(data[k]) | UInt32(data[k + 1]) << 8 | UInt32(data[k + 2]) << 16 | UInt32(data[k + 3]) << 24)
    }
    let shape = [samples, channels, positions]
    let statistics = BlobStatistics(threads: 1)

    let plain = x.withUnsafeBufferPointer { statistics.computeForward($0, shape: shape) }
    check(plain, reference(x, shape: shape), "computeForward")
    let flat = x.withUnsafeBufferPointer { statistics.compute($0) }
    check(flat, reference(x, shape: nil), "compute")

    // Fused ReLU forward, in place: the output is Caffe's, x's statistics are the plain pass's.
    var y = x
    let (sx, sy) = y.withUnsafeMutableBufferPointer {
        statistics.computeReLUForward(UnsafeBufferPointer($0), shape: shape, output: $0.baseAddress)
    }
    let expected = x.map { v in (v < 0 ? 0 : v) + 0 * (0 < v ? 0 : v) }
    for i in 0..<count where !(y[i].bitPattern == expected[i].bitPattern || (y[i].isNaN && expected[i].isNaN)) {
        fatalError("fused ReLU forward wrote \(y[i]) for \(x[i]) at \(i), Caffe gives \(expected[i])")
    }
    check(sx, reference(x, shape: shape), "computeReLUForward x")
    check(sy, reference(expected, shape: shape), "computeReLUForward y")

    // Fused ReLU backward: dy = x, mask from y = relu(x reversed), in place.
    let mask = Array(expected.reversed())
    var dx = x
    let (sa, sb) = dx.withUnsafeMutableBufferPointer { d in
        mask.withUnsafeBufferPointer { statistics.computeReLUBackward(dy: d.baseAddress!, y: $0.baseAddress!, dx: d.baseAddress!, count: count) }
    }
    let expectedDx = zip(x, mask).map { g, v in g * ((v > 0 ? 1 : 0) + 0 * (v <= 0 ? 1 : 0)) }
    for i in 0..<count where !(dx[i].bitPattern == expectedDx[i].bitPattern || (dx[i].isNaN && expectedDx[i].isNaN)) {
        fatalError("fused ReLU backward wrote \(dx[i]) at \(i), Caffe gives \(expectedDx[i])")
    }
    check(sa, reference(x, shape: nil), "computeReLUBackward dy")
    check(sb, reference(expectedDx, shape: nil), "computeReLUBackward dx")
    return 0
}

/// Two-pass Double statistics (the finite values only; batch statistics only without non-finite).
private func reference(_ x: [Float], shape: [Int]?) -> BlobStats {
    let finite = x.filter { $0.isFinite }.map(Double.init)
    var s = BlobStats(nonfiniteCount: x.count - finite.count)
    s.l2 = finite.reduce(0) { $0 + $1 * $1 }.squareRoot()
    guard !finite.isEmpty else { return s }
    let n = Double(finite.count)
    s.mean = finite.reduce(0, +) / n
    s.std = (finite.reduce(0) { $0 + ($1 - s.mean) * ($1 - s.mean) } / n).squareRoot()
    s.meanAbs = finite.reduce(0) { $0 + abs($1) } / n
    s.min = finite.min()!; s.max = finite.max()!
    s.zeroFraction = Double(finite.filter { $0 == 0 }.count) / n
    guard let shape, s.nonfiniteCount == 0 else { return s }
    let samples = shape[0], per = x.count / samples
    var varianceSum = 0.0
    for j in 0..<per {
        let column = (0..<samples).map { Double(x[$0 * per + j]) }
        let m = column.reduce(0, +) / Double(samples)
        varianceSum += column.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(samples)
    }
    s.betweenSampleStd = (varianceSum / Double(per)).squareRoot()
    return s
}

/// Within the documented bound (4e-6 relative, batch variances 5e-5; mean relative to the spread),
/// widened to 1e-3 for the Float-lane sums of adversarial values; counts and extremes exactly.
private func check(_ s: BlobStats, _ r: BlobStats, _ what: String) {
    func fail(_ name: String, _ a: Double, _ b: Double) -> Never { fatalError("\(what): \(name) \(a), reference \(b)") }
    if s.nonfiniteCount != r.nonfiniteCount { fail("nonfinite_count", Double(s.nonfiniteCount), Double(r.nonfiniteCount)) }
    for (name, a, b) in [("min", s.min, r.min), ("max", s.max, r.max), ("zero_fraction", s.zeroFraction, r.zeroFraction)]
        where !(a == b || (a.isNaN && b.isNaN)) { fail(name, a, b) }
    let scale = max(abs(r.mean) + r.std, Double.leastNormalMagnitude)
    func close(_ a: Double, _ b: Double, _ size: Double) -> Bool {
        (a.isNaN && b.isNaN) || a == b || (b.isFinite && abs(a - b) <= 1e-3 * size) || (b.isInfinite && a == b)
    }
    if !close(s.mean, r.mean, scale) { fail("mean", s.mean, r.mean) }
    if !close(s.std, r.std, scale) { fail("std", s.std, r.std) }
    if !close(s.meanAbs, r.meanAbs, max(r.meanAbs, Double.leastNormalMagnitude)) { fail("mean_abs", s.meanAbs, r.meanAbs) }
    if !close(s.l2, r.l2, max(r.l2, Double.leastNormalMagnitude)) { fail("l2", s.l2, r.l2) }
    if r.betweenSampleStd.isFinite, !close(s.betweenSampleStd, r.betweenSampleStd, scale) {
        fail("between_sample_std", s.betweenSampleStd, r.betweenSampleStd)
    }
}
