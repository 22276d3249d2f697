import InitDiag
import InitDiagEngine
import InitDiagCore
import InitDiagTrace
import CStatistics
import Dispatch

/// Times the per-step statistics work of the seed net (Fixtures/seed: VGG19 for CIFAR-10,
/// 3×32×32 input) at a given batch, on blobs of its real shapes, against a plain Float sum over
/// the same bytes (the memory-bandwidth floor of any one-pass statistic) and against the plain
/// ReLU passes the net runs anyway.
///
/// The work is what `Probe` does per recorded step: each convolution's output and the in-place
/// ReLU after it in one pass that also writes the ReLU's output (`computeReLUForward`), each
/// ReLU's backward with the gradient the layer above wrote (`computeReLUBackward`), the forward
/// and backward statistics of the other layers, and the data and gradient statistics of every
/// weight and bias. Values are realistic in kind: convolution outputs are a per-channel offset
/// (Xavier biases) plus signed noise, pooled blobs are maxima of ReLU outputs, gradients are
/// small signed values. The fused ReLU passes write to a separate buffer so every repetition
/// sees the same input.
///
/// Run it from a release build:
/// `INITDIAG_BENCH=1 swift test -c release --filter ProbeBenchmarkTests`.
public enum ProbeBenchmark {
    /// One recorded blob of the step, in probe order.
    fileprivate struct Record {
        /// forward/flat: statistics of one buffer; reluForward: x and max(x, 0) of `blob`'s data,
        /// written to `output`; reluBackward: `blob`'s diff (dy) and dy·[data > 0], written to
        /// `output`'s diff.
        enum Kind { case forward, flat, reluForward, reluBackward }
        let blob: Blob
        let diff: Bool
        let kind: Kind
        var parameter = false
        var output: Blob? = nil

        /// Elements read per pass (a fused backward reads dy and the mask source).
        var elements: Int { kind == .reluBackward ? 2 * blob.count : blob.count }

        /// With `histograms` (two targets; parameters take none, as in `Probe`), the histograms too.
        func measure(_ statistics: BlobStatistics, histograms: (HistogramTarget, HistogramTarget)? = nil) -> Double {
            let h = parameter ? nil : histograms
            switch kind {
            case .forward:
                return statistics.computeForward(UnsafeBufferPointer(blob.dataBuffer), shape: blob.shape, histogram: h?.0).mean
            case .flat:
                return statistics.compute(UnsafeBufferPointer(diff ? blob.diffBuffer : blob.dataBuffer), histogram: h?.0).mean
            case .reluForward:
                let out = output!
                return statistics.computeReLUForward(UnsafeBufferPointer(blob.dataBuffer), shape: blob.shape,
                                                     output: out.data, histograms: h).y.mean
            case .reluBackward:
                let out = output!
                return statistics.computeReLUBackward(dy: blob.diff, y: blob.data, dx: out.diff, count: blob.count,
                                                      histograms: h).dx.mean
            }
        }

        /// The ReLU layer's own pass over the same buffers (what a step costs without probes).
        func plainReLU(_ layer: ReLULayer) {
            switch kind {
            case .reluForward: layer.forward(bottom: [blob], top: [output!])
            case .reluBackward: layer.backward(top: [blob], propagateDown: [true], bottom: [output!])
            default: break
            }
        }
    }

