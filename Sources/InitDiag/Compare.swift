import InitDiagCore
import InitDiagTrace
import InitDiagEngine
import InitDiagDiagnosis
import Foundation

/// `initdiag compare A B` (docs/compare.md): two nets — a solver prototxt (which names its net),
/// a net prototxt or an ONNX file each — aligned layer by layer by structure (not by names), and
/// every difference that changes training listed with its numbers: architecture, the
/// initialisation of each aligned layer, the solver, the data preprocessing. `--run` adds a
/// short sweep of both sides on the same data (`CompareRun`).
public struct CompareSide: Sendable {
    /// "A" or "B".
    public var label: String
    /// The file given (A or B).
    public var path: String
    /// The solver file in effect (A/B itself when it is a solver, else --solver-a/-b), nil: none.
    public var solverPath: String?
    /// The net file, nil when A/B is a solver that names its net.
    public var netPath: String?
    public var setup: RunSetup
    public var inspection: NetInspection
    /// The TRAIN net as resolved (phase filtering), for layer parameters by name.
    public var layers: [String: LayerParameter]

    /// Loads one side: `path` is taken for a solver when it parses as one and names a net.
    public static func load(label: String, path: String, solver: String?) throws -> CompareSide {
        var solverPath = solver, netPath: String? = path
        let head = FileHandle(forReadingAtPath: path).map { h -> [UInt8] in defer { try? h.close() }; return [UInt8](h.readData(ofLength: 4096)) }
        if solver == nil, let bytes = head, NetSource.format(of: bytes) == .prototxt,
           let (s, _) = try? Prototxt.loadSolver(path: path),
           s.net != nil || s.trainNet != nil || s.netParam != nil || s.trainNetParam != nil {
            solverPath = path
            netPath = nil
        }
        let setup = try RunSetup.load(solverPath: solverPath, netPath: netPath, data: nil, scheme: Scheme(), seed: nil, batchSize: nil)
        let inspection = try NetInspection(param: setup.net, phase: .TRAIN)
        var layers: [String: LayerParameter] = [:]
        for l in try setup.net.filtered(for: NetState(phase: .TRAIN)).layer { layers[l.name] = l }
        return CompareSide(label: label, path: path, solverPath: solverPath, netPath: netPath, setup: setup,
                           inspection: inspection, layers: layers)
    }

    /// The data preprocessing: the first TRAIN Data layer's transform_param, or the Input
    /// transform (an ONNX net: scale 1/255).
    public var transform: TransformationParameter {
        for row in inspection.layers {
            if let l = layers[row.name], ["Data", "ImageData"].contains(l.type) { return l.transformParam ?? TransformationParameter() }
        }
        return setup.inputTransform
    }
}

/// One structural item of a net: a weighted layer (conv, fc), a normalisation, a nonlinearity,
/// a pooling or a dropout. Layers that do not change what is learned (data, Split, Flatten,
/// accuracy, the loss, a 1×1 stride-1 pooling) are not items.
public struct CompareItem: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case conv, fc, bn, relu, maxPool = "max-pool", avePool = "ave-pool", dropout, other }
    public var kind: Kind
    /// The layer's name (a BatchNorm item: the BatchNorm layer, its Scale folded in).
    public var layer: String
    public var type: String
    /// Weighted layers: the weight's shape; pooling: [kernel, stride]; dropout: [].
    public var shape: [Int]
    /// Dropout's ratio.
    public var ratio: Double?
    /// Weighted layers: (description, variance, fan_in) of the weight and the bias blobs as inspected.
    public var weight: CompareBlob?
    public var bias: CompareBlob?

    public var title: String {
        switch kind {
        case .conv, .fc: return "\(layer) (\(type) \(shape.map(String.init).joined(separator: "×")))"
        case .dropout: return "\(layer) (Dropout \(ratio.map { cnum($0) } ?? "?"))"
        case .maxPool, .avePool: return "\(layer) (\(kind == .maxPool ? "MAX" : "AVE") pool \(shape.first ?? 0)/\(shape.last ?? 0))"
        default: return "\(layer) (\(type))"
        }
    }
}

