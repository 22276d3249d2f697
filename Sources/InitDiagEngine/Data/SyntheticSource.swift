import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// initdiag's built-in data set: deterministic, learnable, 10 classes of 3×32×32 byte images in
/// CIFAR-10's layout (RGB planes), so the seed net runs and learns without any download.
///
/// **Design.** Class k is a sinusoidal grating with its own orientation θ_k, spatial period P_k,
/// reference phase φ_k and colour direction col_k (table `classes` below): classes 0–4 have
/// orientations 0°, 36°, 72°, 108°, 144° and period 9 px, classes 5–9 the orientations shifted by
/// 18° and period 5.5 px; colours step around the hue circle by 108° (col = 0.45 + 0.55·(cos h,
/// cos(h − 120°), cos(h − 240°)), a luminance part plus a chroma part). Image i of a phase is
///
///     x(c, y, x) = clip_0..255 round(128 + o_c + A·col_k[c]·cos(2π·u/P_k + φ_k + δ)
///                                    + D·dcol[c]·cos(2π·v/Q + ψ) + n(c, y, x)),
///     u = x·cos θ_k + y·sin θ_k,   v = x·cos α + y·sin α,
///
/// with per-sample random draws: phase jitter δ ~ U(−π/2, π/2) (the grating shifts by up to a
/// quarter period either way, so the class-conditional mean keeps 2/π ≈ 64 % of the template: a
/// linear read-out works, but not perfectly), contrast A ~ U(60, 100), a class-independent colour offset
/// o_c ~ U(−28, 28) per channel (so the mean colour of an image says almost nothing about its
/// class), a distractor grating of random orientation α, period Q ~ U(4, 12), phase ψ, colour dcol
/// and amplitude D ~ U(0, 15), and pixel noise n = 16·(u₁ + u₂ − 1) (triangular, σ ≈ 6.5).
///
/// Labels: within each block of ten consecutive indices the labels are a permutation of 0–9
/// (Fisher–Yates from the block's hash), so any 10·m consecutive records are exactly balanced and
/// the order looks random but is fixed.
///
/// Every draw comes from a SplitMix64 stream keyed by (seed, phase, index) (Steele, Lea & Flood,
/// "Fast splittable pseudorandom number generators", OOPSLA 2014), so any record is produced in
/// O(1) from its index with no stored data set; TRAIN and TEST draw from different streams.
/// Same seed ⇒ identical bytes on the same platform (the generator uses libm's `cos`).
///
/// How hard it is (seed 1; SyntheticSourceTests, 2000 train / 1000 test images): nearest-class-mean
/// on raw pixels 95.5 % correct, nearest-class-mean on the mean colour alone 9.9 % (chance 10 %).
/// The seed's VGG19 layout (msra weights, zero biases, scale 1/255, SGD momentum 0.9, batch 128,
/// records in order; scripts/fixtures/check_synthetic_learnable.py, one run each, PyTorch CPU):
/// at width 1/8 and lr 0.01 it sits near ln 10 for ~100 iterations, then learns (loss 1.45, test
/// accuracy 43 % after 300 iterations); at lr 0.02 (width 1/8) it dipped to 2.19 at iteration 140
/// and then stayed at ≈ ln 10; at lr 0.01 and width 1/4 it dipped to 1.88 at iteration 60, went
/// back to ≈ 2.30 and was at 2.23 when stopped at iteration 220. That plain, BatchNorm-free net on
/// uncentred inputs is fragile in its first few hundred iterations; the data set itself is easy
/// (a nearest-class-mean classifier gets 95 %).
///
/// **Other shapes and class counts** (the built-in data adapts to the net: `RecordShape`,
/// `LabelRange`). For C×H×W records and K classes the same formula is used with:
/// - lengths scaled by s = min(H, W)/32: the class periods P_k·s and the distractor period Q·s
///   (never below 2.5 px), so a 256×256 record holds as many grating cycles as a 32×32 one;
/// - colours in C channels: col_k[c] = 0.45 + 0.55·cos(h_k − 2πc/C) (for C = 3 exactly the table
///   above), col = 1 for C = 1; C offsets o_c and C distractor colours drawn per sample, then C
///   noise draws per pixel — for C = 3 the draws are the ones described above, in the same order;
/// - K ≤ 10: the first K templates of the table; K > 10: orientation (k mod O)·180°/O with O =
///   ⌈√K⌉ (shifted by half a step for odd ⌊k/O⌋), period 4·s·3^(j/(R−1)) for j = ⌊k/O⌋ of R =
///   ⌈K/O⌉ rows (4 to 12 px at 32×32), hue k·137.5°, reference phase 0.7·k;
/// - labels: blocks of K consecutive indices, each a Fisher–Yates permutation of 0…K−1 keyed by
///   the block (for K = 10 exactly the labels above).
/// 3×32×32 with 10 classes is therefore byte-identical to the original set (SyntheticShapeTests
/// holds a digest of it). Learnability at other shapes: nearest-class-mean on raw pixels,
/// SyntheticShapeTests, seed 1: 91 % at 1×28×28 with 10 classes, 88 % at 3×24×24 with
/// 40 classes (chance 2.5 %), 91 % at 2×28×28 with 2 classes.
public final class SyntheticSource: DataSource {
    public static let defaultSeed: UInt64 = 1
    public static let defaultTrainCount = 50_000
    public static let defaultTestCount = 10_000
    public static let classCount = 10
    public static let channels = 3, height = 32, width = 32

