import InitDiagCore

/// The small constant evaluator of the ONNX importer: nodes whose inputs are all constants (or
/// a Shape of a tensor whose shape is known) are computed at import time, so that the shape
/// sub-graph of PyTorch's `x.view(x.size(0), -1)` — Constant/Shape → Gather → Unsqueeze →
/// Concat → Reshape — leaves a constant target shape for the Reshape (ONNX operator semantics:
/// onnx/docs/Operators.md). Values are int64 or float32 tensors; results are bounded by
/// `ONNXGraph.maxElements` like every declared shape.
enum ONNXConstantEvaluator {
    /// Evaluates `node` into `graph.constants` if it is constant; returns whether it did.
    static func evaluate(_ node: ONNXNode, graph: inout ONNXGraph, shapes: [String: [Int]],
                         resolve: (String) -> String) throws -> Bool {
        let inputs = node.inputs.map { $0.isEmpty ? "" : resolve($0) }
        func const(_ i: Int) -> ONNXConstant? { i < inputs.count && !inputs[i].isEmpty ? graph.constants[inputs[i]] : nil }
        let allConstant = inputs.allSatisfy { $0.isEmpty || graph.constants[$0] != nil }
        var result: ONNXConstant
        switch node.op {
        case "Constant":
            try node.checkArity(inputs: 0, 0)
            result = try constantValue(node, file: graph.file)
        case "Shape":
            try node.checkArity(inputs: 1, 1)
            let shape: [Int]
            if let s = shapes[inputs[0]] { shape = s } else if let c = const(0) { shape = c.shape } else { return false }
            var start = Int(try node.int("start", default: 0)), end = Int(try node.int("end", default: Int64(shape.count)))
            let r = shape.count
            if start < 0 { start += r }
            if end < 0 { end += r }
            start = min(max(start, 0), r); end = min(max(end, start), r)
            result = ONNXConstant(shape: [end - start], values: .int(shape[start..<end].map(Int64.init)))
        case "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Identity", "Reshape", "Add", "Sub", "Mul", "Div",
             "Slice", "Transpose", "ConstantOfShape":
            guard allConstant, !inputs.isEmpty, let first = const(0) else { return false }
            result = try compute(node, first: first, const: const, opset: graph.opset)
        default:
            return false
        }
        try ONNXGraph.checkCount(result.shape, file: graph.file, what: "node '\(node.name)' (op \(node.op)) value")
        guard let out = node.outputs.first, !out.isEmpty else { throw node.error("has no output") }
        graph.constants[out] = result
        // A weight passed through a layout op keeps its initializer's name (for `parameters`).
        if ["Transpose", "Reshape", "Identity", "Cast", "Squeeze", "Unsqueeze"].contains(node.op), !inputs.isEmpty {
            let src = inputs[0]
            if let s = graph.constantSource[src] { graph.constantSource[out] = s }
            else if graph.initializerNames.contains(src) { graph.constantSource[out] = src }
        }
        return true
    }

    static func constantValue(_ node: ONNXNode, file: String) throws -> ONNXConstant {
        guard let a = node.proto.attribute.first else { throw node.error("has no value attribute") }
        switch a.name {
        case "value": return try ONNXGraph.tensor(a.t, file: file, what: "node '\(node.name)' (op Constant) value")
        case "value_float": return ONNXConstant(shape: [], values: .float([a.f]))
        case "value_floats": return ONNXConstant(shape: [a.floats.count], values: .float(a.floats))
        case "value_int": return ONNXConstant(shape: [], values: .int([a.i]))
        case "value_ints": return ONNXConstant(shape: [a.ints.count], values: .int(a.ints))
        default: throw node.error("value attribute '\(a.name)' is not supported")
        }
    }

    private static func axis(_ a: Int64, rank: Int, _ node: ONNXNode) throws -> Int {
        let v = a < 0 ? Int(a) + rank : Int(a)
        guard v >= 0 && v < rank else { throw node.error("axis \(a) out of range for rank \(rank)") }
        return v
    }

    /// Values the evaluator creates (not read from the file) stay small: shape arithmetic.
    static let maxComputedElements = 1 << 22