public struct CompareBlob: Sendable, Codable, Equatable {
    public var shape: [Int]
    /// The filler as inspected ("xavier U(±1.732)", "as-exported (the file's values, Var …)").
    public var description: String
    /// The filler's type, or "given" for a blob the net came with.
    public var filler: String
    /// The variance the filler gives (Caffe's formula), or for a given blob its measured variance.
    public var variance: Double
    /// Caffe's fan_in of the blob (count/shape(0)).
    public var fanIn: Int
    /// PyTorch's default rule for this blob (Conv2d/Linear reset_parameters: weight and bias
    /// U(±1/√fan_in) with the weight's fan_in, Var 1/(3·fan_in)); for a given blob only.
    public var torchDefaultVariance: Double?
}

/// A difference between the two nets that changes training.
public struct CompareDifference: Sendable, Codable, Equatable {
    /// architecture, initialisation, solver, data.
    public var area: String
    public var text: String
    /// The scheme (on side "a" or "b") that swaps this difference in a `--run`, when one exists.
    public var swap: String?
}

public struct CompareResult: Sendable {
    public var a: CompareSide
    public var b: CompareSide
    public var itemsA: [CompareItem]
    public var itemsB: [CompareItem]
    /// Aligned pairs (index into itemsA, index into itemsB); nil on one side: unmatched.
    public var alignment: [(a: Int?, b: Int?)]
    public var differences: [CompareDifference]
    /// What is the same and matters (the solver's bias decay, …), one line each.
    public var same: [String]
}

public enum Compare {
    /// The structural items of a side, in net order.
    public static func items(_ side: CompareSide) -> [CompareItem] {
        var out: [CompareItem] = []
        let rows = side.inspection.layers
        for (i, row) in rows.enumerated() {
            let lp = side.layers[row.name]
            func blob(_ k: Int, weightFanIn: Int?) -> CompareBlob? {
                guard k < row.params.count else { return nil }
                let p = row.params[k]
                var torch: Double?
                if p.filler == "given", let f = weightFanIn, f > 0 { torch = 1 / (3 * Double(f)) }
                return CompareBlob(shape: p.shape, description: p.description, filler: p.filler, variance: p.variance ?? 0,
                                   fanIn: p.fanIn, torchDefaultVariance: torch)
            }
            switch row.type {
            case "Convolution", "InnerProduct", "Deconvolution":
                guard let w = row.params.first else { continue }
                // PyTorch's fan_in: size(1)·receptive field of the (out, in, k…) weight
                // (torch/nn/init.py _calculate_fan_in_and_fan_out); a transposed
                // InnerProduct stores (in, out).
                var shape = w.shape
                if row.type == "InnerProduct", lp?.innerProductParam?.transpose == true, shape.count == 2 { shape = [shape[1], shape[0]] }
                let fanIn = torchFans(shape)?.fanIn ?? w.fanIn
                out.append(CompareItem(kind: row.type == "InnerProduct" ? .fc : .conv, layer: row.name, type: row.type, shape: shape,
                                       weight: blob(0, weightFanIn: fanIn), bias: blob(1, weightFanIn: fanIn)))
            case "BatchNorm", "TorchBatchNorm":
                out.append(CompareItem(kind: .bn, layer: row.name, type: row.type, shape: row.topShapes.first.map { [$0.count > 1 ? $0[1] : 0] } ?? []))
            case "Scale" where i > 0 && ["BatchNorm", "TorchBatchNorm"].contains(rows[i - 1].type):
                continue   // BatchNorm's affine part in Caffe: one item with it
            case "ReLU", "PReLU", "ELU", "TanH", "Sigmoid", "Swish":
                out.append(CompareItem(kind: row.type == "ReLU" ? .relu : .other, layer: row.name, type: row.type, shape: []))
            case "Pooling":
                let p = lp?.poolingParam ?? PoolingParameter()
                let k = Int(p.kernelSize ?? p.kernelH ?? 0), s = Int(p.strideH ?? p.stride)
                let global = p.globalPooling
                // A 1×1 window with stride 1 and no pad changes nothing.
                if !global && k == 1 && s == 1 && p.pad == 0 && (p.padH ?? 0) == 0 { continue }
                out.append(CompareItem(kind: p.pool == .MAX ? .maxPool : .avePool, layer: row.name, type: row.type,
                                       shape: global ? [0, 0] : [k, s]))
            case "Dropout":
                out.append(CompareItem(kind: .dropout, layer: row.name, type: row.type, shape: [],
                                       ratio: Double(lp?.dropoutParam?.dropoutRatio ?? 0.5)))
            case "LRN", "MVN", "Eltwise", "Concat":
                out.append(CompareItem(kind: .other, layer: row.name, type: row.type, shape: []))
            default:
                continue
            }
        }
        return out
    }

