import InitDiagCore
import Foundation
import SwiftProtobuf

// Reading an ONNX ModelProto into checked, plain values: the decoded protobuf (generated code in
// Generated/onnx.pb.swift), the opset, the initializers as float or int64 tensors, the graph's
// one data input with its shape, and the nodes in a topological order. Everything the importer
// (ONNXImport.swift) needs, with every problem of the file an InputError of one line naming the
// file and, where there is one, the node.

/// A constant tensor: an initializer, a Constant node's value or a value the constant evaluator
/// computed (float32 or int64; the shape sub-graph of `x.view(x.size(0), -1)` is int64).
struct ONNXConstant {
    enum Values { case float([Float]), int([Int64]) }
    var shape: [Int]
    var values: Values

    var count: Int { shape.reduce(1, *) }
    var floats: [Float]? { if case .float(let v) = values { return v } else { return nil } }
    var ints: [Int64]? {
        switch values {
        case .int(let v): return v
        case .float(let v): return v.allSatisfy { $0 == $0.rounded() && abs($0) < 9e15 } ? v.map { Int64($0) } : nil
        }
    }
    /// The single value of a scalar or one-element tensor, as a Double.
    var scalar: Double? {
        guard count == 1 else { return nil }
        switch values {
        case .float(let v): return v.first.map(Double.init)
        case .int(let v): return v.first.map(Double.init)
        }
    }
}

/// ONNX's attribute of one node, read by name with the node's identity for errors.
struct ONNXNode {
    let proto: Onnx_NodeProto
    let name: String
    var op: String { proto.opType }
    var inputs: [String] { proto.input }
    var outputs: [String] { proto.output }
    let file: String

    func error(_ what: String) -> InputError { InputError("\(file): node '\(name)' (op \(op)): \(what)") }

    func attribute(_ key: String) -> Onnx_AttributeProto? { proto.attribute.first { $0.name == key } }

    func int(_ key: String, default value: Int64) throws -> Int64 {
        guard let a = attribute(key) else { return value }
        guard a.type == .int || (a.type == .undefined && a.hasI) else { throw error("attribute '\(key)' must be an int") }
        return a.i
    }

    func float(_ key: String, default value: Float) throws -> Float {
        guard let a = attribute(key) else { return value }
        guard a.type == .float || (a.type == .undefined && a.hasF) else { throw error("attribute '\(key)' must be a float") }
        guard a.f.isFinite else { throw error("attribute '\(key)' must be finite, got \(a.f)") }
        return a.f
    }

    func ints(_ key: String) throws -> [Int64]? {
        guard let a = attribute(key) else { return nil }
        guard a.type == .ints || a.type == .undefined else { throw error("attribute '\(key)' must be a list of ints") }
        return a.ints
    }

    func string(_ key: String) throws -> String? {
        guard let a = attribute(key) else { return nil }
        guard a.type == .string || a.type == .undefined else { throw error("attribute '\(key)' must be a string") }
        return String(decoding: a.s, as: UTF8.self)
    }

    /// Fails unless the node has between `min` and `max` inputs (empty trailing names omitted)
    /// and `outputs` outputs in the allowed range.
    func checkArity(inputs lo: Int, _ hi: Int, outputs olo: Int = 1, _ ohi: Int = 1) throws {
        var n = proto.input.count
        while n > 0 && proto.input[n - 1].isEmpty { n -= 1 }
        guard n >= lo && n <= hi else {
            throw error("takes \(lo == hi ? "\(lo)" : "\(lo)–\(hi)") input\(hi == 1 ? "" : "s"), got \(n)")
        }
        guard proto.output.count >= olo && proto.output.count <= ohi, proto.output.first.map({ !$0.isEmpty }) ?? false else {
            throw error("has \(proto.output.count) outputs, expected \(olo == ohi ? "\(olo)" : "\(olo)–\(ohi)")")
        }
    }
}

