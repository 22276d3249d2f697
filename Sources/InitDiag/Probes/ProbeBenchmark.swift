import Dispatch

/// Times the per-step statistics work of the seed net (/work/shared/seed: VGG19 for CIFAR-10,
/// 3×32×32 input) at a given batch, on blobs of its real shapes, against a plain Float sum over
/// the same bytes (the memory-bandwidth floor of any one-pass statistic).
///
/// The work is what `Probe` does per recorded step: forward statistics of every layer's first top
/// after its forward (a convolution's top, then the in-place ReLU's top of the same blob), the
/// statistics of the gradient every layer writes into its first bottom, and the data and gradient
/// statistics of every weight and bias. Values are realistic in kind: convolution outputs
/// are a per-channel offset (Xavier biases) plus signed noise, ReLU outputs are their positive
/// part (about half zeros), pooled blobs are maxima of those, gradients are small signed values.
///
/// Run it from a release build:
/// `INITDIAG_BENCH=1 swift test -c release --filter ProbeBenchmarkTests`.
public enum ProbeBenchmark {
    /// One recorded blob of the step, in probe order.
    fileprivate struct Record {
        enum Kind { case forward, flat }
        let blob: Blob
        let diff: Bool
        let kind: Kind
        var parameter = false
    }

    /// Median milliseconds per step over several repetitions, for `threads` threads, with the
    /// element count and the achieved bandwidth; then the same for a plain sum over the same
    /// buffers. The returned text is one line per measurement.
    public static func run(batch: Int, threads: Int) -> String {
        let (records, blobs) = seedNetRecords(batch: batch)
        var elements = 0
        for r in records { elements += r.blob.count }
        let bytes = Double(elements) * 4
        let statistics = BlobStatistics(threads: threads)
        var sink = 0.0
        let repetitions = 5
        // One untimed pass faults the pages in.
        sink += plainSum(records, threads: threads)
        let statsTimes = (0..<repetitions).map { _ in
            time {
                for r in records {
                    let s = statistics.compute(r.blob, diff: r.diff, forward: r.kind == .forward)
                    sink += s.mean
                }
            }
        }.sorted()
        // The share of each kind of record (forward / gradients / parameters), medians.
        var parts: [String] = []
        for (what, kind) in [("forward", 0), ("bottom gradients", 1), ("parameters", 2)] {
            let subset = records.filter { r in
                kind == 0 ? r.kind == .forward : (kind == 1 ? r.kind == .flat && !r.parameter : r.parameter)
            }
            var n = 0
            for r in subset { n += r.blob.count }
            let t = (0..<repetitions).map { _ in
                time { for r in subset { sink += statistics.compute(r.blob, diff: r.diff, forward: r.kind == .forward).mean } }
            }.sorted()[repetitions / 2]
            parts.append("\(what) \(format(Double(n) / 1e6)) M elements \(format(t * 1e3)) ms")
        }
        let sumTimes = (0..<repetitions).map { _ in time { sink += plainSum(records, threads: threads) } }.sorted()
        let statsMs = statsTimes[repetitions / 2] * 1e3, sumMs = sumTimes[repetitions / 2] * 1e3
        withExtendedLifetime(blobs) {}
        func line(_ what: String, _ ms: Double) -> String {
            let gbps = bytes / (ms * 1e-3) / 1e9
            return "\(what) batch \(batch) threads \(threads): \(format(ms)) ms/step, \(format(gbps)) GB/s"
        }
        return [
            "elements/step \(elements) (\(format(bytes / 1e6)) MB) in \(records.count) blobs",
            line("statistics", statsMs),
            line("plain sum ", sumMs),
            "  of which " + parts.joined(separator: ", "),
            "ratio statistics/plain sum \(format(statsMs / sumMs)) (checksum \(sink.isFinite ? "finite" : "non-finite"))",
        ].joined(separator: "\n")
    }