    /// Edit-distance alignment of two item sequences: items pair only with items of the same
    /// kind (cost 0, or 0.5 when a weighted layer's shape differs), an unpaired item costs 1.
    /// Ties go to pairing, then to leaving A's item unpaired first: deterministic.
    public static func align(_ a: [CompareItem], _ b: [CompareItem]) -> [(a: Int?, b: Int?)] {
        let n = a.count, m = b.count
        var cost = [[Double]](repeating: [Double](repeating: 0, count: m + 1), count: n + 1)
        for i in 0...n { cost[i][0] = Double(i) }
        for j in 0...m { cost[0][j] = Double(j) }
        func pair(_ i: Int, _ j: Int) -> Double? {
            guard a[i].kind == b[j].kind else { return nil }
            if a[i].kind == .conv || a[i].kind == .fc { return a[i].shape == b[j].shape ? 0 : 0.5 }
            return 0
        }
        if n > 0 && m > 0 {
            for i in 1...n {
                for j in 1...m {
                    var c = min(cost[i - 1][j], cost[i][j - 1]) + 1
                    if let p = pair(i - 1, j - 1) { c = min(c, cost[i - 1][j - 1] + p) }
                    cost[i][j] = c
                }
            }
        }
        var out: [(a: Int?, b: Int?)] = []
        var i = n, j = m
        while i > 0 || j > 0 {
            if i > 0, j > 0, let p = pair(i - 1, j - 1), cost[i][j] == cost[i - 1][j - 1] + p {
                out.append((i - 1, j - 1)); i -= 1; j -= 1
            } else if i > 0, cost[i][j] == cost[i - 1][j] + 1 {
                out.append((i - 1, nil)); i -= 1
            } else {
                out.append((nil, j - 1)); j -= 1
            }
        }
        return out.reversed()
    }

