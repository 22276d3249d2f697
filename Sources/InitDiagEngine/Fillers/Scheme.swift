import InitDiagCore
import InitDiagTrace
/// An initialisation scheme: what a sweep varies (docs/schemes.md).
///
/// Text form `w=<weights>,b=<biases>,bn=<on|off>[,lr=<factor>]`, parts in any order, each at most
/// once; omitted parts are `as-declared` / `as-declared` / `off` / 1.
///
/// Canonical text (`description`) and slug: parts in the order w, b, bn, lr; `w` and `b` are always
/// written, `bn` only when on, `lr` only when ≠ 1 (shortest decimal of the factor, no `+`). The
/// slug replaces `=` by `-` and `,` by `_` (docs/schemes.md: `w=caffe-msra,b=zero,lr=0.1` →
/// `w-caffe-msra_b-zero_lr-0.1`). Names and numbers only use `[a-z0-9.-]`, so a slug is a safe file
/// name and two schemes have the same slug exactly when they are equal.
public struct Scheme: Sendable, Hashable, CustomStringConvertible {
    public enum Weights: String, Sendable, Hashable, CaseIterable {
        case asDeclared = "as-declared"
        case caffeXavier = "caffe-xavier"
        case caffeXavierAvg = "caffe-xavier-avg"
        case caffeMSRA = "caffe-msra"
        case caffeGaussian001 = "caffe-gaussian-0.01"
        case torchDefault = "torch-default"
        case torchKaimingNormal = "torch-kaiming-normal"
        case torchXavierUniform = "torch-xavier-uniform"
        /// Orthonormal rows (columns when out > in) from the QR of a Gaussian matrix (`OrthogonalInit`).
        case orthogonal = "orthogonal"
        /// LSUV (Mishkin & Matas 2016, Algorithm 1): `orthogonal`, then each Convolution /
        /// InnerProduct in net order rescaled on the first batch until its output variance is
        /// within 0.02 of 1 (`LSUV`, Sources/InitDiag/LSUV.swift): data-dependent.
        case lsuv = "lsuv"

        /// Whether the weight is drawn by `OrthogonalInit` rather than a Caffe filler.
        public var isOrthogonal: Bool { self == .orthogonal || self == .lsuv }
    }

    public enum Biases: String, Sendable, Hashable, CaseIterable {
        case asDeclared = "as-declared"
        case zero = "zero"
        case caffeXavier = "caffe-xavier"
        case torchDefault = "torch-default"
    }

    public var weights: Weights
    public var biases: Biases
    /// `bn=on`: BatchNorm (+ Scale with bias) after every Convolution (applied by the net builder).
    public var batchNorm: Bool
    /// Multiplies the solver's base_lr.
    public var lrFactor: Double

    public init(weights: Weights = .asDeclared, biases: Biases = .asDeclared, batchNorm: Bool = false,
                lrFactor: Double = 1) {
        self.weights = weights
        self.biases = biases
        self.batchNorm = batchNorm
        self.lrFactor = lrFactor
    }