    /// Row-major element offsets of `shape` for each multi-index, visited in row-major order of
    /// the output of `outShape`, mapped through `source(outIndex) -> inputOffset`.
    private static func remap<T>(_ v: [T], outShape: [Int], _ source: ([Int]) -> Int) -> [T] {
        let n = outShape.reduce(1, *)
        var out: [T] = []
        out.reserveCapacity(n)
        var idx = [Int](repeating: 0, count: outShape.count)
        for _ in 0..<n {
            out.append(v[source(idx)])
            var a = outShape.count - 1
            while a >= 0 { idx[a] += 1; if idx[a] < outShape[a] { break }; idx[a] = 0; a -= 1 }
        }
        return out
    }

    private static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for a in stride(from: shape.count - 1, through: 0, by: -1) { s[a] = acc; acc *= shape[a] }
        return s
    }

    private static func mapValues(_ c: ONNXConstant, outShape: [Int], _ source: ([Int]) -> Int) -> ONNXConstant {
        switch c.values {
        case .int(let v): return ONNXConstant(shape: outShape, values: .int(remap(v, outShape: outShape, source)))
        case .float(let v): return ONNXConstant(shape: outShape, values: .float(remap(v, outShape: outShape, source)))
        }
    }

    private static func compute(_ node: ONNXNode, first: ONNXConstant, const: (Int) -> ONNXConstant?, opset: Int64) throws -> ONNXConstant {
        switch node.op {
        case "ConstantOfShape":
            try node.checkArity(inputs: 1, 1)
            guard let dims = first.ints, dims.allSatisfy({ $0 >= 0 && $0 <= Int64(maxComputedElements) }) else {
                throw node.error("the shape must be non-negative int64 sizes")
            }
            let shape = dims.map { Int($0) }
            try ONNXGraph.checkCount(shape, file: node.file, what: "node '\(node.name)' (op ConstantOfShape) value")
            let n = shape.reduce(1, *)
            guard n <= maxComputedElements else { throw node.error("would create \(n) values; the constant evaluator makes at most \(maxComputedElements)") }
            guard let a = node.attribute("value") else { return ONNXConstant(shape: shape, values: .float([Float](repeating: 0, count: n))) }
            let v = try ONNXGraph.tensor(a.t, file: node.file, what: "node '\(node.name)' (op ConstantOfShape) value")
            guard v.count == 1 else { throw node.error("value must have one element") }
            switch v.values {
            case .int(let x): return ONNXConstant(shape: shape, values: .int([Int64](repeating: x[0], count: n)))
            case .float(let x): return ONNXConstant(shape: shape, values: .float([Float](repeating: x[0], count: n)))
            }
        case "Transpose":
            try node.checkArity(inputs: 1, 1)
            let r = first.shape.count
            let perm = try (node.ints("perm") ?? (0..<Int64(r)).reversed().map { $0 }).map { Int($0) }
            guard perm.count == r, Set(perm) == Set(0..<r) else { throw node.error("perm \(perm) is not a permutation of \(r) axes") }
            let st = strides(first.shape)
            let outShape = perm.map { first.shape[$0] }
            return mapValues(first, outShape: outShape) { idx in
                var off = 0
                for (a, p) in perm.enumerated() { off += idx[a] * st[p] }
                return off
            }
        case "Slice":
            try node.checkArity(inputs: 3, 5)
            guard let starts = const(1)?.ints, let ends = const(2)?.ints else { throw node.error("starts and ends must be int64 constants") }
            let r = first.shape.count
            let axes = try (const(3)?.ints ?? (0..<Int64(starts.count)).map { $0 }).map { try axis($0, rank: r, node) }
            let steps = const(4)?.ints ?? [Int64](repeating: 1, count: starts.count)
            guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count, Set(axes).count == axes.count else {
                throw node.error("starts, ends, axes and steps must have the same length")
            }
            var begin = [Int](repeating: 0, count: r), step = [Int](repeating: 1, count: r), outShape = first.shape
            for (k, a) in axes.enumerated() {
                let dim = Int64(first.shape[a])
                guard steps[k] != 0 else { throw node.error("a step of 0") }
                func clamp(_ v: Int64, _ lo: Int64, _ hi: Int64) -> Int64 { min(max(v, lo), hi) }
                let st = clamp(steps[k], -dim - 1, dim + 1)
                var b = starts[k] < 0 ? starts[k] &+ dim : starts[k]
                var e = ends[k] < 0 ? ends[k] &+ dim : ends[k]
                if st > 0 { b = clamp(b, 0, dim); e = clamp(e, 0, dim) } else { b = clamp(b, 0, dim - 1); e = clamp(e, -1, dim - 1) }
                let count = st > 0 ? (e > b ? (e - b + st - 1) / st : 0) : (b > e ? (b - e + (-st) - 1) / (-st) : 0)
                begin[a] = Int(b); step[a] = Int(st); outShape[a] = Int(count)
            }
            let st = strides(first.shape)
            return mapValues(first, outShape: outShape) { idx in
                var off = 0
                for a in 0..<r { off += (begin[a] + idx[a] * step[a]) * st[a] }
                return off
            }
        case "Identity":
            return first
        case "Cast":
            let to = try node.int("to", default: 0)
            switch to {
            case 1: // FLOAT
                switch first.values {
                case .float: return first
                case .int(let v): return ONNXConstant(shape: first.shape, values: .float(v.map { Float($0) }))
                }
            case 7, 6: // INT64, INT32
                switch first.values {
                case .int: return first
                case .float(let v):
                    guard v.allSatisfy({ $0.isFinite && abs($0) < 9e18 }) else { throw node.error("casts a non-finite or huge value to an integer") }
                    return ONNXConstant(shape: first.shape, values: .int(v.map { Int64($0.rounded(.towardZero)) }))
                }
            default: throw node.error("Cast to type \(to) is not supported by the constant evaluator")
            }
        case "Gather":
            try node.checkArity(inputs: 2, 2)
            guard let idx = const(1), let indices = idx.ints else { throw node.error("indices must be an integer constant") }
            let r = first.shape.count
            guard r >= 1 else { throw node.error("gathers from a scalar") }
            let ax = try axis(try node.int("axis", default: 0), rank: r, node)
            let n = first.shape[ax]
            let outer = first.shape[..<ax].reduce(1, *), inner = first.shape[(ax + 1)...].reduce(1, *)
            var picks: [Int] = []
            for i in indices {
                let j = i < 0 ? Int(i) + n : Int(i)
                guard j >= 0 && j < n else { throw node.error("index \(i) out of range for size \(n)") }
                picks.append(j)
            }
            let shape = Array(first.shape[..<ax]) + idx.shape + Array(first.shape[(ax + 1)...])
            try ONNXGraph.checkCount(shape, file: node.file, what: "node '\(node.name)' (op Gather) value")
            func gather<T>(_ v: [T]) -> [T] {
                var out: [T] = []
                out.reserveCapacity(outer * picks.count * inner)
                for o in 0..<outer { for j in picks { out.append(contentsOf: v[(o * n + j) * inner..<(o * n + j + 1) * inner]) } }
                return out
            }
            switch first.values {
            case .int(let v): return ONNXConstant(shape: shape, values: .int(gather(v)))
            case .float(let v): return ONNXConstant(shape: shape, values: .float(gather(v)))
            }
        case "Unsqueeze", "Squeeze":
            var axes: [Int64]
            if opset >= 13 {
                try node.checkArity(inputs: 1, 2)
                if let a = const(1) {
                    guard let v = a.ints else { throw node.error("axes must be int64") }
                    axes = v
                } else { axes = [] }
            } else {
                try node.checkArity(inputs: 1, 1)
                axes = try node.ints("axes") ?? []
            }
            var shape = first.shape
            if node.op == "Unsqueeze" {
                let r = shape.count + axes.count
                let norm = try axes.map { try axis($0, rank: r, node) }.sorted()
                guard Set(norm).count == norm.count else { throw node.error("repeated axes \(axes)") }
                for a in norm { shape.insert(1, at: a) }
            } else {
                let norm = axes.isEmpty ? shape.indices.filter { shape[$0] == 1 } : try axes.map { try axis($0, rank: shape.count, node) }
                for a in Set(norm).sorted(by: >) {
                    guard shape[a] == 1 else { throw node.error("squeezes axis \(a) of size \(shape[a])") }
                    shape.remove(at: a)
                }
            }
            return ONNXConstant(shape: shape, values: first.values)
        case "Concat":
            let parts = (0..<node.inputs.count).compactMap { const($0) }
            guard parts.count == node.inputs.count else { throw node.error("concatenates a non-constant input") }
            let r = first.shape.count
            guard r >= 1 else { throw node.error("concatenates scalars") }
            let ax = try axis(try node.int("axis", default: 0), rank: r, node)
            guard ax == 0, parts.allSatisfy({ $0.shape.count == r && Array($0.shape.dropFirst()) == Array(first.shape.dropFirst()) }) else {
                throw node.error("the constant evaluator concatenates along axis 0 of like tensors only")
            }
            var shape = first.shape
            shape[0] = parts.reduce(0) { $0 + $1.shape[0] }
            try ONNXGraph.checkCount(shape, file: node.file, what: "node '\(node.name)' (op Concat) value")
            if parts.allSatisfy({ if case .int = $0.values { return true } else { return false } }) {
                return ONNXConstant(shape: shape, values: .int(parts.flatMap { $0.ints ?? [] }))
            }
            let floats = parts.compactMap(\.floats)
            guard floats.count == parts.count else { throw node.error("concatenates int64 and float constants") }
            return ONNXConstant(shape: shape, values: .float(floats.flatMap { $0 }))
        case "Reshape":
            try node.checkArity(inputs: 2, 2)
            guard let target = const(1)?.ints else { throw node.error("the shape must be int64") }
            var shape = try target.enumerated().map { i, d -> Int in
                if d == 0 { guard i < first.shape.count else { throw node.error("shape \(target): 0 at axis \(i) has no input size to copy") }; return first.shape[i] }
                guard d >= -1, d <= Int64(ONNXGraph.maxElements) else { throw node.error("shape \(target) has a negative or huge size") }
                return Int(d)
            }
            guard shape.filter({ $0 == -1 }).count <= 1 else { throw node.error("shape \(target) has more than one −1") }
            try ONNXGraph.checkCount(shape.map { max($0, 1) }, file: node.file, what: "node '\(node.name)' (op Reshape) value")
            if let m = shape.firstIndex(of: -1) {
                let known = shape.enumerated().filter { $0.offset != m }.reduce(1) { $0 * $1.element }
                guard known > 0, first.count % known == 0 else { throw node.error("cannot reshape \(first.shape) to \(target)") }
                shape[m] = first.count / known
            }
            guard shape.reduce(1, *) == first.count else { throw node.error("cannot reshape \(first.shape) to \(target)") }
            return ONNXConstant(shape: shape, values: first.values)
        default: // Add, Sub, Mul, Div on integers, a scalar broadcast
            try node.checkArity(inputs: 2, 2)
            guard let other = const(1), let a = first.ints, let b = other.ints,
                  case .int = first.values, case .int = other.values else {
                throw node.error("the constant evaluator does \(node.op) on int64 constants only")
            }
            guard a.count == b.count || a.count == 1 || b.count == 1 else {
                throw node.error("shapes \(first.shape) and \(other.shape) do not broadcast in the constant evaluator")
            }
            let n = max(a.count, b.count)
            var out: [Int64] = []
            for i in 0..<n {
                let x = a[a.count == 1 ? 0 : i], y = b[b.count == 1 ? 0 : i]
                let (v, o): (Int64, Bool)
                switch node.op {
                case "Add": (v, o) = x.addingReportingOverflow(y)
                case "Sub": (v, o) = x.subtractingReportingOverflow(y)
                case "Mul": (v, o) = x.multipliedReportingOverflow(by: y)
                default:
                    guard y != 0 else { throw node.error("divides by zero") }
                    (v, o) = x.dividedReportingOverflow(by: y)
                }
                guard !o else { throw node.error("overflows int64") }
                out.append(v)
            }
            return ONNXConstant(shape: a.count >= b.count ? first.shape : other.shape, values: .int(out))
        }
    }
}
