import InitDiagCore
import InitDiagTrace
// Edits a prototxt in place, as text: the fields a fix changes are found by their byte ranges and
// replaced, inserted after, or added at the end of their message, so everything else the user
// wrote (comments, order, spacing, one-line layers) stays as it was. The file has already been
// read by the real parser (TextSyntax.swift), so this scanner only needs to find where fields
// start and end; it follows the same lexical rules (protobuf's io/tokenizer.cc: `#` comments,
// '…' and "…" strings with backslash escapes, `{…}` or `<…>` messages, `[…]` lists).

/// One field of a text-format message as it lies in the file: byte offsets into the text.
struct TextSpan {
    var name: String
    /// The first byte of the field name.
    var start: Int
    /// One past the last byte of the value (the closing brace of a message).
    var end: Int
    /// For a message: the offsets of its opening and closing delimiters, and its fields.
    var open: Int? = nil
    var close: Int? = nil
    var children: [TextSpan] = []
    /// For a scalar: its source text (a string with its quotes).
    var scalar: String? = nil

    func child(_ name: String) -> TextSpan? { children.first { $0.name == name } }
    func children(_ name: String) -> [TextSpan] { children.filter { $0.name == name } }
    /// The value of a `name: "…"` child, quotes removed (no escapes: names are plain).
    func string(_ name: String) -> String? {
        guard let s = child(name)?.scalar, s.count >= 2, s.first == "\"" || s.first == "'" else { return nil }
        return String(s.dropFirst().dropLast())
    }
}

/// The span scanner (see the file's comment).
struct TextSpanScanner {
    let b: [UInt8]
    var pos = 0
    init(_ bytes: [UInt8]) { b = bytes }

    mutating func skip() {
        while pos < b.count {
            let c = b[pos]
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C || c == 0x2C || c == 0x3B {
                pos += 1
            } else if c == 0x23 {
                while pos < b.count && b[pos] != 0x0A { pos += 1 }
            } else { return }
        }
    }

    static func isWord(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2E || c == 0x2B || c == 0x2D
    }

    mutating func skipString() {
        let q = b[pos]; pos += 1
        while pos < b.count && b[pos] != q {
            if b[pos] == 0x5C { pos += 1 }
            pos += 1
        }
        pos = Swift.min(pos + 1, b.count)
    }

    /// Fields until a closing delimiter (or the end of the text).
    mutating func fields() -> [TextSpan] {
        var out: [TextSpan] = []
        while true {
            skip()
            guard pos < b.count else { return out }
            let c = b[pos]
            if c == 0x7D || c == 0x3E { return out }
            let start = pos
            if c == 0x5B { // [extension.name]
                while pos < b.count && b[pos] != 0x5D { pos += 1 }
                pos = Swift.min(pos + 1, b.count)
            } else {
                guard Self.isWord(c) else { pos += 1; continue }
                while pos < b.count && Self.isWord(b[pos]) { pos += 1 }
            }
            let name = String(decoding: b[start..<pos], as: UTF8.self)
            skip()
            if pos < b.count && b[pos] == 0x3A { pos += 1; skip() }
            var span = TextSpan(name: name, start: start, end: pos)
            guard pos < b.count else { out.append(span); return out }
            let v = b[pos]
            if v == 0x7B || v == 0x3C {
                span.open = pos
                pos += 1
                span.children = fields()
                span.close = Swift.min(pos, b.count - 1)
                pos = Swift.min(pos + 1, b.count)
            } else if v == 0x5B {
                var depth = 0
                while pos < b.count {
                    let d = b[pos]
                    if d == 0x22 || d == 0x27 { skipString(); continue }
                    if d == 0x5B || d == 0x7B || d == 0x3C { depth += 1 }
                    if d == 0x5D || d == 0x7D || d == 0x3E { depth -= 1; if depth == 0 { pos += 1; break } }
                    pos += 1
                }
            } else if v == 0x22 || v == 0x27 {
                let s = pos
                skipString()
                var e = pos
                // Adjacent string literals are one value.
                while true {
                    let save = pos
                    skip()
                    if pos < b.count && (b[pos] == 0x22 || b[pos] == 0x27) { skipString(); e = pos } else { pos = save; break }
                }
                span.scalar = String(decoding: b[s..<e], as: UTF8.self)
            } else {
                let s = pos
                if b[pos] == 0x2D { pos += 1; skip() }
                while pos < b.count && Self.isWord(b[pos]) { pos += 1 }
                span.scalar = String(decoding: b[s..<pos], as: UTF8.self)
            }
            span.end = pos
            out.append(span)
        }
    }
}