/// The checked model: what the importer works from.
struct ONNXGraph {
    let file: String
    let model: Onnx_ModelProto
    /// The default domain's opset version.
    let opset: Int64
    var constants: [String: ONNXConstant] = [:]
    /// Names of the initializers, and for a constant computed from one initializer alone
    /// (Transpose, Reshape, Identity, … of a weight) that initializer's name.
    var initializerNames: Set<String> = []
    var constantSource: [String: String] = [:]
    /// The graph's data input (the one input that is not an initializer) and its shape.
    let inputName: String
    let inputShape: [Int]
    let outputName: String
    /// Nodes in a topological order (ties keep the file's order).
    var nodes: [ONNXNode] = []

    /// Opsets the importer was written and checked against (the PyTorch exporter writes 17 by
    /// default for dynamo=False; 11 is the first with Clip's and Pad's constant inputs).
    static let supportedOpsets: ClosedRange<Int64> = 11...23
    /// Bounds on declared sizes, so that a corrupt file is refused before anything is allocated.
    static let maxDimension = 1 << 24
    static let maxElements = 1 << 31

    static func decode(_ bytes: [UInt8], file: String) throws -> ONNXGraph {
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: bytes, options: options)
        } catch let e as BinaryDecodingError {
            throw InputError("\(file): not a valid ONNX model (protobuf: \(describe(e)), \(bytes.count) bytes)")
        } catch {
            throw InputError("\(file): not a valid ONNX model (\(error))")
        }
        guard model.hasGraph, !model.graph.node.isEmpty else {
            throw InputError("\(file): not an ONNX model: no graph or an empty graph (\(bytes.count) bytes)")
        }
        // Opset of the default domain ("" or "ai.onnx").
        let defaults = model.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard let opset = defaults.map(\.version).max() else {
            throw InputError("\(file): the model imports no opset of the default ONNX domain")
        }
        guard supportedOpsets.contains(opset) else {
            throw InputError("\(file): opset \(opset) is not supported (supported: \(supportedOpsets.lowerBound)–\(supportedOpsets.upperBound); export with opset_version=17)")
        }
        let g = model.graph
        var constants: [String: ONNXConstant] = [:]
        for t in g.initializer {
            guard !t.name.isEmpty else { throw InputError("\(file): an initializer has no name") }
            constants[t.name] = try tensor(t, file: file, what: "initializer '\(t.name)'")
        }
        let dataInputs = g.input.filter { constants[$0.name] == nil }
        guard dataInputs.count == 1 else {
            throw InputError("\(file): the graph has \(dataInputs.count) data inputs (\(dataInputs.map(\.name).joined(separator: ", "))); initdiag imports nets with one image input")
        }
        let input = dataInputs[0]
        let shape = try inputShape(input, file: file)
        guard g.output.count == 1, !g.output[0].name.isEmpty else {
            throw InputError("\(file): the graph has \(g.output.count) outputs; initdiag imports nets with one output (the class scores)")
        }
        var graph = ONNXGraph(file: file, model: model, opset: opset, constants: constants,
                              inputName: input.name, inputShape: shape, outputName: g.output[0].name)
        graph.initializerNames = Set(constants.keys)
        graph.nodes = try topologicalOrder(g.node, known: Set(constants.keys).union([input.name]), file: file)
        return graph
    }

    private static func describe(_ e: BinaryDecodingError) -> String {
        switch e {
        case .truncated: return "truncated"
        case .malformedProtobuf: return "malformed"
        case .messageDepthLimit: return "nested too deeply"
        case .invalidUTF8: return "invalid UTF-8 in a string"
        case .missingRequiredFields: return "missing required fields"
        default: return "\(e)"
        }
    }

    /// The image input's shape: 4-D (N, C, H, W) float with fixed, positive, bounded sizes.
    private static func inputShape(_ v: Onnx_ValueInfoProto, file: String) throws -> [Int] {
        guard v.hasType, case .tensorType(let t)? = v.type.value else {
            throw InputError("\(file): input '\(v.name)' is not a tensor")
        }
        guard t.elemType == Onnx_TensorProto.DataType.float.rawValue else {
            throw InputError("\(file): input '\(v.name)' has element type \(t.elemType), expected float (1)")
        }
        var shape: [Int] = []
        for (i, d) in t.shape.dim.enumerated() {
            guard case .dimValue(let n)? = d.value else {
                let p: String
                if case .dimParam(let s)? = d.value { p = s } else { p = "unknown" }
                if i == 0 { shape.append(1); continue }  // a symbolic batch: --batch-size sets it
                throw InputError("\(file): input '\(v.name)' has a symbolic size '\(p)' at axis \(i); export with a fixed input size")
            }
            guard n > 0, n <= Int64(maxDimension) else {
                throw InputError("\(file): input '\(v.name)' declares size \(n) at axis \(i) (must be 1…\(maxDimension))")
            }
            shape.append(Int(n))
        }
        guard shape.count == 4 else {
            throw InputError("\(file): input '\(v.name)' has \(shape.count) axes, expected 4 (N, C, H, W)")
        }
        try checkCount(shape, file: file, what: "input '\(v.name)'")
        return shape
    }

    static func checkCount(_ shape: [Int], file: String, what: String) throws {
        var n = 1
        for d in shape {
            let (p, o) = n.multipliedReportingOverflow(by: max(d, 0))
            guard !o, p <= maxElements else {
                throw InputError("\(file): \(what) declares shape \(shape): more than \(maxElements) elements")
            }
            n = p
        }
    }

    /// A TensorProto as float32 or int64 values (raw little-endian data or the typed fields).
    static func tensor(_ t: Onnx_TensorProto, file: String, what: String) throws -> ONNXConstant {
        guard t.dataLocation != .external else {
            throw InputError("\(file): \(what) keeps its data in an external file; export without external data")
        }
        var shape: [Int] = []
        for d in t.dims {
            guard d >= 0, d <= Int64(maxElements) else { throw InputError("\(file): \(what) declares a dimension \(d)") }
            shape.append(Int(d))
        }
        try checkCount(shape, file: file, what: what)
        let count = shape.reduce(1, *)
        let type = Onnx_TensorProto.DataType(rawValue: Int(t.dataType))
        func mismatch(_ n: Int) -> InputError {
            InputError("\(file): \(what) declares shape \(shape) (\(count) values) but holds \(n)")
        }
        switch type {
        case .float?:
            if !t.rawData.isEmpty {
                guard t.rawData.count == count * 4 else { throw mismatch(t.rawData.count / 4) }
                var v = [Float](repeating: 0, count: count)
                v.withUnsafeMutableBytes { dst in t.rawData.withUnsafeBytes { src in dst.copyMemory(from: src) } }
                return ONNXConstant(shape: shape, values: .float(v.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }))
            }
            guard t.floatData.count == count else { throw mismatch(t.floatData.count) }
            return ONNXConstant(shape: shape, values: .float(t.floatData))
        case .int64?:
            if !t.rawData.isEmpty {
                guard t.rawData.count == count * 8 else { throw mismatch(t.rawData.count / 8) }
                var v = [Int64](repeating: 0, count: count)
                v.withUnsafeMutableBytes { dst in t.rawData.withUnsafeBytes { src in dst.copyMemory(from: src) } }
                return ONNXConstant(shape: shape, values: .int(v.map { Int64(littleEndian: $0) }))
            }
            guard t.int64Data.count == count else { throw mismatch(t.int64Data.count) }
            return ONNXConstant(shape: shape, values: .int(t.int64Data))
        case .int32?, .bool?, .int8?, .uint8?, .int16?, .uint16?:
            // Stored in int32_data (or raw with the element's own width).
            if !t.rawData.isEmpty {
                let width = type == .int32 ? 4 : (type == .int16 || type == .uint16 ? 2 : 1)
                guard t.rawData.count == count * width else { throw mismatch(t.rawData.count / width) }
                let bytes = [UInt8](t.rawData)
                var v = [Int64](repeating: 0, count: count)
                for i in 0..<count {
                    var x: UInt64 = 0
                    for b in 0..<width { x |= UInt64(bytes[i * width + b]) << (8 * UInt64(b)) }
                    switch type {
                    case .int32?: v[i] = Int64(Int32(truncatingIfNeeded: x))
                    case .int16?: v[i] = Int64(Int16(truncatingIfNeeded: x))
                    case .int8?: v[i] = Int64(Int8(truncatingIfNeeded: x))
                    default: v[i] = Int64(x)
                    }
                }
                return ONNXConstant(shape: shape, values: .int(v))
            }
            guard t.int32Data.count == count else { throw mismatch(t.int32Data.count) }
            return ONNXConstant(shape: shape, values: .int(t.int32Data.map(Int64.init)))
        case .double?:
            if !t.rawData.isEmpty {
                guard t.rawData.count == count * 8 else { throw mismatch(t.rawData.count / 8) }
                var v = [Double](repeating: 0, count: count)
                v.withUnsafeMutableBytes { dst in t.rawData.withUnsafeBytes { src in dst.copyMemory(from: src) } }
                return ONNXConstant(shape: shape, values: .float(v.map { Float(Double(bitPattern: UInt64(littleEndian: $0.bitPattern))) }))
            }
            guard t.doubleData.count == count else { throw mismatch(t.doubleData.count) }
            return ONNXConstant(shape: shape, values: .float(t.doubleData.map { Float($0) }))
        default:
            throw InputError("\(file): \(what) has data type \(t.dataType); initdiag reads float32 and integer tensors")
        }
    }

    /// Kahn's algorithm over value names; a node whose inputs are never all produced is on a
    /// cycle (or reads a value nothing produces): the error names it.
    static func topologicalOrder(_ protos: [Onnx_NodeProto], known: Set<String>, file: String) throws -> [ONNXNode] {
        var used = Set<String>()
        var nodes: [ONNXNode] = []
        for (i, p) in protos.enumerated() {
            var name = p.name.isEmpty ? "\(p.opType)_\(i)" : p.name
            if used.contains(name) { name += "_\(i)" }
            used.insert(name)
            nodes.append(ONNXNode(proto: p, name: name, file: file))
        }
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                if known.contains(o) || producer[o] != nil {
                    throw n.error("output '\(o)' is already defined by \(known.contains(o) ? "the graph's inputs or initializers" : "node '\(nodes[producer[o]!].name)'")")
                }
                producer[o] = i
            }
        }
        var pending = [Int](repeating: 0, count: nodes.count)
        var consumers: [Int: [Int]] = [:]
        for (i, n) in nodes.enumerated() {
            for input in Set(n.inputs) where !input.isEmpty && !known.contains(input) {
                guard let p = producer[input] else {
                    throw n.error("input '\(input)' is not produced by any node and is neither a graph input nor an initializer (a missing initializer?)")
                }
                pending[i] += 1
                consumers[p, default: []].append(i)
            }
        }
        var ready = (0..<nodes.count).filter { pending[$0] == 0 }
        var order: [ONNXNode] = []
        var head = 0
        // First in, first out: a file already in topological order keeps its order.
        while head < ready.count {
            let i = ready[head]; head += 1
            order.append(nodes[i])
            for c in consumers[i] ?? [] {
                pending[c] -= 1
                if pending[c] == 0 { ready.append(c) }
            }
        }
        if order.count < nodes.count {
            let stuck = (0..<nodes.count).first { pending[$0] > 0 }!
            throw nodes[stuck].error("is on a cycle of the graph (its inputs depend on its own output)")
        }
        return order
    }
}
