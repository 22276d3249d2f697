import InitDiagCore
import Foundation

/// What an ONNX import gives: the net, what the user must be told, and where each initializer
/// went (for `compare`, the conformance tests and trace readers).
public struct ONNXImportedNet: Sendable {
    public var net: NetParameter
    /// One line each, for the user: e.g. the file cannot show training behaviour.
    public var warnings: [String]
    /// Initializer name → (layer name, blob index) of the blob it became.
    public var parameters: [String: ONNXParameterPlace]
    /// The opset of the default domain.
    public var opset: Int64
    /// Float values of the graph that are no blob of the net: a Pad folded into the next
    /// layer's pad, an Identity, a MatMul whose Add became the InnerProduct's bias.
    public var folded: Set<String>
}

public struct ONNXParameterPlace: Sendable, Equatable {
    public var layer: String
    public var blob: Int
}

/// ONNX → NetParameter. The graph becomes Caffe layers with PyTorch's semantics where they
/// differ from Caffe's (docs/semantics.md §9), named by the ONNX node names
/// (`/features/features.2/Relu`), with blobs named by the ONNX value names and the initializers
/// (float32) as the layers' given blobs, shaped as Caffe expects. An Input layer feeds the graph's
/// input (first top, N×C×H×W) and a `label` (N); a SoftmaxWithLoss on the graph's output (the class
/// scores) is PyTorch's CrossEntropyLoss(reduction='mean').
///
/// | ONNX | Caffe layer |
/// |---|---|
/// | Conv (group, strides, dilations, symmetric pads) | Convolution (W as (out, in/group, kh, kw)) |
/// | BatchNormalization (training_mode 1) | TorchBatchNorm (eps from the node, moving_average_fraction = ONNX momentum = 1 − PyTorch momentum) |
/// | Relu, LeakyRelu; Clip(min 0, no max) | ReLU (negative_slope) |
/// | MaxPool, AveragePool (ceil_mode, count_include_pad) | Pooling MAX/AVE, the round mode that gives PyTorch's output size |
/// | GlobalAveragePool, GlobalMaxPool, ReduceMean over (H, W) | Pooling global AVE/MAX (+ Flatten if keepdims 0) |
/// | Flatten(axis 1), Reshape to (N, −1) | Flatten |
/// | Gemm (transA 0, alpha = beta = 1), MatMul (+ Add of a constant) | InnerProduct (W as (out, in)) |
/// | Add of two tensors; Add of a per-channel constant | Eltwise SUM; Bias |
/// | Concat | Concat |
/// | Dropout (ratio, training_mode from constant inputs) | Dropout |
/// | Tanh, Sigmoid | TanH, Sigmoid |
/// | Pad (constant 0) before Conv / AveragePool(count_include_pad) | folded into their pad |
/// | Constant, Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Identity on constants | evaluated (int64 constant evaluator) |
public enum ONNXImport {
    /// The importer's entry for the single net-loading entry: the net only (warnings dropped;
    /// use `importModel(path:)` to show them).
    public static func load(path: String) throws -> NetParameter {
        try importModel(path: path).net
    }

    public static func importModel(path: String) throws -> ONNXImportedNet {
        try importModel(bytes: try Prototxt.readFile(path, what: "ONNX model"), path: path)
    }

    public static func importModel(bytes: [UInt8], path: String) throws -> ONNXImportedNet {
        var builder: ONNXNetBuilder
        do {
            let graph = try ONNXGraph.decode(bytes, file: path)
            builder = ONNXNetBuilder(graph: graph)
            try builder.build()
        } catch let e as InputError {
            // Names in the file may hold newlines or control characters: one line, always.
            throw InputError(oneLine(e.message))
        }
        let graph = builder.graph
        builder.warnings = builder.warnings.map(oneLine)
        var net = NetParameter()
        net.name = graph.model.graph.name.isEmpty ? (path as NSString).lastPathComponent : graph.model.graph.name
        net.layer = builder.layers
        net.sourcePath = path
        return ONNXImportedNet(net: net, warnings: builder.warnings, parameters: builder.parameters, opset: graph.opset,
                               folded: builder.folded)
    }