    public static func run(a: CompareSide, b: CompareSide) -> CompareResult {
        let ia = items(a), ib = items(b)
        let alignment = align(ia, ib)
        var diffs: [CompareDifference] = []
        var same: [String] = []

        // Architecture: items on one side only, grouped by kind.
        let names: [CompareItem.Kind: String] = [.conv: "Convolution", .fc: "InnerProduct / Gemm (classifier)", .bn: "BatchNorm",
                                                 .relu: "ReLU", .maxPool: "max pooling", .avePool: "average pooling",
                                                 .dropout: "Dropout", .other: "other"]
        for kind in [CompareItem.Kind.bn, .dropout, .fc, .conv, .relu, .maxPool, .avePool, .other] {
            for (side, other, list, idx) in [(a, b, ia, alignment.compactMap { $0.b == nil ? $0.a : nil }),
                                             (b, a, ib, alignment.compactMap { $0.a == nil ? $0.b : nil })] {
                let only = idx.map { list[$0] }.filter { $0.kind == kind }
                guard !only.isEmpty else { continue }
                let total = list.filter { $0.kind == kind }.count
                let shown = only.prefix(4).map(\.title).joined(separator: ", ") + (only.count > 4 ? ", …" : "")
                var text = "\(names[kind]!): \(side.label) has \(only.count) that \(other.label) has no counterpart for (\(side.label) \(total), \(other.label) \(total - only.count)): \(shown)"
                var swap: String?
                if kind == .bn {
                    let convs = list.filter { $0.kind == .conv }.count
                    text += only.count == convs ? " — one after every convolution" : ""
                    if side.label == "B" && a.items(ofKind: .bn) == 0 { swap = "a:w=as-declared,b=as-declared,bn=on" }
                }
                if kind == .fc {
                    text += "; the classifier: \(side.label) \(list.filter { $0.kind == .fc }.map { $0.shape.map(String.init).joined(separator: "×") }.joined(separator: " → ")), \(other.label) \((side.label == "A" ? ib : ia).filter { $0.kind == .fc }.map { $0.shape.map(String.init).joined(separator: "×") }.joined(separator: " → "))"
                }
                diffs.append(CompareDifference(area: "architecture", text: text, swap: swap))
            }
        }
        for pairing in alignment {
            guard let i = pairing.a, let j = pairing.b, ia[i].kind == .conv || ia[i].kind == .fc, ia[i].shape != ib[j].shape else { continue }
            diffs.append(CompareDifference(area: "architecture", text: "\(ia[i].title) ↔ \(ib[j].title): the weights' shapes differ"))
        }

        // Initialisation of every aligned weighted layer.
        var biasSwapA: String?, biasSwapB: String?
        for pairing in alignment {
            guard let i = pairing.a, let j = pairing.b, ia[i].kind == .conv || ia[i].kind == .fc else { continue }
            let x = ia[i], y = ib[j]
            for (what, bx, by) in [("weight", x.weight, y.weight), ("bias", x.bias, y.bias)] {
                guard bx != nil || by != nil else { continue }
                let vx = bx?.variance ?? 0, vy = by?.variance ?? 0
                let differs = abs(vx - vy) > 0.1 * max(vx, vy) + 1e-12
                guard differs else { continue }
                let text = "\(x.layer) ↔ \(y.layer) \(what): A \(describe(bx, side: a)); B \(describe(by, side: b))"
                var swap: String?
                if what == "bias" {
                    // The swap is named once, on the first bias line: it changes every bias.
                    if by?.filler == "given" && biasSwapA == nil { biasSwapA = "a:w=as-declared,b=torch-default"; swap = biasSwapA }
                    if let f = bx?.filler, by?.filler == "given" {
                        if f == "xavier" { biasSwapB = "b:w=as-declared,b=caffe-xavier" }
                        if f == "constant" && vx == 0 { biasSwapB = "b:w=as-declared,b=zero" }
                    }
                }
                diffs.append(CompareDifference(area: "initialisation", text: text, swap: swap))
            }
        }
        if let s = biasSwapB, let k = diffs.firstIndex(where: { $0.area == "initialisation" && $0.text.contains(" bias: ") }) {
            diffs[k].swap = [diffs[k].swap, s].compactMap { $0 }.joined(separator: "; ")
        }
        _ = biasSwapA

        // Solver.
        let sa = a.setup.solver, sb = b.setup.solver
        func solverLine(_ s: SolverParameter, _ side: CompareSide) -> String {
            var t = "\(s.type) base_lr \(cnum(Double(s.baseLr))) \(s.lrPolicy ?? "fixed")"
            if s.lrPolicy == "step" { t += " (γ \(cnum(Double(s.gamma))) every \(s.stepsize))" }
            t += ", momentum \(cnum(Double(s.momentum))) (\(side.setup.momentumStyle.rawValue) style)"
            t += ", weight_decay \(cnum(Double(s.weightDecay)))"
            return t
        }
        if sa.type != sb.type || sa.baseLr != sb.baseLr || sa.lrPolicy != sb.lrPolicy || sa.momentum != sb.momentum
            || a.setup.momentumStyle != b.setup.momentumStyle || sa.weightDecay != sb.weightDecay {
            var text = "A \(solverLine(sa, a)); B \(solverLine(sb, b))"
            if a.setup.momentumStyle != b.setup.momentumStyle {
                text += ". Caffe's v ← μv + lr·g, w −= v and PyTorch's v ← μv + g, w −= lr·v take the same steps while the rate is constant; they part when it changes (Caffe's history keeps the old rate)"
            }
            if sa.baseLr != sb.baseLr {
                text += ". The rates differ by \(cnum(Double(max(sa.baseLr, sb.baseLr) / max(1e-30, min(sa.baseLr, sb.baseLr)))))×"
            }
            diffs.append(CompareDifference(area: "solver", text: text))
        }
        let decayA = biasDecay(a), decayB = biasDecay(b)
        if decayA != decayB {
            diffs.append(CompareDifference(area: "solver", text: "weight decay on biases: A \(decayA), B \(decayB)"))
        } else {
            same.append("weight decay applies to the biases on both sides (\(decayA)), as PyTorch's SGD applies it to every parameter")
        }
        if a.setup.batchSize != b.setup.batchSize {
            diffs.append(CompareDifference(area: "solver", text: "batch size: A \(a.setup.batchSize), B \(b.setup.batchSize)"))
        }

        // Data preprocessing.
        let ta = a.transform, tb = b.transform
        func dataLine(_ t: TransformationParameter) -> String {
            var parts = ["scale \(cnum(Double(t.scale)))"]
            parts.append(t.meanFile.map { "mean_file \($0)" } ?? (t.meanValue.isEmpty ? "no mean" : "mean_value \(t.meanValue.map { cnum(Double($0)) }.joined(separator: ","))"))
            if t.mirror { parts.append("mirror") }
            if t.cropSize > 0 { parts.append("crop \(t.cropSize)") }
            return parts.joined(separator: ", ")
        }
        if dataLine(ta) != dataLine(tb) {
            diffs.append(CompareDifference(area: "data", text: "preprocessing: A \(dataLine(ta)); B \(dataLine(tb))"))
        } else {
            same.append("data preprocessing: \(dataLine(ta)) on both sides")
        }
        return CompareResult(a: a, b: b, itemsA: ia, itemsB: ib, alignment: alignment, differences: diffs, same: same)
    }