    public let seed: UInt64
    public let phase: Phase
    public let count: Int
    /// The record shape (C, H, W) and the number of classes this source generates.
    public let channels: Int, height: Int, width: Int
    public let classCount: Int
    private let templates: [ClassTemplate]
    /// Length scale s = min(H, W)/32 (exactly 1 for 32×32).
    private let lengthScale: Double
    private let streamKey: UInt64
    /// What records name as their origin (built once: no per-record string).
    private let origin: String
    private var position = 0
    /// The label permutation of the last block asked for (K ≠ 10).
    private var cachedBlock = -1
    private var cachedPermutation: [Int32] = []

    /// One class's template (see the type's documentation).
    struct ClassTemplate {
        let angle: Double, period: Double, phase: Double
        let colour: (Double, Double, Double)
        /// The hue (radians) the colour comes from, for channel counts other than 3.
        let hue: Double
    }

    static let classes: [ClassTemplate] = (0..<10).map { k in
        let angle = Double(k % 5) * 36.0 + (k >= 5 ? 18.0 : 0.0)
        let period = k < 5 ? 9.0 : 5.5
        let hue = Double(k) * 108.0 * Double.pi / 180.0
        let third = 2.0 * Double.pi / 3.0
        let colour = (0.45 + 0.55 * cos(hue), 0.45 + 0.55 * cos(hue - third), 0.45 + 0.55 * cos(hue - 2 * third))
        return ClassTemplate(angle: angle * Double.pi / 180.0, period: period,
                             phase: Double(k) * 0.7, colour: colour, hue: hue)
    }

    /// The templates for `k` classes (the type's documentation).
    static func templates(count k: Int) -> [ClassTemplate] {
        if k <= 10 { return Array(classes.prefix(k)) }
        let o = Int(Double(k).squareRoot().rounded(.up))
        let rows = (k + o - 1) / o
        return (0..<k).map { i in
            let row = i / o
            let step = 180.0 / Double(o)
            let angle = Double(i % o) * step + (row % 2 == 1 ? step / 2 : 0)
            let period = rows > 1 ? 4.0 * pow(3.0, Double(row) / Double(rows - 1)) : 9.0
            let hue = Double(i) * 137.5 * Double.pi / 180.0
            let third = 2.0 * Double.pi / 3.0
            let colour = (0.45 + 0.55 * cos(hue), 0.45 + 0.55 * cos(hue - third), 0.45 + 0.55 * cos(hue - 2 * third))
            return ClassTemplate(angle: angle * Double.pi / 180.0, period: period, phase: Double(i) * 0.7,
                                 colour: colour, hue: hue)
        }
    }

