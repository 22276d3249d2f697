import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's learning-rate schedule (BVLC/caffe src/caffe/solvers/sgd_solver.cpp,
/// SGDSolver::GetLearningRate; docs/semantics.md §5), with Caffe's arithmetic types:
///
/// * fixed: base_lr.
/// * step: current_step = iter / stepsize (int); base_lr · pow(gamma, current_step).
/// * exp: base_lr · pow(gamma, iter).
/// * multistep: current_step rises by one when current_step < #stepvalue and
///   iter ≥ stepvalue[current_step]; base_lr · pow(gamma, current_step).
///   For these three, `pow(float, int)` is C++11's promoted overload: the power is a double, the
///   product base_lr · power is double and is rounded to float when stored (docs/semantics.md §10).
/// * inv: base_lr · pow(Dtype(1) + gamma·iter, −power) — float throughout (powf).
/// * poly: base_lr · pow(Dtype(1) − Dtype(iter)/Dtype(max_iter), power) — float (powf).
/// * sigmoid: base_lr · (Dtype(1)/(Dtype(1) + exp(−gamma·(Dtype(iter) − Dtype(stepsize))))) —
///   float (expf).
///
/// Caffe's CHECKs (step: stepsize > 0; step/exp/inv/multistep/sigmoid: gamma ≥ 0; sigmoid:
/// stepsize > 0) and its fatal "Unknown learning rate policy" become `InputError`s at
/// construction, before any training; so does poly with max_iter ≤ 0 (Caffe would divide by zero
/// and train with a NaN rate).
public struct LearningRatePolicy: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case fixed, step, exp, inv, multistep, poly, sigmoid }

    public let kind: Kind
    public let baseLr: Float
    public let gamma: Float
    public let power: Float
    public let stepsize: Int
    public let stepvalues: [Int]
    public let maxIter: Int

    public init(_ param: SolverParameter) throws {
        let source = param.sourcePath.isEmpty ? "solver" : param.sourcePath
        guard let name = param.lrPolicy else {
            throw InputError("\(source): Unknown learning rate policy: lr_policy is not set (valid: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let kind = Kind(rawValue: name) else {
            throw InputError("\(source): Unknown learning rate policy: '\(name)' (valid: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        switch kind {
        case .step, .sigmoid:
            guard param.stepsize > 0 else { throw InputError("\(source): lr_policy \(name) needs stepsize > 0 (got \(param.stepsize))") }
        case .poly:
            guard param.maxIter > 0 else { throw InputError("\(source): lr_policy poly needs max_iter > 0 (got \(param.maxIter))") }
        default: break
        }
        switch kind {
        case .step, .exp, .inv, .multistep, .sigmoid:
            guard param.gamma >= 0 else { throw InputError("\(source): lr_policy \(name) needs gamma ≥ 0 (got \(param.gamma))") }
        default: break
        }
        self.kind = kind
        self.baseLr = param.baseLr
        self.gamma = param.gamma
        self.power = param.power
        self.stepsize = Int(param.stepsize)
        self.stepvalues = param.stepvalue.map { Int($0) }
        self.maxIter = Int(param.maxIter)
    }

    /// The rate at `iter` (updates already applied). `currentStep` is Caffe's `current_step_`
    /// solver state: step sets it, multistep advances it (at most once per call), so call this
    /// exactly once per iteration, as SGDSolver::ApplyUpdate does.
    public func rate(iter: Int, currentStep: inout Int) -> Float {
        switch kind {
        case .fixed:
            return baseLr
        case .step:
            currentStep = iter / stepsize
            return Float(Double(baseLr) * pow(Double(gamma), Double(currentStep)))
        case .exp:
            return Float(Double(baseLr) * pow(Double(gamma), Double(iter)))
        case .multistep:
            if currentStep < stepvalues.count && iter >= stepvalues[currentStep] {
                currentStep += 1
            }
            return Float(Double(baseLr) * pow(Double(gamma), Double(currentStep)))
        case .inv:
            // gamma·iter: float × int → float.
            let base = Float(1) + gamma * Float(iter)
            return baseLr * powf(base, -power)
        case .poly:
            return baseLr * powf(Float(1) - Float(iter) / Float(maxIter), power)
        case .sigmoid:
            let e = expf(-gamma * (Float(iter) - Float(stepsize)))
            return baseLr * (Float(1) / (Float(1) + e))
        }
    }
}