    /// "xavier U(±1.732), Var 1 (fan_in 1)" or, for a given blob, "as exported: Var 0.0118
    /// measured; PyTorch's default rule U(±1/√27) gives Var 0.0123".
    static func describe(_ blob: CompareBlob?, side: CompareSide) -> String {
        guard let b = blob else { return "no such blob" }
        if b.filler == "given" {
            var t = "as exported, Var \(cnum(b.variance)) measured"
            if b.shape.count > 1 { t += " (Var·fan_in = \(cnum(b.variance * Double(b.fanIn))))" }
            if let v = b.torchDefaultVariance {
                let fan = Int((1 / (3 * v)).rounded())
                t += " (PyTorch's default U(±1/√\(fan)) gives Var 1/(3·\(fan)) = \(cnum(v)))"
            }
            return t
        }
        var t = "\(b.description), Var \(cnum(b.variance))"
        if b.shape.count > 1 { t += " (fan_in \(b.fanIn): Var·fan_in = \(cnum(b.variance * Double(b.fanIn))))" }
        if b.filler == "xavier" && b.shape.count == 1 { t = "Caffe xavier on a 1-D blob (fan_in = count/shape(0) = 1), \(b.description), Var \(cnum(b.variance))" }
        return t
    }

    /// The decay multiplier the biases get: "decay_mult 1 on every bias" or the values found.
    static func biasDecay(_ side: CompareSide) -> String {
        var mults = Set<Float>()
        for row in side.inspection.layers where ["Convolution", "InnerProduct"].contains(row.type) && row.params.count > 1 {
            let specs = side.layers[row.name]?.param ?? []
            mults.insert(specs.count > 1 ? specs[1].decayMult : 1)
        }
        let w = side.setup.solver.weightDecay
        if mults.isEmpty { return "no biases" }
        return mults.sorted().map { "decay_mult \(cnum(Double($0))) → \(cnum(Double($0 * w)))" }.joined(separator: ", ")
    }

    /// The comparison as text: the alignment, then the differences by area, then what is equal.
    public static func text(_ r: CompareResult) -> String {
        var out = "A: \(r.a.path)\(r.a.solverPath.map { $0 == r.a.path ? " (solver; net \(r.a.setup.net.sourcePath))" : " (solver \($0))" } ?? "")\n"
        out += "B: \(r.b.path)\(r.b.solverPath.map { $0 == r.b.path ? " (solver; net \(r.b.setup.net.sourcePath))" : " (solver \($0))" } ?? "")\n\n"
        out += "Alignment (by structure: \(r.itemsA.count) items in A, \(r.itemsB.count) in B; — = no counterpart):\n"
        for p in r.alignment {
            let x = p.a.map { r.itemsA[$0].title } ?? "—"
            let y = p.b.map { r.itemsB[$0].title } ?? "—"
            out += "  \(x.padding(toLength: max(38, x.count), withPad: " ", startingAt: 0))  \(y)\n"
        }
        out += "\n\(r.differences.count) differences that change training:\n"
        for (k, d) in r.differences.enumerated() {
            out += "  \(k + 1). [\(d.area)] \(d.text)\(d.swap.map { " (swap: \($0))" } ?? "")\n"
        }
        if !r.same.isEmpty {
            out += "\nThe same on both sides:\n"
            for s in r.same { out += "  - \(s)\n" }
        }
        return out
    }