    /// `text` with control characters (newlines included) written as escapes.
    static func oneLine(_ text: String) -> String {
        var out = ""
        for u in text.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F || (0x80...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 {
                    out += "\\u{\(String(u.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }

    /// Whether bytes look like an ONNX ModelProto rather than a prototxt: the first byte is the
    /// tag of field 1 (ir_version, varint) or 7/8 (graph / opset_import, length-delimited), as the
    /// exporters write them. For the loader that tells formats by content; a wrong guess still
    /// ends in a clear error from the reader it picked.
    public static func looksLikeONNX(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first else { return false }
        return first == 0x08 || first == 0x3A || first == 0x42
    }

    /// The solver an ONNX net gets when none is given: PyTorch's SGD as pytorch-cifar trains
    /// (lr 0.01 fixed, momentum 0.9 with `MomentumStyle.torch`, weight decay 5e-4 on every
    /// parameter — Caffe's default decay_mult 1 applies it to biases and BatchNorm's γ, β too,
    /// as PyTorch does; TorchBatchNorm's running statistics have lr_mult 0).
    public static func defaultSolver(netPath: String) -> SolverParameter {
        var s = SolverParameter()
        s.type = "SGD"
        s.lrPolicy = "fixed"
        s.baseLr = 0.01
        s.momentum = 0.9
        s.weightDecay = 5e-4
        s.sourcePath = netPath
        return s
    }

    /// The momentum style to use with `defaultSolver` (docs/semantics.md §5, §9).
    public static let defaultMomentumStyle: MomentumStyle = .torch
}

/// Walks the ordered nodes once, keeping the shape of every float tensor and the value of every
/// constant, and appends Caffe layers.
struct ONNXNetBuilder {
    var graph: ONNXGraph
    var layers: [LayerParameter] = []
    var warnings: [String] = []
    var parameters: [String: ONNXParameterPlace] = [:]
    /// Shapes of the float tensors the net computes, by value name.
    var shapes: [String: [Int]] = [:]
    /// Values that are another value under a new name (Identity, Dropout in inference).
    var alias: [String: String] = [:]
    /// Pads folded forward from a Pad node: value name → (the Pad's input, [top, left, bottom, right]).
    var pendingPads: [String: (source: String, pads: [Int], node: String)] = [:]
    /// How many nodes read each value (from the whole graph).
    var consumers: [String: [String]] = [:]
    var usedBlobNames: Set<String> = []
    var folded: Set<String> = []
    var file: String { graph.file }

    init(graph: ONNXGraph) {
        self.graph = graph
        for n in graph.nodes { for i in n.inputs where !i.isEmpty { consumers[i, default: []].append(n.op) } }
        consumers[graph.outputName, default: []].append("graph output")
    }

    mutating func build() throws {
        let n = graph.inputShape
        var input = LayerParameter(name: graph.inputName, type: "Input")
        let label = unique("label")
        input.top = [graph.inputName, label]
        var ip = InputParameter()
        ip.shape = [BlobShape(dim: n.map(Int64.init)), BlobShape(dim: [Int64(n[0])])]
        input.inputParam = ip
        layers.append(input)
        shapes[graph.inputName] = n
        usedBlobNames = [graph.inputName, label]

        var sawTrainingBN = false, sawInferenceBN = false, sawInferenceDropout = false
        for node in graph.nodes {
            switch node.op {
            case "BatchNormalization":
                let training = try node.int("training_mode", default: 0) == 1
                if training { sawTrainingBN = true } else { sawInferenceBN = true }
            case "Dropout":
                if node.inputs.count < 3 || node.inputs[2].isEmpty { sawInferenceDropout = true }
            default: break
            }
            try convert(node)
        }
        let out = resolve(graph.outputName)
        guard let outShape = shapes[out] else {
            throw InputError("\(file): the graph's output '\(graph.outputName)' is not a tensor the net computes")
        }
        guard outShape.count == 2 else {
            throw InputError("\(file): the graph's output '\(graph.outputName)' has shape \(outShape); initdiag trains classifiers with (N, classes) scores")
        }
        var loss = LayerParameter(name: unique("loss"), type: "SoftmaxWithLoss")
        loss.bottom = [out, label]
        loss.top = [loss.name]
        layers.append(loss)

        if sawInferenceBN {
            warnings.append("\(file): BatchNormalization without training_mode=1: the file was exported for inference, so it cannot show training behaviour; export with torch.onnx.export(..., dynamo=False, training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)")
        } else if !sawTrainingBN && graph.model.producerName == "pytorch"
                    && (graph.initializerNames.contains { $0.hasPrefix("onnx::Conv_") } || graph.opset >= 18 || sawInferenceDropout) {
            // Folded BatchNorm leaves convolution weights named by the exporter ("onnx::Conv_17")
            // instead of their state_dict keys.
            warnings.append("\(file): no training-mode BatchNormalization: if the model has BatchNorm, the exporter folded it into the convolutions (the default dynamo exporter does), so the file cannot show training behaviour; export with dynamo=False, training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False")
        }
    }

    // MARK: Helpers

    func resolve(_ name: String) -> String {
        var n = name
        while let a = alias[n] { n = a }
        return n
    }

    mutating func unique(_ base: String) -> String {
        var name = base, k = 1
        while usedBlobNames.contains(name) || graph.constants[name] != nil || consumers[name] != nil {
            name = "\(base)_\(k)"; k += 1
        }
        usedBlobNames.insert(name)
        return name
    }

    /// The shape of a float tensor input of `node`.
    func tensorShape(_ node: ONNXNode, _ index: Int) throws -> (blob: String, shape: [Int]) {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else { throw node.error("input \(index) is missing") }
        let name = resolve(node.inputs[index])
        if let s = shapes[name] { return (name, s) }
        if graph.constants[name] != nil {
            throw node.error("input \(index) ('\(node.inputs[index])') is a constant; initdiag needs a computed tensor there")
        }
        throw node.error("input \(index) ('\(node.inputs[index])') is not a float tensor the net computes")
    }

    func constant(_ node: ONNXNode, _ index: Int, what: String) throws -> ONNXConstant {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else { throw node.error("\(what) (input \(index)) is missing") }
        guard let c = graph.constants[resolve(node.inputs[index])] else {
            throw node.error("\(what) (input \(index), '\(node.inputs[index])') must be a constant (an initializer or computed from constants)")
        }
        return c
    }

    func optionalConstant(_ node: ONNXNode, _ index: Int, what: String) throws -> ONNXConstant? {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else { return nil }
        return try constant(node, index, what: what)
    }

    func floatBlob(_ c: ONNXConstant, shape: [Int], _ node: ONNXNode, what: String) throws -> BlobProto {
        guard let v = c.floats else { throw node.error("\(what) must be float32") }
        guard v.count == shape.reduce(1, *) else {
            throw node.error("\(what) has \(v.count) values (shape \(c.shape)), expected shape \(shape)")
        }
        var b = BlobProto()
        b.shape = BlobShape(dim: shape.map(Int64.init))
        b.data = v
        return b
    }

    mutating func record(_ node: ONNXNode, input index: Int, layer: String, blob: Int) {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else { return }
        let value = resolve(node.inputs[index])
        let name = graph.constantSource[value] ?? value
        if graph.initializerNames.contains(name), parameters[name] == nil { parameters[name] = ONNXParameterPlace(layer: layer, blob: blob) }
    }

    /// Appends a layer whose top is `node`'s first output with `shape`.
    mutating func emit(_ layer: LayerParameter, node: ONNXNode, shape: [Int]) throws {
        try ONNXGraph.checkCount(shape, file: file, what: "node '\(node.name)' (op \(node.op)) output")
        guard shape.allSatisfy({ $0 > 0 }) else {
            throw node.error("its output would have shape \(shape)")
        }
        var l = layer
        l.top = [node.outputs[0]]
        usedBlobNames.insert(node.outputs[0])
        shapes[node.outputs[0]] = shape
        layers.append(l)
    }

    /// Outputs after the first must be unused (BatchNormalization's running statistics, Dropout's
    /// mask, MaxPool's indices).
    func checkExtraOutputsUnused(_ node: ONNXNode) throws {
        for o in node.outputs.dropFirst() where !o.isEmpty {
            if let users = consumers[o], !users.isEmpty {
                throw node.error("its output '\(o)' is read by \(users.joined(separator: ", ")); initdiag supports only the first output of this op")
            }
        }
    }

    // MARK: Nodes

    mutating func convert(_ node: ONNXNode) throws {
        guard node.proto.domain.isEmpty || node.proto.domain == "ai.onnx" else {
            throw node.error("operator domain '\(node.proto.domain)' is not supported (only the default ONNX domain)")
        }
        // A node on constants only is evaluated (the shape sub-graph of x.view(x.size(0), -1)).
        if try ONNXConstantEvaluator.evaluate(node, graph: &graph, shapes: shapes, resolve: resolve) { return }
        switch node.op {
        case "Conv": try conv(node)
        case "BatchNormalization": try batchNorm(node)
        case "Relu":
            try node.checkArity(inputs: 1, 1)
            let (x, s) = try tensorShape(node, 0)
            var l = LayerParameter(name: node.name, type: "ReLU")
            l.bottom = [x]
            try emit(l, node: node, shape: s)
        case "LeakyRelu":
            try node.checkArity(inputs: 1, 1)
            let (x, s) = try tensorShape(node, 0)
            var l = LayerParameter(name: node.name, type: "ReLU")
            l.bottom = [x]
            var p = ReLUParameter()
            p.negativeSlope = try node.float("alpha", default: 0.01)
            l.reluParam = p
            try emit(l, node: node, shape: s)
        case "Clip": try clip(node)
        case "Tanh", "Sigmoid":
            try node.checkArity(inputs: 1, 1)
            let (x, s) = try tensorShape(node, 0)
            var l = LayerParameter(name: node.name, type: node.op == "Tanh" ? "TanH" : "Sigmoid")
            l.bottom = [x]
            try emit(l, node: node, shape: s)
        case "MaxPool", "AveragePool": try pool(node)
        case "GlobalAveragePool", "GlobalMaxPool":
            try node.checkArity(inputs: 1, 1)
            let (x, s) = try tensorShape(node, 0)
            guard s.count == 4 else { throw node.error("input has shape \(s), expected 4-D (N, C, H, W)") }
            try globalPool(node, x: x, shape: s, max: node.op == "GlobalMaxPool", keepDims: true)
        case "ReduceMean": try reduceMean(node)
        case "Flatten":
            try node.checkArity(inputs: 1, 1)
            let (x, s) = try tensorShape(node, 0)
            var axis = Int(try node.int("axis", default: 1))
            if axis < 0 { axis += s.count }
            guard axis == 1 else { throw node.error("axis \(axis): only Flatten(axis=1) (keep the batch axis) is supported") }
            try flatten(node, x: x, shape: s)
        case "Reshape":
            try node.checkArity(inputs: 2, 2)
            let (x, s) = try tensorShape(node, 0)
            let target = try constant(node, 1, what: "the shape")
            guard let dims = target.ints else { throw node.error("the shape must be int64") }
            let rest = s.dropFirst().reduce(1, *)
            let allowZero = try node.int("allowzero", default: 0) == 1
            let first = dims.first.map { $0 == 0 && !allowZero ? Int64(s[0]) : $0 }
            let batchOK = first == Int64(s[0]) || (first == -1 && dims.count == 2 && dims[1] == Int64(rest))
            guard dims.count == 2, batchOK, dims[1] == -1 || dims[1] == Int64(rest) else {
                throw node.error("reshape of \(s) to \(dims): only (N, −1), as x.view(x.size(0), -1), is supported")
            }
            try flatten(node, x: x, shape: s)
        case "Gemm": try gemm(node)
        case "MatMul": try matMul(node)
        case "Add": try add(node)
        case "Concat":
            guard node.inputs.count >= 1 else { throw node.error("takes at least 1 input") }
            try node.checkArity(inputs: 1, node.inputs.count)
            var blobs: [String] = [], shapesIn: [[Int]] = []
            for i in node.inputs.indices { let (b, s) = try tensorShape(node, i); blobs.append(b); shapesIn.append(s) }
            var axis = Int(try node.int("axis", default: 1))
            let rank = shapesIn[0].count
            if axis < 0 { axis += rank }
            guard axis >= 0 && axis < rank else { throw node.error("axis \(axis) out of range for rank \(rank)") }
            var out = shapesIn[0]
            for s in shapesIn.dropFirst() {
                guard s.count == rank, (0..<rank).allSatisfy({ $0 == axis || s[$0] == out[$0] }) else {
                    throw node.error("inputs of shapes \(shapesIn) do not concatenate along axis \(axis)")
                }
                out[axis] += s[axis]
            }
            var l = LayerParameter(name: node.name, type: "Concat")
            l.bottom = blobs
            var p = ConcatParameter()
            p.axis = Int32(axis)
            l.concatParam = p
            try emit(l, node: node, shape: out)
        case "Dropout": try dropout(node)
        case "LogSoftmax", "Softmax":
            // log_softmax as the model's last op: PyTorch trains it with NLLLoss, which with it is
            // CrossEntropyLoss on its input — the SoftmaxWithLoss the importer puts on the output.
            try node.checkArity(inputs: 1, 1)
            let (x, s) = try tensorShape(node, 0)
            let axis = try node.int("axis", default: -1)
            guard node.op == "LogSoftmax", node.outputs[0] == graph.outputName, s.count == 2, axis == 1 || axis == -1 else {
                throw node.error("is supported only as LogSoftmax over the classes of the model's output (then NLLLoss is cross-entropy on its input)")
            }
            alias[node.outputs[0]] = x
            folded.insert(node.outputs[0])
        case "Squeeze":
            // x.squeeze() / squeeze(-1) after a global pool: (N, C, 1, 1) → (N, C) is a Flatten.
            try node.checkArity(inputs: 1, 2)
            let (x, s) = try tensorShape(node, 0)
            let axes: [Int64]
            if graph.opset >= 13 {
                axes = try optionalConstant(node, 1, what: "axes")?.ints ?? []
            } else {
                axes = try node.ints("axes") ?? []
            }
            let norm = Set(axes.isEmpty ? s.indices.filter { s[$0] == 1 && $0 > 0 } : axes.map { Int($0 < 0 ? $0 + Int64(s.count) : $0) })
            let kept = s.indices.filter { !norm.contains($0) }
            guard !norm.contains(0), norm.allSatisfy({ $0 >= 0 && $0 < s.count && s[$0] == 1 }), kept.count == 2, kept == [0, kept[1]],
                  (1..<s.count).allSatisfy({ norm.contains($0) || $0 == kept[1] }) else {
                throw node.error("squeeze of \(s) over \(axes): only squeezing size-1 axes to (N, C) is supported")
            }
            try flatten(node, x: x, shape: s)
        case "Mul", "Div", "Sub": try scaleOrShift(node)
        case "Identity":
            try node.checkArity(inputs: 1, 1)
            _ = try tensorShape(node, 0)
            alias[node.outputs[0]] = resolve(node.inputs[0])
            folded.insert(node.outputs[0])
        case "Pad": try pad(node)
        default:
            throw node.error("is not supported (it would take a Caffe layer for \(node.op) and its importer; supported: Conv, BatchNormalization, Relu, LeakyRelu, Clip, Tanh, Sigmoid, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, ReduceMean, Flatten, Reshape, Squeeze, Gemm, MatMul, Add, Sub, Mul, Div, Concat, Dropout, Identity, Pad, a final LogSoftmax, and constant shape arithmetic)")
        }
    }

    /// [h_begin, w_begin, h_end, w_end] → (pad_h, pad_w) when symmetric.
    func symmetricPads(_ node: ONNXNode, _ pads: [Int]) throws -> (Int, Int) {
        guard pads.count == 4 else { throw node.error("pads \(pads): expected 4 values for a 2-D op") }
        guard pads.allSatisfy({ $0 >= 0 }) else { throw node.error("negative pads \(pads) are not supported") }
        guard pads.allSatisfy({ $0 <= ONNXGraph.maxDimension }) else { throw node.error("pads \(pads) out of range") }
        guard pads[0] == pads[2], pads[1] == pads[3] else {
            throw node.error("asymmetric pads \(pads) ([h_begin, w_begin, h_end, w_end]): Caffe pads both sides alike; this needs an explicit Pad layer")
        }
        return (pads[0], pads[1])
    }

    func autoPadIsNotSet(_ node: ONNXNode) throws {
        if let a = try node.string("auto_pad"), a != "NOTSET", a != "VALID" {
            throw node.error("auto_pad \(a) is not supported (export with explicit pads)")
        }
    }

    /// Takes the pads of a Pad node folded into this node's input, if any.
    mutating func takeFoldedPads(_ node: ONNXNode, input: String) -> (String, [Int])? {
        guard let p = pendingPads[input] else { return nil }
        return (p.source, p.pads)
    }

    func int2(_ node: ONNXNode, _ key: String, default d: Int) throws -> [Int] {
        guard let v = try node.ints(key) else { return [d, d] }
        guard v.count == 2 else { throw node.error("\(key) \(v): expected 2 values for a 2-D op") }
        guard v.allSatisfy({ $0 >= 0 && $0 <= Int64(ONNXGraph.maxDimension) }) else { throw node.error("\(key) \(v) out of range") }
        return v.map { Int($0) }
    }

    mutating func conv(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 2, 3)
        try autoPadIsNotSet(node)
        var (x, s) = (resolve(node.inputs[0]), [Int]())
        var extraPads = [0, 0, 0, 0]
        if let (source, p) = takeFoldedPads(node, input: x) { x = source; extraPads = p }
        guard let xs = shapes[x] else { _ = try tensorShape(node, 0); throw node.error("input 0 is not a float tensor the net computes") }
        s = xs
        guard s.count == 4 else { throw node.error("input has shape \(s); only 2-D convolution (N, C, H, W) is supported") }
        let w = try constant(node, 1, what: "the weight")
        guard w.shape.count == 4 else { throw node.error("weight has shape \(w.shape), expected (out, in/group, kh, kw)") }
        let group = Int(try node.int("group", default: 1))
        let out = w.shape[0], kh = w.shape[2], kw = w.shape[3]
        guard group >= 1, s[1] % group == 0, out % group == 0, w.shape[1] * group == s[1] else {
            throw node.error("weight \(w.shape) with group \(group) does not fit an input of \(s[1]) channels")
        }
        if let ks = try node.ints("kernel_shape"), ks.map({ Int($0) }) != [kh, kw] {
            throw node.error("kernel_shape \(ks) differs from the weight's \([kh, kw])")
        }
        let strides = try int2(node, "strides", default: 1)
        let dil = try int2(node, "dilations", default: 1)
        guard strides.allSatisfy({ $0 >= 1 }), dil.allSatisfy({ $0 >= 1 }) else { throw node.error("strides and dilations must be ≥ 1") }
        let pads = (try node.ints("pads") ?? [0, 0, 0, 0]).map { Int(clamping: min(max($0, -1), Int64(ONNXGraph.maxDimension) + 1)) }
        let (ph0, pw0) = try symmetricPads(node, zip(pads, extraPads).map { $0 + $1 })
        let (ph, pw) = (ph0, pw0)
        let oh = (s[2] + 2 * ph - (dil[0] * (kh - 1) + 1)) / strides[0] + 1
        let ow = (s[3] + 2 * pw - (dil[1] * (kw - 1) + 1)) / strides[1] + 1
        guard s[2] + 2 * ph >= dil[0] * (kh - 1) + 1, s[3] + 2 * pw >= dil[1] * (kw - 1) + 1 else {
            throw node.error("kernel \(kh)×\(kw) (dilation \(dil)) is larger than the padded input \(s[2] + 2 * ph)×\(s[3] + 2 * pw)")
        }
        var l = LayerParameter(name: node.name, type: "Convolution")
        l.bottom = [x]
        var p = ConvolutionParameter()
        p.numOutput = UInt32(out)
        p.kernelH = UInt32(kh); p.kernelW = UInt32(kw)
        p.strideH = UInt32(strides[0]); p.strideW = UInt32(strides[1])
        p.padH = UInt32(ph); p.padW = UInt32(pw)
        if dil != [1, 1] { p.dilation = dil.map { UInt32($0) } }
        p.group = UInt32(group)
        l.blobs = [try floatBlob(w, shape: w.shape, node, what: "the weight")]
        record(node, input: 1, layer: node.name, blob: 0)
        if let b = try optionalConstant(node, 2, what: "the bias") {
            l.blobs.append(try floatBlob(b, shape: [out], node, what: "the bias"))
            record(node, input: 2, layer: node.name, blob: 1)
        } else {
            p.biasTerm = false
        }
        l.convolutionParam = p
        try emit(l, node: node, shape: [s[0], out, oh, ow])
    }

    mutating func batchNorm(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 5, 5, outputs: 1, 3)
        try checkExtraOutputsUnused(node)
        let (x, s) = try tensorShape(node, 0)
        guard s.count >= 2 else { throw node.error("input has shape \(s), expected (N, C, …)") }
        let c = s[1]
        let eps = try node.float("epsilon", default: 1e-5)
        let momentum = try node.float("momentum", default: 0.9)
        guard eps > 0 else { throw node.error("epsilon must be > 0, got \(eps)") }
        guard momentum >= 0 && momentum <= 1 else { throw node.error("momentum must be in [0, 1], got \(momentum)") }
        let training = try node.int("training_mode", default: 0)
        guard training == 0 || training == 1 else { throw node.error("training_mode must be 0 or 1, got \(training)") }
        var l = LayerParameter(name: node.name, type: "TorchBatchNorm")
        l.bottom = [x]
        var p = BatchNormParameter()
        p.eps = eps
        p.movingAverageFraction = momentum
        l.batchNormParam = p
        for (i, what) in [(1, "scale"), (2, "bias"), (3, "running mean"), (4, "running variance")] {
            l.blobs.append(try floatBlob(try constant(node, i, what: "the \(what)"), shape: [c], node, what: "the \(what)"))
            record(node, input: i, layer: node.name, blob: i - 1)
        }
        var frozen = ParamSpec()
        frozen.lrMult = 0
        frozen.decayMult = 0
        l.param = [ParamSpec(), ParamSpec(), frozen, frozen]
        try emit(l, node: node, shape: s)
    }

    mutating func clip(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 1, 3)
        let (x, s) = try tensorShape(node, 0)
        var lo = -Double.infinity, hi = Double.infinity
        if graph.opset < 11 {
            lo = Double(try node.float("min", default: -Float.greatestFiniteMagnitude))
            hi = Double(try node.float("max", default: Float.greatestFiniteMagnitude))
        } else {
            if let c = try optionalConstant(node, 1, what: "min") {
                guard let v = c.scalar else { throw node.error("min must be a scalar") }
                lo = v
            }
            if let c = try optionalConstant(node, 2, what: "max") {
                guard let v = c.scalar else { throw node.error("max must be a scalar") }
                hi = v
            }
        }
        var l: LayerParameter
        if lo == 0, hi == .infinity || hi >= Double(Float.greatestFiniteMagnitude) {
            l = LayerParameter(name: node.name, type: "ReLU")
        } else {
            // ReLU6 and friends: Caffe's Clip, y = max(min, min(x, max)) (Layers/Clip.swift).
            l = LayerParameter(name: node.name, type: "Clip")
            var cp = ClipParameter()
            cp.min = lo.isFinite ? Float(lo) : -Float.greatestFiniteMagnitude
            cp.max = hi.isFinite ? Float(hi) : Float.greatestFiniteMagnitude
            l.clipParam = cp
        }
        l.bottom = [x]
        try emit(l, node: node, shape: s)
    }