    /// `count` defaults to CIFAR-10's sizes: 50000 for TRAIN, 10000 for TEST. `shape` (C, H, W)
    /// and `classes` default to CIFAR-10's 3×32×32 and 10.
    public init(seed: UInt64 = SyntheticSource.defaultSeed, phase: Phase, count: Int? = nil,
                shape: (channels: Int, height: Int, width: Int) = (3, 32, 32), classes: Int = 10) throws {
        let n = count ?? (phase == .TRAIN ? SyntheticSource.defaultTrainCount : SyntheticSource.defaultTestCount)
        guard n > 0 else { throw InputError("synthetic:\(seed): the record count must be positive, got \(n)") }
        guard shape.channels > 0, shape.height > 0, shape.width > 0,
              shape.channels <= 1 << 12, shape.height <= 1 << 14, shape.width <= 1 << 14 else {
            throw InputError("synthetic:\(seed): record shape \(shape.channels)×\(shape.height)×\(shape.width) is not a usable image shape")
        }
        guard classes >= 1, classes <= 1 << 20 else {
            throw InputError("synthetic:\(seed): the number of classes must be between 1 and \(1 << 20), got \(classes)")
        }
        self.seed = seed
        self.phase = phase
        self.count = n
        self.channels = shape.channels
        self.height = shape.height
        self.width = shape.width
        self.classCount = classes
        self.templates = SyntheticSource.templates(count: classes)
        self.lengthScale = Double(min(shape.height, shape.width)) / 32
        self.origin = "synthetic:\(seed) \(phase)"
        // Distinct stream keys per phase: "TRAIN" / "TEST" as ASCII constants.
        self.streamKey = SyntheticSource.mix(seed ^ (phase == .TRAIN ? 0x5452_4149_4E00_0000 : 0x5445_5354_0000_0000))
    }

    public var recordCount: Int? { count }

    public var description: String {
        "synthetic:\(seed) (\(phase): \(count) records of \(channels)×\(height)×\(width), \(classCount) classes)"
    }

    public func rewind() throws { position = 0 }

    public func next(into record: DataRecord) throws {
        generate(index: position, into: record)
        position += 1
        if position == count { position = 0 }
    }

    /// The label of record `index` (0 ≤ index < count): entry index % K of block index / K's
    /// permutation of 0…K−1.
    public func label(at index: Int) -> Int32 {
        let k = classCount
        var rng = SyntheticRandom(key: SyntheticSource.mix((streamKey ^ 0x4C41_4245_4C00_0000) &+ UInt64(index / k)))
        if k != 10 {
            if cachedBlock != index / k {
                var p = (0..<Int32(k)).map { $0 }
                for i in stride(from: k - 1, through: 1, by: -1) {
                    let j = Int(rng.next() % UInt64(i + 1))
                    p.swapAt(i, j)
                }
                cachedPermutation = p
                cachedBlock = index / k
            }
            return cachedPermutation[index % k]
        }
        var perm: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
        return withUnsafeMutableBytes(of: &perm) { raw in
            let p = raw.bindMemory(to: Int32.self)
            // Fisher–Yates: for i from 9 down to 1 swap p[i] with p[j], j uniform in 0...i.
            for i in stride(from: 9, through: 1, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                p.swapAt(i, j)
            }
            return p[index % 10]
        }
    }