/// A text-format file and the edits to make to it (byte ranges replaced by text), applied at once.
public struct PrototxtTextEdit {
    public let text: String
    let bytes: [UInt8]
    let root: [TextSpan]
    var edits: [(range: Range<Int>, text: String)] = []

    public init(_ text: String) {
        self.text = text
        bytes = Array(text.utf8)
        var s = TextSpanScanner(bytes)
        root = s.fields()
    }

    /// The result: the edits applied from the end of the file backwards.
    public var result: String {
        var out = bytes
        for e in edits.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            out.replaceSubrange(e.range, with: Array(e.text.utf8))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The `layer` messages of the net: at the top level, or in a solver's inline `net_param` /
    /// `train_net_param`.
    var layers: [TextSpan] {
        let top = root.filter { $0.name == "layer" }
        if !top.isEmpty { return top }
        for holder in ["net_param", "train_net_param"] {
            if let h = root.first(where: { $0.name == holder }) { return h.children("layer") }
        }
        return []
    }

    /// Whether the file holds V1 `layers { … }` (which cannot take a BatchNorm layer).
    var hasV1Layers: Bool {
        root.contains { $0.name == "layers" }
            || root.contains { ($0.name == "net_param" || $0.name == "train_net_param") && !$0.children("layers").isEmpty }
    }

    func layer(named name: String) -> TextSpan? { layers.first { $0.string("name") == name } }

    /// The spaces and tabs before the first non-blank character of the line holding `offset`.
    func indent(at offset: Int) -> String {
        var s = offset
        while s > 0 && bytes[s - 1] != 0x0A { s -= 1 }
        var e = s
        while e < bytes.count && (bytes[e] == 0x20 || bytes[e] == 0x09) { e += 1 }
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }

    func onOneLine(_ a: Int, _ b: Int) -> Bool { !bytes[a..<b].contains(0x0A) }

    /// Sets the message field `field` (e.g. `weight_filler`) of `message` to `value` (its inner text,
    /// e.g. `type: "msra"`): replaces the field where it is, else adds it after `after` (a sibling
    /// field name) or at the end of the message. Multi-line messages get the field on its own line,
    /// indented like its siblings; one-line messages get it on the same line.
    mutating func setMessageField(in message: TextSpan, field: String, value: [String], after: String? = nil) {
        if let old = message.child(field) {
            // Keep the old field's shape: one line stays one line; a block stays a block.
            if let o = old.open, let c = old.close, !onOneLine(o, c) {
                let base = indent(at: old.start)
                let inner = old.children.first.map { indent(at: $0.start) } ?? base + "  "
                edits.append((old.start..<old.end, "\(field) {\n" + value.map { inner + $0 + "\n" }.joined() + base + "}"))
            } else {
                edits.append((old.start..<old.end, "\(field) { \(value.joined(separator: " ")) }"))
            }
            return
        }
        let one = "\(field) { \(value.joined(separator: " ")) }"
        guard let open = message.open, let close = message.close else { return }
        let anchor = after.flatMap { message.child($0) } ?? message.children.last
        if onOneLine(open, close) {
            let at = anchor?.end ?? open + 1
            edits.append((at..<at, " " + one))
        } else if let anchor {
            edits.append((anchor.end..<anchor.end, "\n" + indent(at: anchor.start) + one))
        } else {
            edits.append((open + 1..<open + 1, "\n" + indent(at: open) + "  " + one))
        }
    }

    /// Sets the scalar `field` of the top-level message to `value` (source text), replacing it where
    /// it is, else adding a line at the end of the file.
    public mutating func setTopLevelScalar(_ field: String, _ value: String) {
        if let old = root.first(where: { $0.name == field }) {
            edits.append((old.start..<old.end, "\(field): \(value)"))
        } else {
            let needsNewline = !(bytes.last == 0x0A || bytes.isEmpty)
            edits.append((bytes.count..<bytes.count, (needsNewline ? "\n" : "") + "\(field): \(value)\n"))
        }
    }

    /// Inserts `text` (whole lines) after the closing brace of the layer `name`, on new lines.
    mutating func insertAfterLayer(_ layer: TextSpan, lines: [String]) {
        let base = indent(at: layer.start)
        edits.append((layer.end..<layer.end, lines.map { "\n" + base + $0 }.joined()))
    }
}

/// The text of a filler message's fields (`type: "uniform" min: -0.1 max: 0.1`): the type, then
/// every field that differs from caffe.proto's default.
public func fillerTextFields(_ f: FillerParameter) -> [String] {
    let d = FillerParameter()
    var out = ["type: \"\(f.type)\""]
    if f.value != d.value { out.append("value: \(f.value)") }
    if f.min != d.min { out.append("min: \(f.min)") }
    if f.max != d.max { out.append("max: \(f.max)") }
    if f.mean != d.mean { out.append("mean: \(f.mean)") }
    if f.std != d.std { out.append("std: \(f.std)") }
    if f.sparse != d.sparse { out.append("sparse: \(f.sparse)") }
    if f.varianceNorm != d.varianceNorm { out.append("variance_norm: \(f.varianceNorm.rawValue)") }
    return out
}

/// A fixed copy of the user's net (and solver): the scheme a sweep showed to train, written as
/// the prototxt edits that make the file, read as declared, initialise and train like that scheme.
public struct PrototxtFix: Sendable {
    /// The edited net text (nil when the net is inline in the solver, or unchanged and no solver
    /// edit needs it).
    public var netText: String?
    public var solverText: String?
    /// One line per edit, e.g. "conv1: weight_filler { type: \"msra\" } (was xavier)".
    public var edits: [String]
    /// What a reader must know (PyTorch fillers written as Caffe ones, a re-printed file, a path).
    public var notes: [String]

