import InitDiagCore
import InitDiagTrace
import Foundation

/// What `initdiag inspect` shows: the net as built for one phase, with each learnable blob's
/// filler and the variance it gives (SPEC §1, §4). Building needs no data: a Data layer without a
/// source assumes CIFAR-10's 3×32×32 records (said in `notes`).
public struct NetInspection: Codable, Sendable {
    public struct Param: Codable, Sendable {
        public var shape: [Int]
        public var filler: String
        public var description: String
        public var fanIn: Int
        public var fanOut: Int
        public var variance: Double?
        enum CodingKeys: String, CodingKey {
            case shape, filler, description, fanIn = "fan_in", fanOut = "fan_out", variance
        }
    }
    public struct LayerRow: Codable, Sendable {
        public var name: String
        public var type: String
        public var bottoms: [String]
        public var tops: [String]
        public var topShapes: [[Int]]
        public var params: [Param]
        enum CodingKeys: String, CodingKey {
            case name, type, bottoms, tops, topShapes = "top_shapes", params
        }
    }
    public var net: String
    public var phase: String
    public var paramCount: Int
    public var layers: [LayerRow]
    public var notes: [String]
    enum CodingKeys: String, CodingKey { case net, phase, paramCount = "param_count", layers, notes }

    public init(param: NetParameter, phase: Phase, scheme: Scheme = Scheme(),
                memory: MemoryGuard = MemoryGuard()) throws {
        let initializer = ParameterInitializer(scheme: scheme)
        let transformed = scheme.batchNorm ? param.withBatchNormAfterConvolutions() : param
        // Parameters are not filled: inspect only reads shapes and fillers, so nothing large is
        // ever allocated.
        let net = try Net(transformed, state: NetState(phase: phase), context: LayerContext(phase: phase, rng: RandomSource(seed: 0)),
                          memory: memory, initializer: { _, _ in })
        self.net = param.name
        self.phase = phase.rawValue.lowercased()
        self.paramCount = net.parameterCount
        var notes: [String] = []
        if net.layers.contains(where: { $0 is DataLayer }) {
            notes.append("Data layers are shown with CIFAR-10's record shape 3×32×32 (no data was read)")
        }
        var biasOverSignal: [String] = []
        layers = try net.layerParams.enumerated().map { li, lp in
            let blobs = net.layers[li].blobs
            let fillers = initializer.fillers(for: net.layers[li])
            // An unknown type would fill nothing Caffe knows (Caffe's GetFiller is fatal on it).
            for f in fillers where !caffeFillerTypes.contains(f.type) {
                throw InputError("\(param.locate(lp))layer '\(lp.name)': unknown filler type '\(f.type)' (valid: \(caffeFillerTypes.joined(separator: ", ")))")
            }
            // A bias whose variance is at least the weights' signal σ_w² = Var(w)·fan_in (what
            // the weights pass on of a unit second moment): the constant it adds is as large as
            // the input's part, and mean-field theory says depth makes it all of it.
            if blobs.count > 1, fillers.count > 1, blobs[1].shape.count == 1,
               let vw = fillerVariance(fillers[0], shape: blobs[0].shape),
               let vb = fillerVariance(fillers[1], shape: blobs[1].shape), vb > 0 {
                let sigmaW2 = vw * Double(caffeFans(blobs[0].shape).fanIn)
                if vb >= sigmaW2 * (1 - 1e-3) {   // xavier: both 1, up to float rounding
                    biasOverSignal.append("\(lp.name) (bias \(fillers[1].type) variance \(fillerNumber(vb)) ≥ σ_w² \(fillerNumber(sigmaW2)))")
                }
            }
            // Name the scheme only when one was asked for.
            let labels = scheme == Scheme() ? zip(blobs, fillers).map { fillerDescription($1, shape: $0.shape) }
                : initializer.labels(for: net.layers[li])
            let params = zip(blobs, zip(fillers, labels)).map { blob, fl in
                let (filler, label) = fl
                let fans = caffeFans(blob.shape)
                return Param(shape: blob.shape, filler: filler.type, description: label,
                             fanIn: fans.fanIn, fanOut: fans.fanOut, variance: fillerVariance(filler, shape: blob.shape))
            }
            return LayerRow(name: lp.name, type: lp.type, bottoms: lp.bottom, tops: lp.top,
                            topShapes: net.topVecs[li].map(\.shape), params: params)
        }
        if !biasOverSignal.isEmpty {
            let shown = biasOverSignal.prefix(3).joined(separator: ", ") + (biasOverSignal.count > 3 ? ", … (\(biasOverSignal.count) layers)" : "")
            notes.append("bias filler as strong as the weights' signal in \(shown): each such bias adds a constant as large as everything the input contributes (σ_w² = Var(w)·fan_in), so through depth the output stops depending on the input. Caffe's xavier on a 1-D bias has fan_in 1, variance 1. Fix: bias_filler { type: \"constant\" } (see `initdiag probe`)")
        }
        self.notes = notes
    }

    public func json() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? enc.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// A fixed-width table: one row per layer, one more per learnable blob.
    public func table() -> String {
        func shape(_ s: [Int]) -> String { s.isEmpty ? "scalar" : s.map(String.init).joined(separator: "×") }
        var rows: [[String]] = [["layer", "type", "bottoms → tops", "top shape", "blob", "filler", "fan_in", "fan_out", "variance"]]
        for l in layers {
            rows.append([l.name, l.type, "\(l.bottoms.joined(separator: ",")) → \(l.tops.joined(separator: ","))",
                         l.topShapes.map(shape).joined(separator: ", "), "", "", "", "", ""])
            for (i, p) in l.params.enumerated() {
                rows.append(["", "", "", "", "\(i): \(shape(p.shape))", p.description, String(p.fanIn), String(p.fanOut),
                             p.variance.map { String(format: "%.4g", $0) } ?? "-"])
            }
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        var out = "net \(net) (\(phase)): \(layers.count) layers, \(paramCount) learnable parameters\n"
        for (k, r) in rows.enumerated() {
            out += r.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
            if k == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        for n in notes { out += "note: \(n)\n" }
        return out
    }
}