    /// Parses the scheme text; an `InputError` names the bad part and lists the valid names.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingSpaces
        guard !trimmed.isEmpty else {
            throw InputError("empty scheme: expected w=<weights>,b=<biases>[,bn=on|off][,lr=<factor>]")
        }
        var weights: Weights? = nil, biases: Biases? = nil, bn: Bool? = nil, lr: Double? = nil
        for rawPart in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let part = String(rawPart).trimmingSpaces
            guard let eq = part.firstIndex(of: "=") else {
                throw InputError("scheme '\(text)': part '\(part)' is not key=value (keys: w, b, bn, lr)")
            }
            let key = String(part[..<eq]).trimmingSpaces
            let value = String(part[part.index(after: eq)...]).trimmingSpaces
            func duplicate() -> InputError { InputError("scheme '\(text)': '\(key)=' given twice") }
            switch key {
            case "w":
                guard weights == nil else { throw duplicate() }
                // `as-exported` (an ONNX file's initializers) is `as-declared`: the blobs the net came with.
                guard let w = Weights(rawValue: value == Scheme.asExported ? Weights.asDeclared.rawValue : value) else {
                    throw InputError("scheme '\(text)': unknown weight scheme '\(value)' (valid: \(Weights.allCases.map(\.rawValue).joined(separator: ", ")), \(Scheme.asExported))")
                }
                weights = w
            case "b":
                guard biases == nil else { throw duplicate() }
                guard let b = Biases(rawValue: value == Scheme.asExported ? Biases.asDeclared.rawValue : value) else {
                    throw InputError("scheme '\(text)': unknown bias scheme '\(value)' (valid: \(Biases.allCases.map(\.rawValue).joined(separator: ", ")), \(Scheme.asExported))")
                }
                biases = b
            case "bn":
                guard bn == nil else { throw duplicate() }
                switch value {
                case "on": bn = true
                case "off": bn = false
                default: throw InputError("scheme '\(text)': bn must be on or off, not '\(value)'")
                }
            case "lr":
                guard lr == nil else { throw duplicate() }
                guard let f = Double(value), f.isFinite, f > 0 else {
                    throw InputError("scheme '\(text)': lr must be a positive number, not '\(value)'")
                }
                lr = f
            default:
                throw InputError("scheme '\(text)': unknown part '\(key)' (valid: w, b, bn, lr)")
            }
        }
        self.init(weights: weights ?? .asDeclared, biases: biases ?? .asDeclared, batchNorm: bn ?? false,
                  lrFactor: lr ?? 1)
    }

    /// The synonym of `as-declared` for a net whose blobs come with it (an ONNX file's
    /// initializers): keeps them. The canonical text says `as-declared`.
    public static let asExported = "as-exported"

    /// The canonical scheme text (see the type's comment).
    public var description: String {
        var parts = ["w=\(weights.rawValue)", "b=\(biases.rawValue)"]
        if batchNorm { parts.append("bn=on") }
        if lrFactor != 1 { parts.append("lr=\(Scheme.factorText(lrFactor))") }
        return parts.joined(separator: ",")
    }

    /// The file-name form of `description`: `=` → `-`, `,` → `_`.
    public var slug: String {
        String(description.map { $0 == "=" ? "-" : ($0 == "," ? "_" : $0) })
    }

    /// Shortest round-tripping decimal; exponents written without `+` ("1e20", "1e-05").
    static func factorText(_ f: Double) -> String {
        var text = "\(f)"
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text.replacingPlus
    }

    /// docs/schemes.md's default sweep, in its order.
    public static let defaultSweep: [Scheme] = [
        Scheme(weights: .asDeclared, biases: .asDeclared),
        Scheme(weights: .asDeclared, biases: .zero),
        Scheme(weights: .caffeMSRA, biases: .zero),
        Scheme(weights: .caffeMSRA, biases: .zero, lrFactor: 0.1),
        Scheme(weights: .torchDefault, biases: .torchDefault),
        Scheme(weights: .asDeclared, biases: .asDeclared, batchNorm: true),
        Scheme(weights: .torchDefault, biases: .torchDefault, batchNorm: true),
    ]

    /// Parses a list of schemes separated by `;` or newlines (a scheme itself contains commas).
    public static func parseList(_ text: String) throws -> [Scheme] {
        let items = text.split(whereSeparator: { $0 == ";" || $0 == "\n" }).map { String($0).trimmingSpaces }
            .filter { !$0.isEmpty }
        guard !items.isEmpty else { throw InputError("empty scheme list") }
        return try items.map { try Scheme(parsing: $0) }
    }

    // MARK: Resolution (used by the net builder)

    /// The filler for a learnable weight blob of `weightShape` whose prototxt filler is `declared`
    /// (nil = omitted, which Caffe treats as constant 0).
    ///
    /// PyTorch schemes become Caffe filler parameters (of the `Filler` types in this folder) that
    /// `fill` draws on the run's stream:
    /// torch-default → uniform ±bound with bound = sqrt(3)·gain/sqrt(fan_in), gain = sqrt(2/(1 + 5))
    /// (kaiming_uniform_ with a = √5; = 1/√fan_in), computed in double as PyTorch does and rounded
    /// to float; torch-kaiming-normal → gaussian σ = sqrt(2)/sqrt(fan_in); torch-xavier-uniform →
    /// uniform ±sqrt(3)·sqrt(2/(fan_in + fan_out)) (pytorch/pytorch torch/nn/init.py,
    /// torch/nn/modules/conv.py, linear.py; docs/semantics.md §9). Torch fans need ≥ 2 axes: fan_in =
    /// size(1)·receptive, fan_out = size(0)·receptive. PyTorch has no fan for a < 2-D tensor, so a
    /// torch scheme leaves such a blob as declared. `weightShape` is read in PyTorch's
    /// (out, in, k…) layout: for an InnerProduct with `transpose: true` (blob K×N) pass [N, K].
    /// Caffe schemes ignore it (`fill` takes Caffe's fans from the blob itself).
    public func weightFiller(declared: FillerParameter?, weightShape: [Int]) -> FillerParameter {
        let asDeclared = declared ?? FillerParameter(type: ConstantFiller.typeName)
        switch weights {
        case .asDeclared:
            return asDeclared
        case .caffeXavier:
            return FillerParameter(type: XavierFiller.typeName)
        case .caffeXavierAvg:
            var f = FillerParameter(type: XavierFiller.typeName)
            f.varianceNorm = .AVERAGE
            return f
        case .caffeMSRA:
            return FillerParameter(type: MSRAFiller.typeName)
        case .caffeGaussian001:
            var f = FillerParameter(type: GaussianFiller.typeName)
            f.std = 0.01
            return f
        case .orthogonal, .lsuv:
            // Not a Caffe filler: `ParameterInitializer` draws the weight with `OrthogonalInit`.
            // This Gaussian has the same per-entry second moment, 1/max(out, in), for the
            // mean-field moments and the trace's weight_variance (LSUV's rescaling comes after).
            var f = FillerParameter(type: GaussianFiller.typeName)
            f.std = Float(OrthogonalInit.secondMoment(weightShape).squareRoot())
            return f
        case .torchDefault, .torchKaimingNormal, .torchXavierUniform:
            guard let fans = torchFans(weightShape), fans.fanIn > 0 else { return asDeclared }
            let fanIn = Double(fans.fanIn), fanOut = Double(fans.fanOut)
            switch weights {
            case .torchDefault:
                let gain = (2.0 / (1.0 + 5.0)).squareRoot()
                let std = gain / fanIn.squareRoot()
                return symmetricUniform((3.0).squareRoot() * std)
            case .torchKaimingNormal:
                var f = FillerParameter(type: GaussianFiller.typeName)
                f.std = Float((2.0).squareRoot() / fanIn.squareRoot())
                return f
            default:
                let std = 1.0 * (2.0 / (fanIn + fanOut)).squareRoot()
                return symmetricUniform((3.0).squareRoot() * std)
            }
        }
    }

    /// The filler for a bias blob of `biasShape` of a layer whose weight has `weightShape`.
    /// torch-default: U(±1/sqrt(fan_in)) with the weight's torch fan_in (`1 / math.sqrt(fan_in)` in
    /// double); a weight with fan_in 0 (or < 2 axes) leaves the bias as declared, as PyTorch skips it.
    public func biasFiller(declared: FillerParameter?, weightShape: [Int], biasShape: [Int]) -> FillerParameter {
        let asDeclared = declared ?? FillerParameter(type: ConstantFiller.typeName)
        switch biases {
        case .asDeclared: return asDeclared
        case .zero: return FillerParameter(type: ConstantFiller.typeName)
        case .caffeXavier: return FillerParameter(type: XavierFiller.typeName)
        case .torchDefault:
            guard let fans = torchFans(weightShape), fans.fanIn > 0 else { return asDeclared }
            return symmetricUniform(1.0 / Double(fans.fanIn).squareRoot())
        }
    }

    /// Report text for the weight filler this scheme gives: the scheme name (or "as-declared") and
    /// the resolved filler, e.g. "torch-default U(±0.05893)", "as-declared xavier U(±0.1925)".
    public func weightFillerLabel(declared: FillerParameter?, weightShape: [Int]) -> String {
        let f = weightFiller(declared: declared, weightShape: weightShape)
        if weights.isOrthogonal {
            return "\(weights.rawValue) QR of N(0, 1), E[w²] = \(String(format: "%.4g", OrthogonalInit.secondMoment(weightShape)))"
        }
        return "\(weights.rawValue) \(Scheme.shortText(f, shape: weightShape))"
    }

    /// The same for a bias blob.
    public func biasFillerLabel(declared: FillerParameter?, weightShape: [Int], biasShape: [Int]) -> String {
        let f = biasFiller(declared: declared, weightShape: weightShape, biasShape: biasShape)
        return "\(biases.rawValue) \(Scheme.shortText(f, shape: biasShape))"
    }

    /// `fillerDescription` without the Caffe type word for the uniform/gaussian forms the torch
    /// schemes produce ("U(±0.05893)", "N(0, σ=0.0589)").
    static func shortText(_ f: FillerParameter, shape: [Int]) -> String {
        let text = fillerDescription(f, shape: shape)
        guard f.type == UniformFiller.typeName else { return text }
        return String(text.dropFirst("\(UniformFiller.typeName) ".count))
    }

    /// Multiplies the solver's base_lr by the scheme's factor (in double, rounded to float).
    public func apply(to solver: SolverParameter) -> SolverParameter {
        var s = solver
        if lrFactor != 1 { s.baseLr = Float(Double(s.baseLr) * lrFactor) }
        return s
    }
}

/// PyTorch's `_calculate_fan_in_and_fan_out` (torch/nn/init.py): nil for < 2 axes; receptive =
/// product of axes from 2 on; fan_in = size(1)·receptive, fan_out = size(0)·receptive.
public func torchFans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int)? {
    guard shape.count >= 2 else { return nil }
    let receptive = shape.dropFirst(2).reduce(1, *)
    return (shape[1] * receptive, shape[0] * receptive)
}

private func symmetricUniform(_ bound: Double) -> FillerParameter {
    var f = FillerParameter(type: UniformFiller.typeName)
    let b = Float(bound)
    f.min = -b
    f.max = b
    return f
}

private extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
    var replacingPlus: String { String(self.filter { $0 != "+" }) }
}