    /// Builds the fix for `scheme` from the original texts. `net` is the parsed original net
    /// (the one `netText` holds, or the solver's inline net), `solver` the parsed solver;
    /// `fixedNetName` is the file name the fixed net gets beside the fixed solver.
    public static func make(scheme: Scheme, net: NetParameter, netText: String?, solverText: String?,
                            solver: SolverParameter?, fixedNetName: String?, solverNamesNet: Bool) throws -> PrototxtFix {
        var netEdit = PrototxtTextEdit(netText ?? solverText ?? "")
        var edits: [String] = [], notes: [String] = []
        // The resolved fillers per layer, from the net built (shapes only) in both phases.
        // Orthogonal matrices and LSUV's data-dependent rescaling are no Caffe filler: a filler of
        // the same variance would draw other weights and train otherwise, so the weight fillers
        // stay as declared and a note says where the weights are (LSUV's snapshot) or why not.
        let weightsExpressible = scheme.weights != .orthogonal && scheme.weights != .lsuv
        let changes = try fillerChanges(scheme: Scheme(weights: weightsExpressible ? scheme.weights : .asDeclared,
                                                       biases: scheme.biases), net: net)
        if scheme.weights == .lsuv {
            notes.append("`w=lsuv` is data-dependent (Mishkin & Matas: each layer rescaled on the first batch), so no Caffe filler gives it and the weight fillers are left as you wrote them: start from the weights the sweep wrote, `--weights ../traces/\(scheme.slug).lsuv.caffemodel.h5` (initdiag train, or Caffe's own `caffe train --weights`).")
        } else if scheme.weights == .orthogonal {
            notes.append("`w=orthogonal` has no Caffe filler (none draws orthonormal matrices), so the weight fillers are left as you wrote them: these files do not reproduce the variant's weights; initdiag's `--scheme w=orthogonal` does.")
        }
        var reprint = false
        for c in changes {
            guard let span = netEdit.layer(named: c.layer) else { reprint = true; continue }
            let paramName = c.type == "InnerProduct" ? "inner_product_param" : "convolution_param"
            guard let param = span.child(paramName) else { reprint = true; continue }
            for (field, filler, was) in c.fields {
                netEdit.setMessageField(in: param, field: field, value: fillerTextFields(filler),
                                        after: field == "bias_filler" ? "weight_filler" : nil)
                edits.append("\(c.layer): \(field) { \(fillerTextFields(filler).joined(separator: " ")) } (was \(fillerTextFields(was).joined(separator: " ")))")
            }
        }
        if scheme.weights.rawValue.hasPrefix("torch-") || scheme.biases.rawValue.hasPrefix("torch-") {
            notes.append("`\(scheme)` uses PyTorch's initialisation (torch/nn/init.py: kaiming_uniform_ with a = √5 for weights, U(±1/√fan_in) for biases), which no Caffe filler type computes from the blob: each layer gets the Caffe filler with the same distribution written out for its own fan_in (`uniform` with min/max = ±bound, `gaussian` with its std), so the same variance per layer.")
        }
        if scheme.batchNorm {
            let bnNet = net.withBatchNormAfterConvolutions()
            if netEdit.hasV1Layers { reprint = true }
            for l in net.layer {
                guard l.type == "Convolution", let top = l.top.first else { continue }
                // The two layers withBatchNormAfterConvolutions put after it (same names).
                guard let i = bnNet.layer.firstIndex(where: { $0.name == l.name && $0.type == l.type }), i + 2 < bnNet.layer.count else { continue }
                let bn = bnNet.layer[i + 1], sc = bnNet.layer[i + 2]
                guard let span = netEdit.layer(named: l.name) else { reprint = true; continue }
                func rules(_ r: [NetStateRule], _ key: String) -> [String] {
                    r.map { rule in
                        var parts: [String] = []
                        if let p = rule.phase { parts.append("phase: \(p.rawValue)") }
                        if let m = rule.minLevel { parts.append("min_level: \(m)") }
                        if let m = rule.maxLevel { parts.append("max_level: \(m)") }
                        parts += rule.stage.map { "stage: \"\($0)\"" } + rule.notStage.map { "not_stage: \"\($0)\"" }
                        return "  \(key) { \(parts.joined(separator: " ")) }"
                    }
                }
                let inc = rules(l.include, "include") + rules(l.exclude, "exclude")
                netEdit.insertAfterLayer(span, lines:
                    ["layer {", "  name: \"\(bn.name)\"", "  type: \"BatchNorm\"", "  bottom: \"\(top)\"", "  top: \"\(top)\""] + inc + ["}",
                     "layer {", "  name: \"\(sc.name)\"", "  type: \"Scale\"", "  bottom: \"\(top)\"", "  top: \"\(top)\""] + inc
                    + ["  scale_param { bias_term: true }", "}"])
                edits.append("after \(l.name): BatchNorm `\(bn.name)` and Scale `\(sc.name)` (bias_term: true), in place on `\(top)`")
            }
        }
        var fixedNet: String? = netEdit.result
        if reprint {
            // A layer the text scanner could not place (V1 layers, a filler inside an unusual
            // message): the whole net re-printed from the fixed message (comments are lost).
            var n = scheme.batchNorm ? net.withBatchNormAfterConvolutions() : net
            for c in changes {
                guard let i = n.layer.firstIndex(where: { $0.name == c.layer }) else { continue }
                for (field, filler, _) in c.fields {
                    if c.type == "InnerProduct" {
                        var p = n.layer[i].innerProductParam ?? InnerProductParameter()
                        if field == "weight_filler" { p.weightFiller = filler } else { p.biasFiller = filler }
                        n.layer[i].innerProductParam = p
                    } else {
                        var p = n.layer[i].convolutionParam ?? ConvolutionParameter()
                        if field == "weight_filler" { p.weightFiller = filler } else { p.biasFiller = filler }
                        n.layer[i].convolutionParam = p
                    }
                }
            }
            fixedNet = Prototxt.format(n)
            notes.append("The net could not be edited in place (V1 `layers`, or a layer the text scanner could not find), so the fixed net is the whole net re-printed in canonical form: the user's comments and layout are not kept.")
        }
        var solverOut: String? = nil
        if let solverText {
            var s = netText == nil ? PrototxtTextEdit(fixedNet ?? solverText) : PrototxtTextEdit(solverText)
            if scheme.lrFactor != 1, let solver {
                let lr = Float(Double(solver.baseLr) * scheme.lrFactor)
                s.setTopLevelScalar("base_lr", "\(lr)")
                edits.append("solver: base_lr: \(lr) (was \(solver.baseLr))")
            }
            if netText != nil, solverNamesNet, let fixedNetName {
                let field = s.root.contains { $0.name == "train_net" } ? "train_net" : "net"
                let was = s.root.first { $0.name == field }?.scalar, now = "\"\(fixedNetName)\""
                if was != now {
                    s.setTopLevelScalar(field, now)
                    edits.append("solver: \(field): \(now) (was \(was ?? "absent"))")
                    notes.append("The fixed solver's `\(field)` names the fixed net by its file name: initdiag resolves it beside the solver; Caffe's tools resolve it from where they run (run them from this folder, or edit the path).")
                }
            }
            solverOut = s.result
            if netText == nil { fixedNet = nil }
        } else if scheme.lrFactor != 1, let solver {
            let lr = Float(Double(solver.baseLr) * scheme.lrFactor)
            solverOut = (fixedNetName.map { "net: \"\($0)\"\n" } ?? "") + "base_lr: \(lr)\nlr_policy: \"\(solver.lrPolicy)\"\n"
            edits.append("solver (new: the sweep ran without one, on initdiag's default): base_lr: \(lr) (was \(solver.baseLr))")
        }
        return PrototxtFix(netText: fixedNet, solverText: solverOut, edits: edits, notes: notes)
    }