    /// PyTorch's pooling output size (aten/src/ATen/native/Pool.h pooling_output_shape):
    /// ⌊ or ⌈(in + 2p − d(k − 1) − 1)/s⌉ + 1, then with ceil_mode one less when the last window
    /// would start at or past in + p.
    static func torchPoolOut(_ input: Int, k: Int, s: Int, p: Int, ceil: Bool) -> Int {
        let num = input + 2 * p - (k - 1) - 1
        var out = (ceil ? (num + s - 1) / s : num / s) + 1
        if ceil && (out - 1) * s >= input + p { out -= 1 }
        return out
    }

    /// Caffe's (BVLC/caffe src/caffe/layers/pooling_layer.cpp with round_mode; docs/semantics.md §4).
    /// `anyPad`: either spatial pad is nonzero (Caffe checks `pad_h_ || pad_w_` for both axes).
    static func caffePoolOut(_ input: Int, k: Int, s: Int, p: Int, ceil: Bool, anyPad: Bool? = nil) -> Int {
        let num = input + 2 * p - k
        var out = (ceil ? (num + s - 1) / s : num / s) + 1
        if (anyPad ?? (p > 0)) && (out - 1) * s >= input + p { out -= 1 }
        return out
    }

    mutating func pool(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 1, 1, outputs: 1, node.op == "MaxPool" ? 2 : 1)
        try checkExtraOutputsUnused(node)
        try autoPadIsNotSet(node)
        let isMax = node.op == "MaxPool"
        var x = resolve(node.inputs[0])
        var extraPads = [0, 0, 0, 0]
        let countIncludePad = isMax ? true : try node.int("count_include_pad", default: 0) == 1
        if !isMax, countIncludePad, let (source, p) = takeFoldedPads(node, input: x) { x = source; extraPads = p }
        guard let s = shapes[x] else { _ = try tensorShape(node, 0); throw node.error("input 0 is not a float tensor the net computes") }
        guard s.count == 4 else { throw node.error("input has shape \(s); only 2-D pooling is supported") }
        guard let ks = try node.ints("kernel_shape"), ks.count == 2, ks.allSatisfy({ $0 >= 1 && $0 <= Int64(ONNXGraph.maxDimension) }) else {
            throw node.error("kernel_shape must be 2 positive values")
        }
        let k = ks.map { Int($0) }
        let strides = try int2(node, "strides", default: 1)
        guard strides.allSatisfy({ $0 >= 1 }) else { throw node.error("strides must be ≥ 1") }
        if let d = try node.ints("dilations"), d.contains(where: { $0 != 1 }) {
            throw node.error("dilations \(d): Caffe's pooling has no dilation")
        }
        let pads = (try node.ints("pads") ?? [0, 0, 0, 0]).map { Int(clamping: min(max($0, -1), Int64(ONNXGraph.maxDimension) + 1)) }
        let (ph, pw) = try symmetricPads(node, zip(pads, extraPads).map { $0 + $1 })
        guard ph < k[0], pw < k[1] else { throw node.error("pads (\(ph), \(pw)) must be smaller than the kernel \(k)") }
        if !isMax && !countIncludePad && (ph > 0 || pw > 0) {
            throw node.error("count_include_pad=0 with padding: Caffe's AVE pooling counts the padding; it would take a pooling mode that excludes it")
        }
        let ceil = try node.int("ceil_mode", default: 0) == 1
        guard s[2] + 2 * ph >= k[0], s[3] + 2 * pw >= k[1] else {
            throw node.error("kernel \(k) is larger than the padded input \(s[2] + 2 * ph)×\(s[3] + 2 * pw)")
        }
        let want = [Self.torchPoolOut(s[2], k: k[0], s: strides[0], p: ph, ceil: ceil),
                    Self.torchPoolOut(s[3], k: k[1], s: strides[1], p: pw, ceil: ceil)]
        // The round mode whose Caffe output size is PyTorch's (they differ only in when the
        // last, partial window is dropped).
        var mode: PoolingParameter.RoundMode? = nil
        for m in (ceil ? [PoolingParameter.RoundMode.CEIL, .FLOOR] : [.FLOOR, .CEIL]) {
            let anyPad = ph > 0 || pw > 0
            let got = [Self.caffePoolOut(s[2], k: k[0], s: strides[0], p: ph, ceil: m == .CEIL, anyPad: anyPad),
                       Self.caffePoolOut(s[3], k: k[1], s: strides[1], p: pw, ceil: m == .CEIL, anyPad: anyPad)]
            if got == want { mode = m; break }
        }
        guard let roundMode = mode else {
            throw node.error("no Caffe rounding gives PyTorch's output size \(want) for input \(s[2])×\(s[3]), kernel \(k), stride \(strides), pad (\(ph), \(pw))")
        }
        var l = LayerParameter(name: node.name, type: "Pooling")
        l.bottom = [x]
        var p = PoolingParameter()
        p.pool = isMax ? .MAX : .AVE
        p.kernelH = UInt32(k[0]); p.kernelW = UInt32(k[1])
        p.strideH = UInt32(strides[0]); p.strideW = UInt32(strides[1])
        p.padH = UInt32(ph); p.padW = UInt32(pw)
        p.roundMode = roundMode
        l.poolingParam = p
        try emit(l, node: node, shape: [s[0], s[1], want[0], want[1]])
    }

    mutating func globalPool(_ node: ONNXNode, x: String, shape s: [Int], max: Bool, keepDims: Bool) throws {
        var l = LayerParameter(name: node.name, type: "Pooling")
        l.bottom = [x]
        var p = PoolingParameter()
        p.pool = max ? .MAX : .AVE
        p.globalPooling = true
        l.poolingParam = p
        if keepDims {
            try emit(l, node: node, shape: [s[0], s[1], 1, 1])
            return
        }
        let mid = unique(node.outputs[0] + "_pooled")
        l.top = [mid]
        layers.append(l)
        var f = LayerParameter(name: node.name + "/flatten", type: "Flatten")
        f.bottom = [mid]
        try emit(f, node: node, shape: [s[0], s[1]])
    }

    mutating func reduceMean(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 1, 2)
        let (x, s) = try tensorShape(node, 0)
        var axes: [Int64]
        if graph.opset >= 18, node.inputs.count > 1, !node.inputs[1].isEmpty {
            guard let a = try constant(node, 1, what: "axes").ints else { throw node.error("axes must be int64") }
            axes = a
        } else {
            axes = try node.ints("axes") ?? []
        }
        let normalized = Set(axes.map { $0 < 0 ? $0 + Int64(s.count) : $0 })
        guard s.count == 4, normalized == [2, 3] else {
            throw node.error("ReduceMean over axes \(axes) of a \(s) tensor: only the spatial axes (2, 3) of an N×C×H×W tensor (global average pooling) are supported")
        }
        let keep = try node.int("keepdims", default: 1) == 1
        try globalPool(node, x: x, shape: s, max: false, keepDims: keep)
    }

    mutating func flatten(_ node: ONNXNode, x: String, shape s: [Int]) throws {
        var l = LayerParameter(name: node.name, type: "Flatten")
        l.bottom = [x]
        try emit(l, node: node, shape: [s[0], s.dropFirst().reduce(1, *)])
    }

    mutating func gemm(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 2, 3)
        let (x, s) = try tensorShape(node, 0)
        guard s.count == 2 else { throw node.error("input A has shape \(s), expected (N, features)") }
        guard try node.int("transA", default: 0) == 0 else { throw node.error("transA=1 is not supported (the input must be (N, features))") }
        let alpha = try node.float("alpha", default: 1), beta = try node.float("beta", default: 1)
        guard alpha == 1, beta == 1 else {
            throw node.error("alpha \(alpha), beta \(beta): only alpha = beta = 1 (an InnerProduct) is supported")
        }
        let transB = try node.int("transB", default: 0) == 1
        let w = try constant(node, 1, what: "the weight B")
        guard w.shape.count == 2, let wv = w.floats else { throw node.error("weight B must be a 2-D float32 constant, got shape \(w.shape)") }
        let (out, inn) = transB ? (w.shape[0], w.shape[1]) : (w.shape[1], w.shape[0])
        guard inn == s[1] else { throw node.error("weight B \(w.shape)\(transB ? " (transB)" : "") does not take \(s[1]) input features") }
        var weight = BlobProto()
        weight.shape = BlobShape(dim: [Int64(out), Int64(inn)])
        weight.data = transB ? wv : transpose(wv, rows: inn, cols: out)
        var bias: BlobProto? = nil
        if let c = try optionalConstant(node, 2, what: "the bias C") {
            guard c.count == out || c.count == 1 else { throw node.error("bias C has shape \(c.shape), expected (\(out))") }
            guard let cv = c.floats else { throw node.error("bias C must be float32") }
            var b = BlobProto()
            b.shape = BlobShape(dim: [Int64(out)])
            b.data = c.count == out ? cv : [Float](repeating: cv[0], count: out)
            bias = b
        }
        try innerProduct(node, x: x, batch: s[0], out: out, weight: weight, bias: bias, weightInput: 1, biasInput: bias == nil ? nil : 2)
    }

    func transpose(_ v: [Float], rows: Int, cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: v.count)
        for r in 0..<rows { for c in 0..<cols { t[c * rows + r] = v[r * cols + c] } }
        return t
    }

    mutating func innerProduct(_ node: ONNXNode, x: String, batch: Int, out: Int, weight: BlobProto, bias: BlobProto?,
                               weightInput: Int, biasInput: Int?, biasNode: ONNXNode? = nil) throws {
        var l = LayerParameter(name: node.name, type: "InnerProduct")
        l.bottom = [x]
        var p = InnerProductParameter()
        p.numOutput = UInt32(out)
        p.biasTerm = bias != nil
        l.innerProductParam = p
        l.blobs = [weight] + (bias.map { [$0] } ?? [])
        record(node, input: weightInput, layer: node.name, blob: 0)
        if let bi = biasInput { record(biasNode ?? node, input: bi, layer: node.name, blob: 1) }
        if let bn = biasNode {
            // MatMul + Add: the layer's top is the Add's output.
            try emit(l, node: bn, shape: [batch, out])
        } else {
            try emit(l, node: node, shape: [batch, out])
        }
    }

    mutating func matMul(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 2, 2)
        let (x, s) = try tensorShape(node, 0)
        guard s.count == 2 else { throw node.error("input has shape \(s); only (N, features) × (features, out) is supported") }
        let w = try constant(node, 1, what: "the weight")
        guard w.shape.count == 2, let wv = w.floats, w.shape[0] == s[1] else {
            throw node.error("weight of shape \(w.shape) does not take \(s[1]) input features (expected (\(s[1]), out))")
        }
        let out = w.shape[1]
        var weight = BlobProto()
        weight.shape = BlobShape(dim: [Int64(out), Int64(s[1])])
        weight.data = transpose(wv, rows: s[1], cols: out)
        // MatMul followed by an Add of a constant (out) is one InnerProduct with a bias.
        let y = node.outputs[0]
        if consumers[y]?.count == 1, let addNode = graph.nodes.first(where: { $0.op == "Add" && $0.inputs.contains(y) }),
           addNode.inputs.count == 2 {
            let other = addNode.inputs[0] == y ? 1 : 0
            if let c = graph.constants[resolve(addNode.inputs[other])], c.count == out, let cv = c.floats {
                var b = BlobProto()
                b.shape = BlobShape(dim: [Int64(out)])
                b.data = cv
                fusedAdds.insert(addNode.name)
                folded.insert(y)
                try innerProduct(node, x: x, batch: s[0], out: out, weight: weight, bias: b, weightInput: 1,
                                 biasInput: other, biasNode: addNode)
                return
            }
        }
        try innerProduct(node, x: x, batch: s[0], out: out, weight: weight, bias: nil, weightInput: 1, biasInput: nil)
    }

    /// Add nodes already emitted as an InnerProduct's bias.
    var fusedAdds: Set<String> = []

    mutating func add(_ node: ONNXNode) throws {
        if fusedAdds.contains(node.name) { return }
        try node.checkArity(inputs: 2, 2)
        let a = resolve(node.inputs[0]), b = resolve(node.inputs[1])
        if let sa = shapes[a], let sb = shapes[b] {
            guard sa == sb else {
                throw node.error("adds tensors of shapes \(sa) and \(sb); only equal shapes (Eltwise SUM) are supported, not broadcasting")
            }
            var l = LayerParameter(name: node.name, type: "Eltwise")
            l.bottom = [a, b]
            var p = EltwiseParameter()
            p.operation = .SUM
            l.eltwiseParam = p
            try emit(l, node: node, shape: sa)
            return
        }
        // A tensor plus a per-channel constant: a Bias layer with the constant as its blob.
        let (xi, ci) = shapes[a] != nil ? (0, 1) : (1, 0)
        let (x, s) = try tensorShape(node, xi)
        let c = try constant(node, ci, what: "the addend")
        guard s.count >= 2, c.count == s[1], c.shape.count <= s.count,
              c.shape.enumerated().allSatisfy({ i, d in d == 1 || (d == s[1] && i == c.shape.count - (s.count - 1)) }) || c.shape == [s[1]] else {
            throw node.error("adds a constant of shape \(c.shape) to a tensor of shape \(s); only a per-channel constant (C) or (C, 1, 1) is supported")
        }
        var l = LayerParameter(name: node.name, type: "Bias")
        l.bottom = [x]
        l.blobs = [try floatBlob(c, shape: [s[1]], node, what: "the addend")]
        record(node, input: ci, layer: node.name, blob: 0)
        try emit(l, node: node, shape: s)
    }

    /// Mul/Div by a scalar or per-channel constant → Scale (γ = c or 1/c); Sub of one → Bias
    /// (−c); Mul of two tensors of one shape → Eltwise PROD. A constant that is an initializer
    /// stays learnable (it may be a parameter); one from Constant nodes gets lr_mult 0.
    mutating func scaleOrShift(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 2, 2)
        let a = resolve(node.inputs[0]), b = resolve(node.inputs[1])
        if let sa = shapes[a], let sb = shapes[b], node.op == "Mul", sa != sb, sa.count == 4 || sb.count == 4 {
            // A squeeze-and-excitation gate: (N, C, H, W) × (N, C, 1, 1) → Scale with the gate,
            // flattened to (N, C), as its second bottom (axis 0: it covers N, C).
            let (x, sx, g, sg) = sa.count == 4 && sa[2...] != [1, 1] ? (a, sa, b, sb) : (b, sb, a, sa)
            guard sx.count == 4, sg == [sx[0], sx[1], 1, 1] || sg == [sx[0], sx[1]] else {
                throw node.error("Mul of tensors of shapes \(sa) and \(sb): only equal shapes or (N, C, H, W) × (N, C, 1, 1) are supported")
            }
            var gate = g
            if sg.count == 4 {
                gate = unique(node.outputs[0] + "_gate")
                var f = LayerParameter(name: node.name + "/gate", type: "Flatten")
                f.bottom = [g]
                f.top = [gate]
                layers.append(f)
                shapes[gate] = [sx[0], sx[1]]
            }
            var l = LayerParameter(name: node.name, type: "Scale")
            l.bottom = [x, gate]
            var p = ScaleParameter()
            p.axis = 0
            p.numAxes = 2
            l.scaleParam = p
            try emit(l, node: node, shape: sx)
            return
        }
        if let sa = shapes[a], let sb = shapes[b] {
            guard node.op == "Mul", sa == sb else {
                throw node.error("\(node.op) of two tensors (\(sa), \(sb)): only Mul of equal shapes (Eltwise PROD) is supported, not broadcasting")
            }
            var l = LayerParameter(name: node.name, type: "Eltwise")
            l.bottom = [a, b]
            var p = EltwiseParameter()
            p.operation = .PROD
            l.eltwiseParam = p
            try emit(l, node: node, shape: sa)
            return
        }
        guard shapes[a] != nil else {
            throw node.error("\(node.op) with the constant first is not supported (only tensor \(node.op == "Sub" ? "−" : "×") constant)")
        }
        let (x, s) = try tensorShape(node, 0)
        let c = try constant(node, 1, what: "the operand")
        guard let cv = c.floats, s.count >= 2 else { throw node.error("the operand must be float32") }
        let perChannel = c.count == s[1] && (c.shape == [s[1]] || c.shape.count == s.count && c.shape.enumerated().allSatisfy { $0.offset == 1 || $0.element == 1 }
                                             || c.shape.count == s.count - 1 && c.shape.enumerated().allSatisfy { $0.offset == 0 || $0.element == 1 })
        guard c.count == 1 || perChannel else {
            throw node.error("\(node.op) by a constant of shape \(c.shape) on a tensor of shape \(s): only a scalar or a per-channel constant is supported")
        }
        var values = c.count == 1 ? [Float](repeating: cv[0], count: s[1]) : cv
        if node.op == "Div" {
            guard values.allSatisfy({ $0 != 0 }) else { throw node.error("divides by zero") }
            values = values.map { 1 / $0 }
        } else if node.op == "Sub" {
            values = values.map { -$0 }
        }
        var l = LayerParameter(name: node.name, type: node.op == "Sub" ? "Bias" : "Scale")
        l.bottom = [x]
        var blob = BlobProto()
        blob.shape = BlobShape(dim: [Int64(s[1])])
        blob.data = values
        l.blobs = [blob]
        let source = graph.constantSource[resolve(node.inputs[1])] ?? resolve(node.inputs[1])
        if graph.initializerNames.contains(source) && node.op == "Mul" && c.count == s[1] {
            record(node, input: 1, layer: node.name, blob: 0)
        } else {
            var frozen = ParamSpec()
            frozen.lrMult = 0
            frozen.decayMult = 0
            l.param = [frozen]
        }
        try emit(l, node: node, shape: s)
    }

    mutating func dropout(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 1, 3, outputs: 1, 2)
        try checkExtraOutputsUnused(node)
        let (x, s) = try tensorShape(node, 0)
        var ratio: Double = 0.5
        if graph.opset >= 12 {
            if let c = try optionalConstant(node, 1, what: "ratio") {
                guard let v = c.scalar else { throw node.error("ratio must be a scalar") }
                ratio = v
            }
        } else {
            ratio = Double(try node.float("ratio", default: 0.5))
        }
        var training = false
        if let c = try optionalConstant(node, 2, what: "training_mode") {
            guard let v = c.scalar else { throw node.error("training_mode must be a scalar") }
            training = v != 0
        }
        guard ratio >= 0 && ratio < 1 else { throw node.error("ratio must be in [0, 1), got \(ratio)") }
        if !training {
            warnings.append("\(file): node '\(node.name)' (op Dropout): exported without training_mode, imported as Dropout(\(ratio)) active in TRAIN as PyTorch's model.train()")
        }
        var l = LayerParameter(name: node.name, type: "Dropout")
        l.bottom = [x]
        var p = DropoutParameter()
        p.dropoutRatio = Float(ratio)
        l.dropoutParam = p
        try emit(l, node: node, shape: s)
    }

    mutating func pad(_ node: ONNXNode) throws {
        try node.checkArity(inputs: 1, 4)
        let (x, s) = try tensorShape(node, 0)
        let mode = try node.string("mode") ?? "constant"
        guard mode == "constant" else { throw node.error("mode \(mode): only constant (zero) padding is supported") }
        var pads: [Int64]
        var value: Double = 0
        if graph.opset >= 11 {
            guard let p = try constant(node, 1, what: "pads").ints else { throw node.error("pads must be int64") }
            pads = p
            if let v = try optionalConstant(node, 2, what: "constant_value") {
                guard let d = v.scalar else { throw node.error("constant_value must be a scalar") }
                value = d
            }
            if node.inputs.count > 3, !node.inputs[3].isEmpty { throw node.error("the axes input is not supported") }
        } else {
            pads = try node.ints("pads") ?? []
            value = Double(try node.float("value", default: 0))
        }
        guard value == 0 else { throw node.error("constant value \(value): only zero padding can be folded into Caffe's pad") }
        guard pads.count == 2 * s.count, s.count == 4 else { throw node.error("pads \(pads) do not fit a \(s.count)-D tensor") }
        // [x1_begin, x2_begin, x3_begin, x4_begin, x1_end, …]: only H and W may be padded.
        guard pads[0] == 0, pads[1] == 0, pads[4] == 0, pads[5] == 0, pads.allSatisfy({ $0 >= 0 && $0 <= Int64(ONNXGraph.maxDimension) }) else {
            throw node.error("pads \(pads): only non-negative padding of H and W is supported")
        }
        let users = graph.nodes.filter { $0.inputs.contains(node.outputs[0]) }
        let foldable = users.allSatisfy { u in
            u.op == "Conv" || (u.op == "AveragePool" && ((try? u.int("count_include_pad", default: 0)) ?? 0) == 1)
        }
        guard !users.isEmpty, foldable, consumers[node.outputs[0]]?.contains("graph output") != true else {
            throw node.error("zero padding is folded into the Conv or AveragePool(count_include_pad=1) that reads it; this one is read by \(users.map { "\($0.op) '\($0.name)'" }.joined(separator: ", "))")
        }
        pendingPads[node.outputs[0]] = (x, [Int(pads[2]), Int(pads[3]), Int(pads[6]), Int(pads[7])], node.name)
        folded.insert(node.outputs[0])
    }
}