    /// The recorded blobs of one step of the seed net, in the order `Probe` sees them.
    fileprivate static func seedNetRecords(batch: Int) -> ([Record], [Blob]) {
        var rng = BenchmarkRandom(state: 0x9E37_79B9_7F4A_7C15)
        var forward: [Record] = []
        var backward: [Record] = []
        var params: [Record] = []
        var blobs: [Blob] = []
        func blob(_ name: String, _ shape: [Int]) -> Blob {
            let b = Blob(name: name, shape: shape)
            blobs.append(b)
            return b
        }
        // Data layer top (no gradient).
        var channels = 3, side = 32
        let data = blob("data", [batch, 3, 32, 32])
        fillSigned(data.data, data.count, scale: 1, offset: 0, rng: &rng)
        forward.append(Record(blob: data, diff: false, kind: .forward))
        var previous = data
        var previousNeedsGradient = false
        func addParams(_ name: String, weights: Int, bias: Int) {
            for (i, n) in [weights, bias].enumerated() {
                let p = blob("\(name)/\(i)", [n])
                fillSigned(p.data, n, scale: 0.05, offset: 0, rng: &rng)
                fillSigned(p.diff, n, scale: 1e-3, offset: 0, rng: &rng)
                params.append(Record(blob: p, diff: false, kind: .flat, parameter: true))
                params.append(Record(blob: p, diff: true, kind: .flat, parameter: true))
            }
        }
        // The convolution stages: (outputs, convolutions), each followed by 2×2 max pooling.
        for (stage, (outputs, convolutions)) in [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)].enumerated() {
            for k in 0..<convolutions {
                let top = blob("conv\(stage + 1)_\(k + 1)", [batch, outputs, side, side])
                addParams(top.name, weights: outputs * channels * 9, bias: outputs)
                fillConvolution(top, rng: &rng)
                forward.append(Record(blob: top, diff: false, kind: .forward))
                if previousNeedsGradient { backward.append(Record(blob: previous, diff: true, kind: .flat)) }
                fillSigned(top.diff, top.count, scale: 1e-4, offset: 0, rng: &rng)
                // In-place ReLU: the same blob again after the forward, and its gradient.
                relu(top)
                forward.append(Record(blob: top, diff: false, kind: .forward))
                backward.append(Record(blob: top, diff: true, kind: .flat))
                previous = top
                previousNeedsGradient = true
                channels = outputs
            }
            side /= 2
            let pool = blob("pool\(stage + 1)", [batch, channels, side, side])
            maxPool(previous, into: pool)
            forward.append(Record(blob: pool, diff: false, kind: .forward))
            backward.append(Record(blob: previous, diff: true, kind: .flat))
            fillSigned(pool.diff, pool.count, scale: 1e-4, offset: 0, rng: &rng)
            previous = pool
        }
        // drop6 (not in place), fc6 + relu6 + drop7 (in place), fc7 + relu7, fc8, loss.
        let dropped = blob("drop_pool5", previous.shape)
        dropped.data.update(from: previous.data, count: previous.count)
        fillSigned(dropped.diff, dropped.count, scale: 1e-4, offset: 0, rng: &rng)
        forward.append(Record(blob: dropped, diff: false, kind: .forward))
        backward.append(Record(blob: previous, diff: true, kind: .flat))
        previous = dropped
        var inputs = channels
        for (name, outputs, rectified) in [("fc6", 512, true), ("fc7", 512, true), ("fc8", 10, false)] {
            let top = blob(name, [batch, outputs])
            addParams(name, weights: outputs * inputs, bias: outputs)
            fillConvolution(top, rng: &rng)
            fillSigned(top.diff, top.count, scale: 1e-3, offset: 0, rng: &rng)
            forward.append(Record(blob: top, diff: false, kind: .forward))
            backward.append(Record(blob: previous, diff: true, kind: .flat))
            if rectified {
                relu(top)
                forward.append(Record(blob: top, diff: false, kind: .forward))
                backward.append(Record(blob: top, diff: true, kind: .flat))
                if name == "fc6" {  // drop7, in place
                    forward.append(Record(blob: top, diff: false, kind: .forward))
                    backward.append(Record(blob: top, diff: true, kind: .flat))
                }
            }
            previous = top
            inputs = outputs
        }
        let loss = blob("loss", [])
        loss.data[0] = 2.3
        forward.append(Record(blob: loss, diff: false, kind: .forward))
        backward.append(Record(blob: previous, diff: true, kind: .flat))
        // Backward runs from the loss down; parameters are recorded after it.
        return (forward + backward.reversed() + params, blobs)
    }

    /// A plain SIMD Float sum of every recorded buffer (fixed 64 Ki-element chunks over the
    /// threads): the bandwidth reference.
    fileprivate static func plainSum(_ records: [Record], threads: Int) -> Double {
        var total = 0.0
        let chunk = 1 << 16
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: 1 << 12)
        defer { partials.deallocate() }
        for r in records {
            let base = UnsafePointer(r.diff ? r.blob.diff : r.blob.data), count = r.blob.count
            let chunks = (count + chunk - 1) / chunk
            var c0 = 0
            while c0 < chunks {
                let n = Swift.min(chunks - c0, 1 << 12)
                let first = c0
                benchmarkRun(n, threads: threads) { k in
                    let lo = (first + k) * chunk, hi = Swift.min(count, lo + chunk)
                    var a = SIMD16<Float>(), i = lo
                    while i + 16 <= hi { a += UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<Float>.self); i += 16 }
                    var s = a.sum()
                    while i < hi { s += base[i]; i += 1 }
                    partials[k] = s
                }
                for k in 0..<n { total += Double(partials[k]) }
                c0 += n
            }
        }
        return total
    }
}