    struct FillerChange {
        var layer: String
        var type: String
        var fields: [(String, FillerParameter, FillerParameter)]
    }

    /// Per weighted layer (TRAIN net, then TEST-only layers): the weight and bias fillers the scheme
    /// gives that differ from the declared ones.
    static func fillerChanges(scheme: Scheme, net: NetParameter) throws -> [FillerChange] {
        var out: [FillerChange] = []
        var seen = Set<String>()
        let initializer = ParameterInitializer(scheme: scheme)
        for phase in [Phase.TRAIN, .TEST] {
            let context = LayerContext(phase: phase, rng: RandomSource(seed: 0), batchSources: { layer in
                let record = NetInspection.recordShape(for: layer, in: net, override: nil)
                let crop = Int(layer.transformParam?.cropSize ?? 0)
                return ShapeOnlyBatchSource(outputShape: crop > 0 ? [record.channels, crop, crop] : record.dims,
                                            batchSize: DataLayer.declaredBatchSize(layer), description: "\(record)")
            })
            let built = try Net(net, state: NetState(phase: phase), context: context, initializer: { _, _ in })
            for (lp, layer) in zip(built.layerParams, built.layers) where !seen.contains(lp.name) {
                seen.insert(lp.name)
                guard let t = layer.schemeTargets else { continue }
                let declared = layer.declaredFillers, resolved = initializer.fillers(for: layer)
                var fields: [(String, FillerParameter, FillerParameter)] = []
                if t.weight < declared.count, declared[t.weight] != resolved[t.weight] {
                    fields.append(("weight_filler", resolved[t.weight], declared[t.weight]))
                }
                if let bi = t.bias, bi < declared.count, declared[bi] != resolved[bi] {
                    fields.append(("bias_filler", resolved[bi], declared[bi]))
                }
                if !fields.isEmpty { out.append(FillerChange(layer: lp.name, type: lp.type, fields: fields)) }
            }
        }
        return out
    }
}
