import InitDiagCore
import InitDiagTrace
/// The one entry point for reading a net description from a file, whatever its format: the format
/// is told by the content, not the file name, and every reader returns the same `NetParameter`.
/// A second format plugs in here (see `NetSource.Format` and the switch in `load`).
public enum NetSource {
    /// What a file holds, told by its first bytes.
    public enum Format: String, Sendable, Equatable {
        /// Caffe's NetParameter in the protobuf text format (a .prototxt).
        case prototxt
        /// A NetParameter in the protobuf wire format (a binary net, or a .caffemodel: the net's
        /// layers with their weights).
        case binaryNetParameter = "binary NetParameter"
        /// An ONNX ModelProto (wire format; field 1 is ir_version, a varint: first byte 0x08).
        case onnx = "ONNX"
        /// An HDF5 file (a .caffemodel.h5 weights snapshot or a trace).
        case hdf5 = "HDF5"
    }

    /// A net as read: the description and where it came from.
    public struct LoadedNet: Sendable {
        public var net: NetParameter
        public var path: String
        public var format: Format
        /// The file carried learned blobs (a .caffemodel): they are dropped from `net`, which is
        /// only the description; load them with `--weights`.
        public var droppedWeights: Bool
        /// What the reader has to say about the file (an ONNX export that folded BatchNorm, …).
        public var notes: [String] = []

        public init(net: NetParameter, path: String, format: Format, droppedWeights: Bool, notes: [String] = []) {
            self.net = net; self.path = path; self.format = format; self.droppedWeights = droppedWeights; self.notes = notes
        }
    }

    /// The HDF5 signature (every HDF5 file, .caffemodel.h5 snapshots and traces).
    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The format of a file's bytes. Text is the default: only content that cannot be a prototxt
    /// start is taken for another format.
    public static func format(of bytes: [UInt8]) -> Format {
        if bytes.starts(with: hdf5Signature) { return .hdf5 }
        guard let first = bytes.first else { return .prototxt }
        // ONNX ModelProto: field 1 (ir_version, varint) → tag 0x08, a byte no text file starts with.
        if first == 0x08 { return .onnx }
        if looksBinary(bytes) { return .binaryNetParameter }
        return .prototxt
    }

    /// A wire-format NetParameter starts with the tag of one of its fields (name 0x0A, V1 layers
    /// 0x12, input 0x1A, input_dim 0x20/0x22, force_backward 0x28, state 0x32, debug_info 0x38,
    /// input_shape 0x42, layer 0xA2 0x06) and holds bytes no text prototxt has (control bytes other
    /// than tab, newlines, vertical tab and form feed) within its first 4 KiB.
    static func looksBinary(_ bytes: [UInt8]) -> Bool {
        let tags: Set<UInt8> = [0x0A, 0x12, 0x1A, 0x20, 0x22, 0x28, 0x32, 0x38, 0x42]
        let startsWithTag = tags.contains(bytes[0]) || bytes.starts(with: [0xA2, 0x06])
        guard startsWithTag else { return false }
        return bytes.prefix(4096).contains { $0 < 0x09 || ($0 > 0x0D && $0 < 0x20) || $0 == 0x7F }
    }

    /// Reads the net description at `path`. Every problem is a one-line `InputError` naming the
    /// file: a missing file, a syntax error at its line and column, a solver file given as a net
    /// (naming the solver's net), weights only (HDF5), an ONNX model that cannot be imported (naming the node).
    public static func load(path: String) throws -> LoadedNet {
        let bytes = try Prototxt.readFile(path, what: "net")
        switch format(of: bytes) {
        case .prototxt:
            do {
                return LoadedNet(net: try parseText(bytes, path: path), path: path, format: .prototxt, droppedWeights: false)
            } catch let e as InputError where path.lowercased().hasSuffix(".onnx") {
                // Named .onnx but not a ModelProto: say so before the text reader's complaint.
                throw InputError("\(path): not a valid ONNX model (its first byte is not an ONNX ModelProto's; read as a prototxt: \(e.message))")
            }
        case .binaryNetParameter:
            var net: NetParameter
            do {
                net = try CaffeModel.decode(bytes, path: path)
            } catch {
                // Not a valid wire-format net after all: the text reader says where it goes wrong.
                return LoadedNet(net: try parseText(bytes, path: path), path: path, format: .prototxt, droppedWeights: false)
            }
            let hadWeights = net.layer.contains { !$0.blobs.isEmpty }
            for i in net.layer.indices { net.layer[i].blobs = [] }
            return LoadedNet(net: net, path: path, format: .binaryNetParameter, droppedWeights: hadWeights)
        case .onnx:
            // The ONNX graph as Caffe layers with PyTorch's semantics, the initializers as the layers'
            // given blobs (ONNX/ONNXImport.swift).
            let m = try ONNXImport.importModel(bytes: bytes, path: path)
            return LoadedNet(net: m.net, path: path, format: .onnx, droppedWeights: false, notes: m.warnings)
        case .hdf5:
            throw InputError("\(path): is an HDF5 file (a .caffemodel.h5 weights snapshot or a trace), not a net; pass weights with --weights")
        }
    }

    /// The net of a text prototxt; a solver file given as a net is named as such.
    static func parseText(_ bytes: [UInt8], path: String) throws -> NetParameter {
        do {
            return try Prototxt.parseNet(bytes, path: path)
        } catch let netError {
            if let solver = solverNetName(bytes) {
                let names = solver.isEmpty ? "" : "; its net is '\(solver)'"
                throw InputError("\(path): this is a solver file, not a net\(names) (pass it with --solver)")
            }
            throw netError
        }
    }

    /// Fields only a SolverParameter has at the top level.
    static let solverOnlyFields: Set<String> = [
        "base_lr", "lr_policy", "max_iter", "momentum", "weight_decay", "solver_mode", "solver_type",
        "snapshot_prefix", "test_iter", "test_interval", "train_net", "test_net", "net_param",
        "train_net_param", "stepsize", "stepvalue", "iter_size", "regularization_type",
    ]

    /// When `bytes` parse as text whose top-level fields are a solver's: the net it names
    /// (`net` / `train_net`; "" for an inline or missing net). nil for anything else.
    public static func solverNetName(_ bytes: [UInt8]) -> String? {
        guard let tree = try? Prototxt.syntaxTree(bytes, path: "") else { return nil }
        guard tree.contains(where: { solverOnlyFields.contains($0.name) }) else { return nil }
        guard let solver = try? Prototxt.parseSolver(bytes, path: "").0 else { return "" }
        return solver.net ?? solver.trainNet ?? ""
    }
}