fileprivate func benchmarkRun(_ n: Int, threads: Int, _ body: (Int) -> Void) {
    let t = Swift.min(Swift.max(threads, 1), n)
    if t <= 1 { for k in 0..<n { body(k) }; return }
    withoutActuallyEscaping(body) { body in
        let shared = unsafeBitCast(body, to: (@Sendable (Int) -> Void).self)
        DispatchQueue.concurrentPerform(iterations: t) { w in
            var k = w
            while k < n { shared(k); k += t }
        }
    }
}

fileprivate func time(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
}

fileprivate func format(_ x: Double) -> String {
    let r = (x * 100).rounded() / 100
    return "\(r)"
}

/// xorshift64*: fast deterministic filler values for the benchmark.
fileprivate struct BenchmarkRandom {
    var state: UInt64
    mutating func uniform() -> Float {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        let r = state &* 0x2545_F491_4F6C_DD1D
        return Float(r >> 40) / Float(1 << 24) * 2 - 1
    }
}

fileprivate func fillSigned(_ p: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, offset: Float,
                            rng: inout BenchmarkRandom) {
    for i in 0..<n { p[i] = offset + scale * rng.uniform() }
}

/// Per-channel offset (a Xavier bias) plus signed noise: NCHW, channel = axis 1.
fileprivate func fillConvolution(_ b: Blob, rng: inout BenchmarkRandom) {
    let samples = b.shape[0], channels = b.shape[1], positions = b.count / (samples * channels)
    let offsets = (0..<channels).map { _ in 0.3 * rng.uniform() }
    for n in 0..<samples {
        for c in 0..<channels {
            fillSigned(b.data + (n * channels + c) * positions, positions, scale: 1, offset: offsets[c], rng: &rng)
        }
    }
}

fileprivate func relu(_ b: Blob) {
    for i in 0..<b.count where b.data[i] < 0 { b.data[i] = 0 }
}

fileprivate func maxPool(_ input: Blob, into output: Blob) {
    let planes = input.shape[0] * input.shape[1], side = input.shape[2], half = side / 2
    for p in 0..<planes {
        let x = input.data + p * side * side, y = output.data + p * half * half
        for i in 0..<half {
            for j in 0..<half {
                let a = Swift.max(x[2 * i * side + 2 * j], x[2 * i * side + 2 * j + 1])
                let b = Swift.max(x[(2 * i + 1) * side + 2 * j], x[(2 * i + 1) * side + 2 * j + 1])
                y[i * half + j] = Swift.max(a, b)
            }
        }
    }
}
