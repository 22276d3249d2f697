import InitDiagCore
import InitDiagTrace
import Foundation

/// What `initdiag inspect` shows: the net as built for one phase, with each learnable blob's
/// filler and the variance it gives (docs/cli.md, §4). Building needs no data: a Data layer takes its
/// record shape from `--input-shape`, else from the first Datum of its `data_param.source` when
/// that DB exists (LMDB or LevelDB per `backend`), else from `RecordShape.forDataLayer`'s rules;
/// `input` says which, per data layer, and is the table's first line.
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
    /// Per data layer: the record shape it was built with and where that shape came from.
    public var input: [String]
    enum CodingKeys: String, CodingKey { case net, phase, paramCount = "param_count", layers, notes, input }

    public init(param: NetParameter, phase: Phase, scheme: Scheme = Scheme(),
                memory: MemoryGuard = MemoryGuard(), inputShape: RecordShape? = nil) throws {
        let initializer = ParameterInitializer(scheme: scheme)
        let transformed = scheme.batchNorm ? param.withBatchNormAfterConvolutions() : param
        // Parameters are not filled: inspect only reads shapes and fillers, so nothing large is
        // ever allocated.
        let shapes = RecordShapeLog()
        let context = LayerContext(phase: phase, rng: RandomSource(seed: 0), batchSources: { layer in
            let record = NetInspection.recordShape(for: layer, in: transformed, override: inputShape)
            let batch = DataLayer.declaredBatchSize(layer)
            let crop = Int(layer.transformParam?.cropSize ?? 0)
            if crop > 0 && (record.height < crop || record.width < crop) {
                throw InputError("layer '\(layer.name)' (\(layer.type)): crop_size \(crop) is larger than the image (\(record.height)×\(record.width), \(record.reason))")
            }
            shapes.append("layer '\(layer.name)' reads \(record) records (\(record.reason))")
            return ShapeOnlyBatchSource(outputShape: crop > 0 ? [record.channels, crop, crop] : record.dims,
                                        batchSize: batch, description: "\(record)")
        })
        let net = try Net(transformed, state: NetState(phase: phase), context: context,
                          memory: memory, initializer: { _, _ in })
        self.net = param.name
        self.phase = phase.rawValue.lowercased()
        self.paramCount = net.parameterCount
        var notes: [String] = []
        self.input = shapes.lines
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
            // Name the scheme only when one was asked for. Blobs the net came with (an ONNX
            // file's initializers) are the file's values, their variance measured, unless the
            // scheme redraws them (`ParameterInitializer.redraws`).
            let given = !lp.blobs.isEmpty
            let labels = scheme == Scheme() && !given ? zip(blobs, fillers).map { fillerDescription($1, shape: $0.shape) }
                : initializer.labels(for: net.layers[li], given: given)
            let params = zip(blobs, zip(fillers, labels)).enumerated().map { k, item in
                let (blob, (filler, label)) = item
                let fans = caffeFans(blob.shape)
                let kept = given && !initializer.redraws(net.layers[li], blob: k)
                return Param(shape: blob.shape, filler: kept ? "given" : filler.type, description: label,
                             fanIn: fans.fanIn, fanOut: fans.fanOut,
                             variance: kept ? ParameterInitializer.measuredVariance(blob) : fillerVariance(filler, shape: blob.shape))
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
        var out = input.isEmpty ? "" : "input: " + input.joined(separator: "; ") + "\n"
        out += "net \(net) (\(phase)): \(layers.count) layers, \(paramCount) learnable parameters\n"
        for (k, r) in rows.enumerated() {
            out += r.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
            if k == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        for n in notes { out += "note: \(n)\n" }
        return out
    }
}

extension NetInspection {
    /// The record shape a data layer is inspected with: `override`, else the first record of its
    /// source when that exists and reads, else `RecordShape.forDataLayer`.
    static func recordShape(for layer: LayerParameter, in net: NetParameter, override: RecordShape?) -> RecordShape {
        if let override { return override }
        if layer.type == "ImageData", let ip = layer.imageDataParam, !(ip.newHeight > 0 && ip.newWidth > 0),
           let list = try? ImageListSource(param: ip, layerName: layer.name), let first = list.lines.first {
            let r = DataRecord()
            if (try? ImageDecoding.load(path: first.path, color: ip.isColor, newHeight: 0, newWidth: 0, into: r)) != nil {
                return RecordShape(channels: r.channels, height: r.height, width: r.width,
                                   reason: "the first image of \(list.listPath), \(first.path)")
            }
        }
        if layer.type == "Data", let dp = layer.dataParam, let path = dp.source, !path.isEmpty {
            var st = stat()
            if stat(path, &st) == 0 {
                do {
                    let source: DataSource = dp.backend == .LMDB ? try LMDBSource(path: path) : try LevelDBSource(path: path)
                    let r = try source.nextRecord()
                    return RecordShape(channels: r.channels, height: r.height, width: r.width,
                                       reason: "the first Datum of \(dp.backend == .LMDB ? "LMDB" : "LevelDB") \(path)")
                } catch let e as InputError {
                    var guess = RecordShape.forDataLayer(layer, in: net)
                    guess.reason = "data_param.source could not be read (\(e.message)); assumed from " + guess.reason
                    return guess
                } catch {}
            }
        }
        return RecordShape.forDataLayer(layer, in: net)
    }
}

/// Collects the record-shape lines of the data layers while a net is built for inspection.
final class RecordShapeLog: @unchecked Sendable {
    private(set) var lines: [String] = []
    func append(_ s: String) { lines.append(s) }
}

/// A batch source that only knows shapes: what a Data layer is built with when no data is read.
final class ShapeOnlyBatchSource: BatchSource {
    let outputShape: [Int]
    let batchSize: Int
    let description: String
    init(outputShape: [Int], batchSize: Int, description: String) {
        self.outputShape = outputShape; self.batchSize = batchSize; self.description = description
    }
    func next(data: Blob, label: Blob?) throws {
        throw InputError("\(description): a net built for inspection reads no data")
    }
}
