import InitDiagCore
import InitDiagTrace
import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How momentum enters the SGD and Nesterov updates (BVLC/caffe src/caffe/solvers/sgd_solver.cpp
/// vs PyTorch torch/optim/sgd.py).
public enum MomentumStyle: String, Sendable, CaseIterable {
    /// Caffe: h ← μ·h + lr·lr_mult·g; w ← w − h. The rate lives inside the history.
    case caffe
    /// PyTorch (torch/optim/sgd.py): b ← μ·b + g (first step b = g); w ← w − lr·lr_mult·b.
    /// The rate multiplies the whole buffer, so a rate change takes effect at once.
    case torch
}

/// A learnable blob as the solver sees it: the net's parameter plus its ParamSpec multipliers.
public struct LearnableParam {
    public let blob: Blob
    public let lrMult: Float
    public let decayMult: Float
    public let name: String
    public init(blob: Blob, lrMult: Float = 1, decayMult: Float = 1, name: String) {
        self.blob = blob
        self.lrMult = lrMult
        self.decayMult = decayMult
        self.name = name
    }
}

/// What the trainer, the probes and the snapshots need of a solver (Caffe's Solver interface).
public protocol Solver: AnyObject {
    /// Caffe's `type` name ("SGD", "Adam", …).
    var typeName: String { get }
    var param: SolverParameter { get }
    var params: [LearnableParam] { get }
    /// Updates applied so far (Caffe's `iter_`).
    var iter: Int { get }
    /// Caffe's `current_step_` (step/multistep state; saved in solverstate).
    var currentStep: Int { get }
    /// The rate used by the last `applyUpdate`.
    var lastRate: Float { get }
    /// Caffe's `history_`: `historyNames.count` sets of one blob per param, set after set
    /// (Adam: all m, then all v), the order Caffe writes them to a solverstate.
    var history: [Blob] { get }
    /// ‖Δw‖₂/‖w‖₂ per param from the last `applyUpdate`.
    var updateRatios: [Double] { get }
    /// Called for each param with the gradient exactly as the update sees it (after clipping,
    /// iter_size normalisation and weight decay): the probes record it here.
    var gradientObserver: ((_ paramIndex: Int, _ blob: Blob) -> Void)? { get set }
    /// One update (Caffe's SGDSolver::ApplyUpdate); returns `updateRatios`.
    @discardableResult func applyUpdate() -> [Double]
    /// Restores iter, current_step and every history blob (RestoreSolverStateFrom*).
    func restore(iter: Int, currentStep: Int, history: [Blob]) throws
}

/// The part every Caffe solver shares (BVLC/caffe src/caffe/solvers/sgd_solver.cpp: all of
/// Caffe's solvers derive from SGDSolver and override only ComputeUpdateValue, and AdaDelta and
/// Adam append a second history set in their PreSolve), CPU path:
///
/// * GetLearningRate (`LearningRatePolicy`), once per iteration;
/// * ClipGradients: the global L2 norm of all learnable diffs (float sum of per-blob sdot); above
///   clip_gradients every diff is scaled by clip_gradients/norm;
/// * per param: Normalize (diff ·= 1/iter_size, float), Regularize (local_decay = weight_decay ·
///   decay_mult; L2: diff += decay·w; L1: diff += decay·sign(w)), the solver's
///   `computeUpdateValue` with local_rate = rate · lr_mult, then Net::Update (w −= diff) fused with
///   the ‖Δw‖/‖w‖ sums; then iter += 1;
/// * the history blobs for snapshots and their restore (count checked as Caffe's "Incorrect
///   length of history blobs.").
///
/// A subclass gives its `typeName`, `historyNames` (one per history set), `scratchPerParam`,
/// its constructor CHECKs (`check`) and `computeUpdateValue`. BLAS calls are those of Caffe's
/// CPU path (each call split into fixed chunks over the engine threads, Core/BLAS.swift): caffe_scal = cblas_sscal, caffe_axpy = cblas_saxpy, caffe_cpu_axpby = cblas_sscal(β,
/// y) then cblas_saxpy(α, x, y), caffe_cpu_scale = cblas_scopy then cblas_sscal (BVLC/caffe
/// include/caffe/util/mkl_alternate.hpp, src/caffe/util/math_functions.cpp); caffe_powx is powf
/// per element, caffe_add/sub/mul/div and caffe_add_scalar one float operation per element. With
/// OpenBLAS this is Caffe-on-OpenBLAS bit for bit.
///
/// `applyUpdate` expects the parameters' diffs to hold the accumulated gradients of this iteration
/// (the sum over iter_size passes); afterwards each diff holds the step that was subtracted from
/// the data, as in Caffe. Parameters with lr_mult 0: Caffe runs them through the same arithmetic
/// with local_rate 0. For SGD and Nesterov that changes nothing (their history stays μ·0 + 0 = 0),
/// so those solvers leave them untouched (data, diff, history); the adaptive solvers
/// (`updatesFrozenParams`) run them as Caffe does, since weight decay moves their history.
public class SolverBase: Solver, @unchecked Sendable {
    /// Caffe's type name; the factory (`makeSolver`) picks the class by it.
    public class var typeName: String { "SolverBase" }
    /// One name per history set (a suffix of the blob names): ["history"], Adam ["m", "v"].
    class var historyNames: [String] { ["history"] }
    /// Scratch blobs per param (Caffe's update_/temp_), allocated once at construction.
    class var scratchPerParam: Int { 0 }
    /// Whether lr_mult-0 params go through the update (see the type's doc).
    class var updatesFrozenParams: Bool { false }
    /// Whether `MomentumStyle.torch` has a meaning for this solver.
    class var supportsTorchStyle: Bool { false }
    /// The solver's constructor CHECKs (Caffe's constructor_sanity_check), as InputErrors.
    class func check(_ param: SolverParameter, source: String) throws {}

    public var typeName: String { Self.typeName }
    public let param: SolverParameter
    public let params: [LearnableParam]
    public let momentumStyle: MomentumStyle
    public let policy: LearningRatePolicy
    public internal(set) var iter: Int = 0
    public internal(set) var currentStep: Int = 0
    public private(set) var lastRate: Float = 0
    public private(set) var history: [Blob]
    public private(set) var updateRatios: [Double]
    public var gradientObserver: ((_ paramIndex: Int, _ blob: Blob) -> Void)?
    /// scratch[k][i]: the k-th scratch blob of param i (L1's sign(w) uses k = 0 before the update).
    let scratch: [[Blob]]
    private let useL1: Bool
    /// The name for error messages: the solver file, or "solver".
    let source: String

    public required init(param: SolverParameter, params: [LearnableParam], momentumStyle: MomentumStyle = .caffe) throws {
        let source = param.sourcePath.isEmpty ? "solver" : param.sourcePath
        self.source = source
        self.policy = try LearningRatePolicy(param)
        guard param.iterSize >= 1 else { throw InputError("\(source): iter_size must be ≥ 1 (got \(param.iterSize))") }
        if param.weightDecay != 0 {
            guard param.regularizationType == "L2" || param.regularizationType == "L1" else {
                throw InputError("\(source): Unknown regularization type: \(param.regularizationType) (valid: L2, L1)")
            }
        }
        if momentumStyle == .torch && !Self.supportsTorchStyle {
            throw InputError("\(source): the PyTorch momentum style applies to SGD and Nesterov only, not to \(Self.typeName)")
        }
        try Self.check(param, source: source)
        self.param = param
        self.params = params
        self.momentumStyle = momentumStyle
        self.useL1 = param.regularizationType == "L1" && param.weightDecay != 0
        self.history = Self.historyNames.flatMap { suffix in
            params.map { Blob(name: $0.name + "_" + suffix, shape: $0.blob.shape) }
        }
        self.updateRatios = [Double](repeating: 0, count: params.count)
        let scratchCount = max(Self.scratchPerParam, useL1 ? 1 : 0)
        self.scratch = (0..<scratchCount).map { k in params.map { Blob(name: $0.name + "_scratch\(k)", shape: $0.blob.shape) } }
    }

    /// Caffe's GetLearningRate at the current `iter` (advances multistep's current step: call once
    /// per iteration; `applyUpdate` calls it itself and keeps the value in `lastRate`).
    public func rate() -> Float {
        policy.rate(iter: iter, currentStep: &currentStep)
    }

    /// History set `set` of param `i` (Caffe's history_[set·N + i]).
    final func historyBlob(_ set: Int, _ i: Int) -> Blob { history[set * params.count + i] }

    /// The solver's step for param `i`: reads the diff (the regularised gradient) and leaves in
    /// it what is to be subtracted from the data. `localRate` = rate · lr_mult (float).
    func computeUpdateValue(_ i: Int, rate: Float, localRate: Float) {
        fatalError("\(Self.self).computeUpdateValue must be overridden")
    }

    @discardableResult
    public final func applyUpdate() -> [Double] {
        let rate = self.rate()
        lastRate = rate
        clipGradients()
        for i in 0..<params.count {
            let p = params[i]
            guard p.blob.count > 0, p.lrMult != 0 || Self.updatesFrozenParams else { updateRatios[i] = 0; continue }
            normalize(p)
            regularize(i)
            if p.lrMult != 0 { gradientObserver?(i, p.blob) }
            computeUpdateValue(i, rate: rate, localRate: rate * p.lrMult)
            updateRatios[i] = subtractDiff(p.blob)
        }
        iter += 1
        return updateRatios
    }

    /// SGDSolver::ClipGradients.
    private func clipGradients() {
        let clip = param.clipGradients
        guard clip >= 0 else { return }
        var sumsq: Float = 0
        for p in params where p.blob.count > 0 {
            sumsq += cblas_sdot(blasint(p.blob.count), p.blob.diff, 1, p.blob.diff, 1)
        }
        let norm = sumsq.squareRoot()
        if norm > clip {
            let factor = clip / norm
            for p in params where p.blob.count > 0 {
                sscalParallel(p.blob.count, factor, p.blob.diff)
            }
        }
    }

    /// SGDSolver::Normalize: diff ·= Dtype(1.)/iter_size (float) when iter_size ≠ 1.
    private func normalize(_ p: LearnableParam) {
        guard param.iterSize != 1 else { return }
        let factor = Float(1) / Float(param.iterSize)
        sscalParallel(p.blob.count, factor, p.blob.diff)
    }

    /// SGDSolver::Regularize: local_decay = weight_decay·decay_mult (float); L2: diff += decay·w;
    /// L1: diff += decay·sign(w) with sign = (0 < x) − (x < 0) (caffe_cpu_sign).
    private func regularize(_ i: Int) {
        let p = params[i]
        let decay = param.weightDecay * p.decayMult
        guard decay != 0 else { return }
        let n = blasint(p.blob.count)
        if useL1 {
            let w = p.blob.data, s = scratch[0][i].data
            for j in 0..<p.blob.count {
                let x = w[j]
                s[j] = (x > 0 ? 1 : 0) - (x < 0 ? 1 : 0)
            }
            saxpyParallel(Int(n), decay, s, p.blob.diff)
        } else {
            saxpyParallel(Int(n), decay, p.blob.data, p.blob.diff)
        }
    }

    /// Net::Update (data −= diff) fused with the update-ratio sums (double): ‖Δw‖/‖w‖ with w
    /// before the update; 0 for ‖w‖ = 0 that did not move, +∞ if it did.
    ///
    /// One pass over fixed blocks of `ratioBlock` values, on the engine's threads: each block sums
    /// in eight double lanes and the blocks' sums are added in block order, so the ratio depends
    /// on neither the thread count nor timing. (A single serial double accumulator was a
    /// dependency chain of 2 adds per value: 20 M values took ≈ 25 ms, most of the seed net's
    /// update at batch 16 — `initdiag bench`'s update column.)
    private func subtractDiff(_ blob: Blob) -> Double {
        let w = blob.data, d = blob.diff, n = blob.count
        let blocks = (n + Self.ratioBlock - 1) / Self.ratioBlock
        if ratioSums.count < 2 * blocks {
            ratioSums = [Double](repeating: 0, count: 2 * blocks)
        }
        ratioSums.withUnsafeMutableBufferPointer { sums in
            let out = sums.baseAddress!
            parallelChunks(blocks, minChunk: 2) { range in
                for b in range {
                    let lo = b * Self.ratioBlock, hi = min(n, lo + Self.ratioBlock)
                    // Four independent double chains per sum (the adds' latency, not their
                    // count, bounds a single chain); Swift's generic SIMD float→double
                    // conversion is not specialised and ran slower than the serial loop.
                    var w0 = 0.0, w1 = 0.0, w2 = 0.0, w3 = 0.0, d0 = 0.0, d1 = 0.0, d2 = 0.0, d3 = 0.0
                    var j = lo
                    while j + 4 <= hi {
                        let x0 = Double(w[j]), x1 = Double(w[j + 1]), x2 = Double(w[j + 2]), x3 = Double(w[j + 3])
                        let s0 = d[j], s1 = d[j + 1], s2 = d[j + 2], s3 = d[j + 3]
                        w0 += x0 * x0; w1 += x1 * x1; w2 += x2 * x2; w3 += x3 * x3
                        let e0 = Double(s0), e1 = Double(s1), e2 = Double(s2), e3 = Double(s3)
                        d0 += e0 * e0; d1 += e1 * e1; d2 += e2 * e2; d3 += e3 * e3
                        w[j] = Float(x0) - s0; w[j + 1] = Float(x1) - s1
                        w[j + 2] = Float(x2) - s2; w[j + 3] = Float(x3) - s3
                        j += 4
                    }
                    var tw = (w0 + w1) + (w2 + w3), td = (d0 + d1) + (d2 + d3)
                    while j < hi {
                        let x = w[j], s = d[j]
                        tw += Double(x) * Double(x)
                        td += Double(s) * Double(s)
                        w[j] = x - s
                        j += 1
                    }
                    out[2 * b] = tw; out[2 * b + 1] = td
                }
            }
        }
        var sumW = 0.0, sumD = 0.0
        for b in 0..<blocks { sumW += ratioSums[2 * b]; sumD += ratioSums[2 * b + 1] }
        if sumW == 0 { return sumD == 0 ? 0 : .infinity }
        return (sumD / sumW).squareRoot()
    }

    /// Values per block of `subtractDiff`'s sums (fixed: the ratio must not depend on threads).
    static let ratioBlock = 32_768
    /// The blocks' (‖w‖², ‖Δw‖²) partial sums, kept between calls (no allocation per update).
    private var ratioSums: [Double] = []

    /// Restores solver state (SolverState iter, current_step, history; Caffe's
    /// RestoreSolverStateFrom*): the history list must match this solver's, in count and sizes.
    public final func restore(iter: Int, currentStep: Int, history saved: [Blob]) throws {
        guard saved.count == history.count else {
            throw InputError("\(source): solver state has \(saved.count) history blobs, the \(typeName) solver keeps \(history.count) for \(params.count) learnable blobs (Incorrect length of history blobs.)")
        }
        for (i, blob) in saved.enumerated() where blob.count != history[i].count {
            throw InputError("\(source): solver state history \(i) (\(history[i].name)) has \(blob.count) values (\(blob.shapeString)), expected \(history[i].count) (\(history[i].shapeString))")
        }
        for (i, blob) in saved.enumerated() {
            history[i].data.update(from: blob.data, count: blob.count)
        }
        self.iter = iter
        self.currentStep = currentStep
    }
}

/// Caffe's elementwise and BLAS helpers as the solvers' CPU paths call them (BVLC/caffe
/// src/caffe/util/math_functions.cpp, include/caffe/util/mkl_alternate.hpp).
enum SolverMath {
    /// caffe_cpu_axpby: y = α·x + β·y as cblas_sscal(β, y) then cblas_saxpy(α, x, y).
    @inline(__always)
    static func axpby(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>) {
        sscalParallel(n, beta, y)
        saxpyParallel(n, alpha, x, y)
    }

    /// caffe_cpu_scale with x = y: cblas_scopy (a no-op in place) then cblas_sscal.
    @inline(__always)
    static func scale(_ n: Int, _ alpha: Float, _ y: UnsafeMutablePointer<Float>) {
        sscalParallel(n, alpha, y)
    }

    /// caffe_powx for float: powf per element.
    @inline(__always)
    static func powx(_ x: Float, _ p: Float) -> Float { powf(x, p) }

    /// Runs `body` over 0..<n in chunks (elementwise loops only: each index touches its own
    /// elements, so the result does not depend on the thread count).
    @inline(__always)
    static func elementwise(_ n: Int, _ body: (Range<Int>) -> Void) {
        parallelChunks(n, body)
    }
}

/// The solver classes by Caffe type name. A new solver adds its class here.
public enum SolverRegistry {
    public static let types: [SolverBase.Type] = [
        SGDSolver.self,
        NesterovSolver.self,
        AdaGradSolver.self,
        RMSPropSolver.self,
        AdaDeltaSolver.self,
        AdamSolver.self,
    ]

    public static var typeNames: [String] { types.map { $0.typeName } }
}

/// Caffe's SolverRegistry::CreateSolver: the solver of `param.type` (or the deprecated
/// `solver_type` enum, upgraded as UpgradeSolverType does); an unknown type is an InputError
/// naming the file and the supported types.
public func makeSolver(param: SolverParameter, params: [LearnableParam], momentumStyle: MomentumStyle = .caffe) throws -> any Solver {
    let source = param.sourcePath.isEmpty ? "solver" : param.sourcePath
    let typeName = param.solverType.map { SolverTypes.typeByName[$0] ?? $0 } ?? param.type
    guard let type = SolverRegistry.types.first(where: { $0.typeName == typeName }) else {
        throw InputError("\(source): solver type \(typeName) is not supported (supported: \(SolverRegistry.typeNames.joined(separator: ", ")))")
    }
    return try type.init(param: param, params: params, momentumStyle: momentumStyle)
}
