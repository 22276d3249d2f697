import InitDiagCore
import InitDiagTrace
// The public entry points of the Caffe readers: prototxt nets and solvers (text), .caffemodel
// weights and binary mean files (wire format). Every problem with the input is an InputError of
// one line, `<file>:<line>:<col>: <what>` for text and `<file>: … at byte <n>` for binary.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Prototxt {
    /// Parses a net prototxt and applies Caffe's upgrades (V1 layers, net inputs, BatchNorm).
    public static func parseNet(_ text: String, path: String) throws -> NetParameter {
        try parseNet(Array(text.utf8), path: path)
    }

    /// The same from the file's bytes (NUL bytes and invalid UTF-8 are errors with their place).
    public static func parseNet(_ bytes: [UInt8], path: String) throws -> NetParameter {
        do {
            let tree = try TextParser.parse(bytes)
            let start = TextLocation(line: 1, column: 1)
            var (net, present) = try TextDecoder.decode(NetParameter.self, tree, context: "NetParameter", at: start)
            try CaffeUpgrade.upgradeNet(&net, present: present, fallback: start)
            net.sourcePath = path
            return net
        } catch {
            throw located(error, path)
        }
    }

    public static func loadNet(path: String) throws -> NetParameter {
        try parseNet(try readFile(path, what: "net"), path: path)
    }

    /// Parses a solver prototxt and applies Caffe's upgrades (solver_type → type, the default
    /// snapshot_prefix, inline nets). The notices say what initdiag does differently.
    public static func parseSolver(_ text: String, path: String) throws -> (SolverParameter, [Notice]) {
        try parseSolver(Array(text.utf8), path: path)
    }

    public static func parseSolver(_ bytes: [UInt8], path: String) throws -> (SolverParameter, [Notice]) {
        do {
            let tree = try TextParser.parse(bytes)
            var (solver, present) = try TextDecoder.decode(SolverParameter.self, tree, context: "SolverParameter",
                                                           at: TextLocation(line: 1, column: 1))
            let notices = try CaffeUpgrade.upgradeSolver(&solver, path: path, present: present)
            solver.sourcePath = path
            return (solver, notices)
        } catch {
            throw located(error, path)
        }
    }

    public static func loadSolver(path: String) throws -> (SolverParameter, [Notice]) {
        try parseSolver(try readFile(path, what: "solver"), path: path)
    }

    /// The located syntax tree of a text-format file, without any schema (for tools that want
    /// to point at places in a prototxt).
    public static func syntaxTree(_ bytes: [UInt8], path: String) throws -> [TextField] {
        do {
            return try TextParser.parse(bytes)
        } catch {
            throw located(error, path)
        }
    }

    /// Canonical text (fields in number order, as protobuf prints them; default values left
    /// out) that parses back to an equal value.
    public static func format(_ net: NetParameter) -> String { TextPrinter.print(net) }

    public static func format(_ solver: SolverParameter) -> String { TextPrinter.print(solver) }

    private static func located(_ error: any Error, _ path: String) -> any Error {
        guard let e = error as? PrototxtError else { return error }
        if e.location.line == 0 { return InputError("\(path): \(e.message)") }
        return InputError("\(path):\(e.location.line):\(e.location.column): \(e.message)")
    }

    /// The whole file; a missing or unreadable file is an InputError naming it.
    static func readFile(_ path: String, what: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw InputError("\(path): cannot open the \(what) file: \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw InputError("\(path): cannot read the \(what) file: \(errnoText())") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw InputError("\(path): is a directory, not a \(what) file") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(0, Int(st.st_size)))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw InputError("\(path): cannot read the \(what) file: \(errnoText())")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// Binary .caffemodel files: a NetParameter in the protobuf wire format.
public enum CaffeModel {
    /// Decodes weights; legacy V1 `layers` (field 2) are upgraded as Caffe's
    /// ReadNetParamsFromBinaryFileOrDie does. Truncated or corrupt data is an InputError naming
    /// the file and the byte offset.
    public static func decode(_ bytes: [UInt8], path: String) throws -> NetParameter {
        // An HDF5 snapshot (.caffemodel.h5) starts with this signature.
        if bytes.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) {
            throw InputError("\(path): is an HDF5 snapshot (.caffemodel.h5), not a binary .caffemodel")
        }
        var net: NetParameter
        do {
            net = try WireCodec.decode(NetParameter.self, bytes)
        } catch let e as WireError {
            throw InputError("\(path): corrupt or truncated caffemodel: \(e.message) at byte \(e.offset)")
        }
        do {
            try CaffeUpgrade.upgradeNet(&net, present: [:], fallback: TextLocation(line: 0, column: 0))
        } catch {
            throw InputError("\(path): \(error.message)")
        }
        net.sourcePath = path
        return net
    }

    public static func load(path: String) throws -> NetParameter {
        try decode(try Prototxt.readFile(path, what: "caffemodel"), path: path)
    }

    /// The wire encoding of `net` (fields in number order; default values left out).
    public static func encode(_ net: NetParameter) -> [UInt8] { WireCodec.encode(net) }
}

extension BlobProto {
    /// A binary BlobProto (e.g. a mean file written by compute_image_mean).
    public static func decode(_ bytes: [UInt8]) throws -> BlobProto {
        do {
            return try WireCodec.decode(BlobProto.self, bytes)
        } catch let e as WireError {
            throw InputError("corrupt or truncated BlobProto: \(e.message) at byte \(e.offset)")
        }
    }

    /// Reads a binary mean file; errors name the file.
    public static func load(path: String) throws -> BlobProto {
        let bytes = try Prototxt.readFile(path, what: "mean")
        do {
            return try WireCodec.decode(BlobProto.self, bytes)
        } catch let e as WireError {
            throw InputError("\(path): corrupt or truncated BlobProto: \(e.message) at byte \(e.offset)")
        }
    }

    public func encode() -> [UInt8] { WireCodec.encode(self) }
}

extension Datum {
    /// One LMDB record's value.
    public static func decode(_ bytes: [UInt8]) throws -> Datum {
        do {
            return try WireCodec.decode(Datum.self, bytes)
        } catch let e as WireError {
            throw InputError("corrupt Datum: \(e.message) at byte \(e.offset)")
        }
    }

    public func encode() -> [UInt8] { WireCodec.encode(self) }
}

extension SolverState {
    /// A BINARYPROTO .solverstate.
    public static func decode(_ bytes: [UInt8], path: String) throws -> SolverState {
        do {
            return try WireCodec.decode(SolverState.self, bytes)
        } catch let e as WireError {
            throw InputError("\(path): corrupt or truncated solverstate: \(e.message) at byte \(e.offset)")
        }
    }

    public func encode() -> [UInt8] { WireCodec.encode(self) }
}