    /// The summary JSON (docs/compare.md).
    public static func json(_ r: CompareResult, run: CompareRunResult? = nil) -> [String: Any] {
        var o: [String: Any] = [:]
        o["a"] = ["path": r.a.path, "solver": r.a.solverPath as Any, "net": r.a.setup.net.sourcePath]
        o["b"] = ["path": r.b.path, "solver": r.b.solverPath as Any, "net": r.b.setup.net.sourcePath]
        o["alignment"] = r.alignment.map { p -> [String: Any] in
            ["a": p.a.map { r.itemsA[$0].layer } as Any, "b": p.b.map { r.itemsB[$0].layer } as Any,
             "kind": (p.a.map { r.itemsA[$0].kind } ?? p.b.map { r.itemsB[$0].kind })!.rawValue]
        }
        o["differences"] = r.differences.map { d -> [String: Any] in
            var x: [String: Any] = ["area": d.area, "text": d.text]
            if let s = d.swap { x["swap"] = s }
            return x
        }
        o["same"] = r.same
        if let run {
            o["runs"] = run.variants.map { v -> [String: Any] in
                var x: [String: Any] = ["side": v.side, "scheme": v.scheme, "role": v.role, "verdict": v.verdict,
                                        "outcome": outcomeClass(v.verdict), "first_collapsed_layer": v.firstCollapsed as Any,
                                        "iterations": v.iterations, "trace": v.trace]
                // JSON has no NaN: a value that is not finite is left out.
                if let l = v.lossFirst, l.isFinite { x["loss_first"] = l }
                if let l = v.lossLast, l.isFinite { x["loss_last"] = l }
                if let l = v.lossTail, l.isFinite { x["loss_tail_mean"] = l }
                if let t = v.testAccuracy, t.isFinite { x["test_accuracy"] = t }
                return x
            }
            o["deciding"] = run.deciding
        }
        return o
    }
}

extension CompareSide {
    func items(ofKind k: CompareItem.Kind) -> Int { Compare.items(self).filter { $0.kind == k }.count }
}

/// Short decimal for reports: 4 significant digits.
func cnum(_ v: Double) -> String {
    if v == 0 { return "0" }
    if v == v.rounded() && abs(v) < 1e7 { return String(Int(v)) }
    return String(format: "%.4g", v)
}

// MARK: --run

/// What `compare --run` runs: each side as declared (B: as exported) and the swaps the
/// comparison found a scheme for (`CompareDifference.swap`), as two sweeps (`Sweep.run`) in
/// OUT/a and OUT/b on the same data, iterations, batch size, seed and threads.
public struct CompareRunPlan: Sendable {
    public var data: String
    public var iterations: Int
    public var batchSize: Int?
    public var seed: Int64?
    public var threads: Int = 1
    public var testIterations: Int?
    public var outputDirectory: String
    public var command: String
    public var earlyStop = true
    /// The sides whose swaps run ("a", "b"); each side's as-declared run always runs.
    public var swapSides: Set<String> = ["a", "b"]
    public init(data: String, iterations: Int, batchSize: Int?, seed: Int64?, outputDirectory: String, command: String) {
        self.data = data; self.iterations = iterations; self.batchSize = batchSize; self.seed = seed
        self.outputDirectory = outputDirectory; self.command = command
    }
}

public struct CompareRunVariant: Sendable {
    public var side: String
    public var scheme: String
    /// "as declared" or the difference it swaps in.
    public var role: String
    public var verdict: String
    public var iterations: Int
    public var lossFirst: Double?
    public var lossLast: Double?
    /// Mean loss over the last quarter of the recorded steps (at least the last 5).
    public var lossTail: Double?
    public var testAccuracy: Double?
    /// Relative to the compare folder: "a/traces/….h5".
    public var trace: String
    /// The first layer from which the signal stopped depending on the input (docs/verdicts.md), nil: none.
    public var firstCollapsed: String? = nil
}

public struct CompareRunResult: Sendable {
    public var variants: [CompareRunVariant]
    /// One line per swap: whether it flips its side's verdict (learning vs not).
    public var deciding: [String]
}

extension Compare {
    /// The schemes each side runs: [as declared] + its swaps, in the order of the differences,
    /// and, when a side has two or more, all of them at once (the differences may decide only
    /// together). `sides`: which sides get their swaps (both by default).
    public static func runSchemes(_ r: CompareResult, sides: Set<String> = ["a", "b"]) throws -> (a: [(Scheme, String)], b: [(Scheme, String)]) {
        var a: [(Scheme, String)] = [(Scheme(), "as declared")], b: [(Scheme, String)] = [(Scheme(), "as exported / declared")]
        for d in r.differences {
            for s in (d.swap ?? "").split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where !s.isEmpty {
                let side = s.hasPrefix("a:") ? "a" : "b"
                let scheme = try Scheme(parsing: String(s.dropFirst(2)))
                let role = roleText(d, side: side)
                guard sides.contains(side) else { continue }
                if side == "a", !a.contains(where: { $0.0 == scheme }) { a.append((scheme, role)) }
                if side == "b", !b.contains(where: { $0.0 == scheme }) { b.append((scheme, role)) }
            }
        }
        func together(_ list: [(Scheme, String)], other: String) -> [(Scheme, String)] {
            let swaps = list.dropFirst()
            guard swaps.count >= 2 else { return list }
            var all = Scheme()
            for (s, _) in swaps {
                if s.weights != .asDeclared && all.weights == .asDeclared { all.weights = s.weights }
                if s.biases != .asDeclared && all.biases == .asDeclared { all.biases = s.biases }
                all.batchNorm = all.batchNorm || s.batchNorm
                all.lrFactor *= s.lrFactor
            }
            let names = swaps.map { $0.1.replacingOccurrences(of: "with \(other)'s ", with: "") }
            return list + [(all, "with \(other)'s \(names.joined(separator: " and ")) together")]
        }
        return (together(a, other: "B"), together(b, other: "A"))
    }

