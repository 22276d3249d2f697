import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a run's images come from (docs/cli.md, `--data SPEC`): `cifar10:DIR`, `mnist:DIR`,
/// `lmdb:PATH`, `leveldb:PATH`, `synthetic[:SEED]`, or `hdf5:LIST` (an HDF5Data layer's file list).
public enum DataSpec: Equatable, Sendable, CustomStringConvertible {
    case cifar10(directory: String)
    case lmdb(path: String)
    case synthetic(seed: UInt64)
    /// A text file listing HDF5 files: replaces the source of the net's HDF5Data layers.
    case hdf5(list: String)

    case leveldb(path: String)
    case mnist(directory: String)

    public static let forms = "cifar10:DIR, mnist:DIR, lmdb:PATH, leveldb:PATH, synthetic or synthetic:SEED, hdf5:LIST"

    /// Parses a `--data` value. A bad value throws `InputError` listing the accepted forms.
    public static func parse(_ s: String) throws -> DataSpec {
        func bad(_ why: String) -> InputError {
            InputError("--data '\(s)': \(why); expected one of \(forms)")
        }
        if s == "synthetic" { return .synthetic(seed: SyntheticSource.defaultSeed) }
        guard let colon = s.firstIndex(of: ":") else { throw bad("unknown data source") }
        let kind = s[..<colon]
        let rest = String(s[s.index(after: colon)...])
        switch kind {
        case "cifar10":
            guard !rest.isEmpty else { throw bad("missing directory") }
            return .cifar10(directory: rest)
        case "lmdb":
            guard !rest.isEmpty else { throw bad("missing path") }
            return .lmdb(path: rest)
        case "hdf5":
            guard !rest.isEmpty else { throw bad("missing list file") }
            return .hdf5(list: rest)
        case "leveldb":
            guard !rest.isEmpty else { throw bad("missing path") }
            return .leveldb(path: rest)
        case "mnist":
            guard !rest.isEmpty else { throw bad("missing directory") }
            return .mnist(directory: rest)
        case "synthetic":
            guard let seed = UInt64(rest) else { throw bad("the seed must be a non-negative integer") }
            return .synthetic(seed: seed)
        default:
            throw bad("unknown data source '\(kind)'")
        }
    }

    public var description: String {
        switch self {
        case .cifar10(let d): return "cifar10:\(d)"
        case .lmdb(let p): return "lmdb:\(p)"
        case .synthetic(let s): return "synthetic:\(s)"
        case .hdf5(let l): return "hdf5:\(l)"
        case .leveldb(let p): return "leveldb:\(p)"
        case .mnist(let d): return "mnist:\(d)"
        }
    }

    /// Opens the source for a phase (TRAIN/TEST files of CIFAR-10 and MNIST, the phase's synthetic
    /// stream; an LMDB or LevelDB is the same for both phases). `synthetic` generates records of
    /// `shape` (C, H, W; default 3×32×32) with `classes` labels (default 10); the other sources
    /// ignore both.
    public func open(phase: Phase, shape: RecordShape? = nil, classes: Int? = nil) throws -> DataSource {
        switch self {
        case .cifar10(let d): return try CIFAR10Source(directory: d, phase: phase)
        case .lmdb(let p): return try LMDBSource(path: p)
        case .leveldb(let p): return try LevelDBSource(path: p)
        case .mnist(let d): return try MNISTSource(directory: d, phase: phase)
        case .synthetic(let s):
            let dims = shape ?? RecordShape.cifar
            return try SyntheticSource(seed: s, phase: phase, shape: (dims.channels, dims.height, dims.width),
                                       classes: classes ?? SyntheticSource.classCount)
        case .hdf5(let l):
            throw InputError("--data hdf5:\(l) feeds HDF5Data layers; this net's data comes through a Data or Input layer")
        }
    }

    public var isSynthetic: Bool { if case .synthetic = self { return true } else { return false } }

    /// The source a Data layer names itself (`data_param.source` with its `backend`), used when
    /// no `--data` is given. A missing source says so and points at `--data`.
    public static func fromDataParameter(_ param: DataParameter, layerName: String) throws -> DataSpec {
        guard let source = param.source, !source.isEmpty else {
            throw InputError("layer '\(layerName)' (Data): data_param.source is not set; pass --data (\(forms))")
        }
        var st = stat()
        guard stat(source, &st) == 0 else {
            throw InputError("layer '\(layerName)' (Data): data_param.source '\(source)' does not exist; pass --data (\(forms))")
        }
        // caffe.proto: backend defaults to LEVELDB.
        return param.backend == .LMDB ? .lmdb(path: source) : .leveldb(path: source)
    }
}