    /// Median milliseconds per step over several repetitions, for `threads` threads, with the
    /// element count and the achieved bandwidth; then the same for a plain sum over the same
    /// buffers. The returned text is one line per measurement.
    public static func run(batch: Int, threads: Int) -> String {
        let (records, blobs) = seedNetRecords(batch: batch)
        var elements = 0
        for r in records { elements += r.elements }
        let bytes = Double(elements) * 4
        let statistics = BlobStatistics(threads: threads)
        let reluLayer = try! ReLULayer(param: LayerParameter(), context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1)))
        let previousThreads = Engine.threads
        Engine.configureThreads(threads)  // the plain ReLU passes split over the same threads
        defer { Engine.configureThreads(previousThreads) }
        var sink = 0.0
        let repetitions = 5
        // One untimed pass faults the pages in (outputs included).
        sink += plainSum(records, threads: threads)
        for r in records { sink += r.measure(statistics) }
        // Histogram targets (the range does not change the cost: one counter increment per value
        // counted). Shared bins are what the probes use for an in-place ReLU (its pair of blobs
        // counted once, docs/trace-format.md "Histograms"); separate bins count both blobs.
        let counts = UnsafeMutablePointer<Int64>.allocate(capacity: 2 * TraceHistogramBins.slotCount)
        defer { counts.deallocate() }
        let targets = (HistogramTarget(bins: .symmetric(maxAbs: 3), counts: counts),
                       HistogramTarget(bins: .symmetric(maxAbs: 3), counts: counts + TraceHistogramBins.slotCount))
        let separate = (targets.0, HistogramTarget(bins: .symmetric(maxAbs: 5), counts: counts + TraceHistogramBins.slotCount))
        for r in records { sink += r.measure(statistics, histograms: targets) }
        for r in records { sink += r.measure(statistics, histograms: separate) }
        // Interleaved: statistics, with histograms (shared, separate bins), plain sum, plain ReLU
        // passes, per repetition.
        var statsTimes: [Double] = [], histTimes: [Double] = [], sumTimes: [Double] = [], reluTimes: [Double] = []
        var separateTimes: [Double] = []
        for _ in 0..<repetitions {
            statsTimes.append(time { for r in records { sink += r.measure(statistics) } })
            histTimes.append(time { for r in records { sink += r.measure(statistics, histograms: targets) } })
            separateTimes.append(time { for r in records { sink += r.measure(statistics, histograms: separate) } })
            sumTimes.append(time { sink += plainSum(records, threads: threads) })
            reluTimes.append(time { for r in records { r.plainReLU(reluLayer) } })
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        // The share of each kind of record, medians.
        var parts: [String] = []
        for (what, kinds) in [("fused ReLU forward", [Record.Kind.reluForward]), ("fused ReLU backward", [.reluBackward]),
                              ("other forward", [.forward]), ("other gradients", [.flat])] {
            let subset = records.filter { kinds.contains($0.kind) && !$0.parameter }
            var n = 0
            for r in subset { n += r.elements }
            let t = median((0..<repetitions).map { _ in time { for r in subset { sink += r.measure(statistics) } } })
            parts.append("\(what) \(format(Double(n) / 1e6)) M \(format(t * 1e3)) ms")
        }
        let parameters = records.filter(\.parameter)
        let parameterMs = median((0..<repetitions).map { _ in time { for r in parameters { sink += r.measure(statistics) } } }) * 1e3
        parts.append("parameters \(format(Double(parameters.reduce(0) { $0 + $1.elements }) / 1e6)) M \(format(parameterMs)) ms")
        let statsMs = median(statsTimes) * 1e3, sumMs = median(sumTimes) * 1e3, reluMs = median(reluTimes) * 1e3
        let histMs = median(histTimes) * 1e3, separateMs = median(separateTimes) * 1e3
        withExtendedLifetime(blobs) {}
        func line(_ what: String, _ ms: Double) -> String {
            let gbps = bytes / (ms * 1e-3) / 1e9
            return "\(what) batch \(batch) threads \(threads): \(format(ms)) ms/step, \(format(gbps)) GB/s"
        }
        return [
            "elements read/step \(elements) (\(format(bytes / 1e6)) MB) in \(records.count) passes, kernels \(kernelName)",
            line("statistics (fused ReLU passes included)", statsMs),
            line("the same with histograms               ", histMs),
            line("  (ReLU pairs with separate bins)      ", separateMs),
            line("plain sum of the same bytes            ", sumMs),
            "  of which " + parts.joined(separator: ", "),
            "plain ReLU passes (run without probes too): \(format(reluMs)) ms/step",
            "cost of recording ≈ statistics − plain ReLU passes = \(format(statsMs - reluMs)) ms/step "
                + "without histograms, \(format(histMs - reluMs)) ms/step with them "
                + "(checksum \(sink.isFinite ? "finite" : "non-finite"))",
        ].joined(separator: "\n")
    }

    /// The statistics kernels in use (AVX2 or the x86-64 baseline).
    public static var kernelName: String { idg_isa() == 2 ? "AVX2+FMA" : "baseline" }

    /// The recorded passes of one step of the seed net, in the order `Probe` runs them.
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
        var previousIsReLU = false
        var activation = data  // what the next pooling layer reads
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
                fillSigned(top.diff, top.count, scale: 1e-4, offset: 0, rng: &rng)
                // The convolution's output and the in-place ReLU's in one pass; backward, the
                // gradient the next layer writes into this blob and the ReLU's, in one pass (the
                // convolution's own bottom gradient is the previous ReLU's dy, or a pool's).
                let output = blob(top.name + "/relu", top.shape)
                output.data.update(from: top.data, count: top.count)
                relu(output)
                activation = output
                forward.append(Record(blob: top, diff: false, kind: .reluForward, output: output))
                if previousNeedsGradient && !previousIsReLU {
                    backward.append(Record(blob: previous, diff: true, kind: .flat))
                }
                backward.append(Record(blob: top, diff: true, kind: .reluBackward, output: output))
                previousIsReLU = true
                previous = top
                previousNeedsGradient = true
                channels = outputs
            }
            side /= 2
            let pool = blob("pool\(stage + 1)", [batch, channels, side, side])
            maxPool(activation, into: pool)
            forward.append(Record(blob: pool, diff: false, kind: .forward))
            // (The pool's bottom gradient is the ReLU's dy: recorded in its fused pass.)
            fillSigned(pool.diff, pool.count, scale: 1e-4, offset: 0, rng: &rng)
            previous = pool
            previousIsReLU = false
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
            backward.append(Record(blob: previous, diff: true, kind: .flat))
            if rectified {
                let output = blob(name + "/relu", top.shape)
                forward.append(Record(blob: top, diff: false, kind: .reluForward, output: output))
                backward.append(Record(blob: top, diff: true, kind: .reluBackward, output: output))
                if name == "fc6" {  // drop7, in place
                    forward.append(Record(blob: top, diff: false, kind: .forward))
                }
            } else {
                forward.append(Record(blob: top, diff: false, kind: .forward))
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