    static func roleText(_ d: CompareDifference, side: String) -> String {
        if d.area == "architecture" && d.text.hasPrefix("BatchNorm") { return "with \(side == "a" ? "B" : "A")'s BatchNorm" }
        if d.area == "initialisation" { return "with \(side == "a" ? "B" : "A")'s bias initialisation" }
        return "swap: \(d.area)"
    }

    /// Runs both sweeps (finished variants already in OUT/a, OUT/b are not run again) and reads
    /// their traces back.
    public static func runSweeps(_ r: CompareResult, plan: CompareRunPlan, emit: @escaping (String, SweepEvent) -> Void) throws -> CompareRunResult {
        let schemes = try runSchemes(r, sides: plan.swapSides)
        var variants: [CompareRunVariant] = []
        for (side, label, list) in [(r.a, "a", schemes.a), (r.b, "b", schemes.b)] {
            var sp = SweepPlan(solverPath: side.solverPath, netPath: side.netPath, data: plan.data, schemes: list.map(\.0),
                               iterations: plan.iterations, batchSize: plan.batchSize, seed: plan.seed,
                               outputDirectory: (plan.outputDirectory as NSString).appendingPathComponent(label),
                               shard: nil, testIterations: plan.testIterations, command: plan.command)
            sp.threads = plan.threads
            sp.earlyStop = plan.earlyStop
            try Sweep.run(sp) { emit(label.uppercased(), $0) }
            if InterruptSignal.isSet { return CompareRunResult(variants: variants, deciding: []) }
            for (scheme, role) in list {
                let record = try RunRecord(trace: sp.tracePath(scheme))
                let d = diagnose(record)
                let tail = max(5, record.loss.count / 4)
                let last = record.loss.suffix(tail)
                variants.append(CompareRunVariant(side: label.uppercased(), scheme: scheme.description, role: role,
                                                  verdict: d.verdict.rawValue, iterations: (record.iterations.last ?? -1) + 1,
                                                  lossFirst: record.loss.first, lossLast: record.loss.last,
                                                  lossTail: last.isEmpty ? nil : last.reduce(0, +) / Double(last.count),
                                                  testAccuracy: record.testAccuracy.last,
                                                  trace: label + "/traces/" + scheme.slug + ".h5",
                                                  firstCollapsed: d.firstCollapsedLayer))
            }
        }
        return CompareRunResult(variants: variants, deciding: deciding(variants))
    }

    /// The outcome class of a verdict: "learns" (learning), "undecided" (inconclusive, or a
    /// plateau: the input reaches the logits and the budget did not settle it; a plateau may still
    /// be left, RULES.md "Saturation and plateaus"), "does not learn" (stuck-at-chance, diverged).
    static func outcomeClass(_ verdict: String) -> String {
        switch verdict {
        case Verdict.learning.rawValue: return "learns"
        case Verdict.inconclusive.rawValue, Verdict.plateau.rawValue: return "undecided"
        default: return "does not learn"
        }
    }