    /// Writes record `index` (0 ≤ index < count) into `record`.
    public func generate(index: Int, into record: DataRecord) {
        let label = label(at: index)
        let template = templates[Int(label)]
        let nc = channels, h = height, w = width
        var rng = SyntheticRandom(key: SyntheticSource.mix(streamKey &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15))
        let jitter = (rng.uniform() * 2 - 1) * 0.5 * Double.pi
        let contrast = 60 + 40 * rng.uniform()
        record.prepareBytes(channels: nc, height: h, width: w)
        record.label = label
        if record.origin != origin { record.origin = origin }
        record.index = index
        if !record.keyBytes.isEmpty { record.keyBytes.removeAll(keepingCapacity: true) }
        if nc == 3 {
            // The original set's draws and arithmetic, in its order (kept byte-identical).
            let offsets = ((rng.uniform() * 2 - 1) * 28, (rng.uniform() * 2 - 1) * 28, (rng.uniform() * 2 - 1) * 28)
            let distractorAngle = rng.uniform() * Double.pi
            let distractorPeriod = max(2.5, (4 + 8 * rng.uniform()) * lengthScale)
            let distractorPhase = rng.uniform() * 2 * Double.pi
            let distractorAmplitude = 15 * rng.uniform()
            let distractorColour = (rng.uniform() * 2 - 1, rng.uniform() * 2 - 1, rng.uniform() * 2 - 1)
            let (ca, sa) = (cos(template.angle), sin(template.angle))
            let (cd, sd) = (cos(distractorAngle), sin(distractorAngle))
            let k = 2 * Double.pi / max(2.5, template.period * lengthScale)
            let kd = 2 * Double.pi / distractorPeriod
            let colour = SIMD3(template.colour.0, template.colour.1, template.colour.2)
            let dcol = SIMD3(distractorColour.0, distractorColour.1, distractorColour.2)
            let base = SIMD3(128 + offsets.0, 128 + offsets.1, 128 + offsets.2)
            record.bytes.withUnsafeMutableBufferPointer { out in
                for y in 0..<h {
                    for x in 0..<w {
                        let u = Double(x) * ca + Double(y) * sa
                        let v = Double(x) * cd + Double(y) * sd
                        let g = contrast * cos(k * u + template.phase + jitter)
                        let d = distractorAmplitude * cos(kd * v + distractorPhase)
                        for c in 0..<3 {
                            let noise = 16 * (rng.uniform() + rng.uniform() - 1)
                            let value = (base[c] + g * colour[c] + d * dcol[c] + noise).rounded()
                            out[(c * h + y) * w + x] = UInt8(min(255, max(0, value)))
                        }
                    }
                }
            }
            return
        }
        // Any other channel count: the same formula with C offsets, C colours, C noise draws.
        var base = [Double](repeating: 0, count: nc), colour = base, dcol = base
        for c in 0..<nc { base[c] = 128 + (rng.uniform() * 2 - 1) * 28 }
        let distractorAngle = rng.uniform() * Double.pi
        let distractorPeriod = max(2.5, (4 + 8 * rng.uniform()) * lengthScale)
        let distractorPhase = rng.uniform() * 2 * Double.pi
        let distractorAmplitude = 15 * rng.uniform()
        for c in 0..<nc { dcol[c] = rng.uniform() * 2 - 1 }
        for c in 0..<nc {
            colour[c] = nc == 1 ? 1 : 0.45 + 0.55 * cos(template.hue - 2 * Double.pi * Double(c) / Double(nc))
        }
        let (ca, sa) = (cos(template.angle), sin(template.angle))
        let (cd, sd) = (cos(distractorAngle), sin(distractorAngle))
        let k = 2 * Double.pi / max(2.5, template.period * lengthScale)
        let kd = 2 * Double.pi / distractorPeriod
        record.bytes.withUnsafeMutableBufferPointer { out in
            for y in 0..<h {
                for x in 0..<w {
                    let u = Double(x) * ca + Double(y) * sa
                    let v = Double(x) * cd + Double(y) * sd
                    let g = contrast * cos(k * u + template.phase + jitter)
                    let d = distractorAmplitude * cos(kd * v + distractorPhase)
                    for c in 0..<nc {
                        let noise = 16 * (rng.uniform() + rng.uniform() - 1)
                        let value = (base[c] + g * colour[c] + d * dcol[c] + noise).rounded()
                        out[(c * h + y) * w + x] = UInt8(min(255, max(0, value)))
                    }
                }
            }
        }
    }

    /// SplitMix64's output function: a bijective 64-bit mix.
    static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// SplitMix64 stream (Steele, Lea & Flood 2014): state += golden gamma, output = mix(state).
struct SyntheticRandom {
    var state: UInt64
    init(key: UInt64) { state = key }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 53 random bits.
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
}