    /// Which swaps move their side's outcome class (`outcomeClass`): a swap that changes it is a
    /// difference that decides (at this budget); the all-at-once run is reported against the
    /// single swaps.
    static func deciding(_ vs: [CompareRunVariant]) -> [String] {
        var out: [String] = []
        func collapse(_ v: CompareRunVariant) -> String {
            v.firstCollapsed.map { "input gone from \($0) on" } ?? "no layer collapsed"
        }
        for side in ["A", "B"] {
            guard let base = vs.first(where: { $0.side == side && $0.scheme == Scheme().description }) else { continue }
            let baseClass = outcomeClass(base.verdict)
            var singleFlips = false
            for v in vs where v.side == side && v.scheme != base.scheme {
                let cls = outcomeClass(v.verdict)
                let flip = cls != baseClass
                let what = "\(v.verdict) (\(collapse(v))) where \(side) as declared is \(base.verdict) (\(collapse(base)))"
                let move = "moves the outcome from \"\(baseClass)\" to \"\(cls)\""
                if v.role.hasSuffix(" together") {
                    let text = !flip ? "does not change the outcome either"
                        : singleFlips ? move : move + " where none of them alone does: these differences decide together"
                    out.append("\(side) \(v.role) (`\(v.scheme)`): \(what) — \(text)")
                } else {
                    singleFlips = singleFlips || flip
                    var text = flip ? move + ": this difference decides" : "does not change the outcome on its own"
                    if !flip, let x = base.firstCollapsed, let y = v.firstCollapsed, x != y {
                        text += ", but it moves the first collapsed layer from \(x) to \(y): it is part of the collapse"
                    }
                    out.append("\(side) \(v.role) (`\(v.scheme)`): \(what) — \(text)")
                }
            }
        }
        return out
    }

    /// OUT/README.md: the differences, the runs side by side, what decides, the commands.
    public static func markdown(_ r: CompareResult, run: CompareRunResult?, commands: [String], notes: [String] = []) -> String {
        var md = "# initdiag compare: \((r.a.path as NSString).lastPathComponent) vs \((r.b.path as NSString).lastPathComponent)\n\n"
        md += "- A: `\(r.a.path)`\(r.a.solverPath == r.a.path ? " (solver; net `\(r.a.setup.net.sourcePath)`)" : r.a.solverPath.map { " (solver `\($0)`)" } ?? "")\n"
        md += "- B: `\(r.b.path)`\(r.b.solverPath == r.b.path ? " (solver; net `\(r.b.setup.net.sourcePath)`)" : r.b.solverPath.map { " (solver `\($0)`)" } ?? " (no solver file: \(r.b.setup.netFormat == .onnx ? "PyTorch's SGD defaults" : "Caffe's defaults"))")\n\n"
        if let run {
            md += "## What decides\n\n"
            for line in run.deciding { md += "- \(line)\n" }
            md += "\nOutcomes: *learns* (verdict learning), *undecided* (inconclusive or plateau: the input reaches the logits, the budget did not settle it), *does not learn* (stuck-at-chance, diverged); verdicts as docs/verdicts.md defines them.\n"
            md += "\n## Runs side by side\n\n| side | variant | scheme | verdict | first collapsed layer | iterations | loss first | loss last | mean loss, last quarter | test accuracy |\n|---|---|---|---|---|---:|---:|---:|---:|---:|\n"
            for v in run.variants {
                md += "| \(v.side) | \(v.role) | `\(v.scheme)` | \(v.verdict) | \(v.firstCollapsed ?? "—") | \(v.iterations) | \(v.lossFirst.map { cnum($0) } ?? "—") | \(v.lossLast.map { cnum($0) } ?? "—") | \(v.lossTail.map { cnum($0) } ?? "—") | \(v.testAccuracy.flatMap { $0.isFinite ? String(format: "%.1f%%", 100 * $0) : nil } ?? "—") |\n"
            }
            md += "\nEach side's sweep report, figures and traces: [a/README.md](a/README.md), [b/README.md](b/README.md).\n\n"
        }
        md += "## Differences that change training (\(r.differences.count))\n\n"
        for (k, d) in r.differences.enumerated() {
            md += "\(k + 1). **\(d.area)** — \(d.text)\(d.swap.map { " *(swap: `\($0)`)*" } ?? "")\n"
        }
        if !r.same.isEmpty {
            md += "\nThe same on both sides:\n\n"
            for s in r.same { md += "- \(s)\n" }
        }
        md += "\n## Alignment\n\nBy structure (weighted layers with their shapes, BatchNorm, ReLU, pooling, Dropout), not by name; — is no counterpart.\n\n| A | B |\n|---|---|\n"
        for p in r.alignment {
            md += "| \(p.a.map { r.itemsA[$0].title } ?? "—") | \(p.b.map { r.itemsB[$0].title } ?? "—") |\n"
        }
        if !notes.isEmpty {
            md += "\n## Notes\n\n"
            for n in notes { md += "- \(n)\n" }
        }
        md += "\n## Commands\n\n```\n" + commands.joined(separator: "\n") + "\n```\n"
        return md
    }
}
