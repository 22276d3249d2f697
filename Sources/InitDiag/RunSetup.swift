import InitDiagCore
import InitDiagTrace
import InitDiagEngine
import InitDiagDiagnosis
import Foundation

/// Everything a run is made of, resolved from the user's files and flags: the solver (with the
/// scheme's lr factor applied), the net (with `bn=on` applied and batch sizes overridden), the
/// data, the scheme and the seed. `probe`, `train`, `sweep` and `bench` all start here.
public struct RunSetup: Sendable {
    public var solver: SolverParameter
    /// The net the solver trains, not yet filtered by phase.
    public var net: NetParameter
    public var scheme: Scheme
    /// Seeds the run's generator (Caffe's random_seed): --seed, else the solver's random_seed,
    /// else `RunSetup.defaultSeed` — a run is always reproducible.
    public var seed: UInt32
    /// nil: each Data layer reads its own data_param.source.
    public var data: DataSpec?
    public var notices: [Notice]

    /// The seed used when neither --seed nor a non-negative random_seed is given.
    public static let defaultSeed: UInt32 = 1701

    /// Loads a solver (and the net it names, relative to the solver's folder) or a bare net.
    /// A bare net gets a solver with Caffe's defaults and `lr_policy: "fixed"`, base_lr 0.01.
    public static func load(solverPath: String?, netPath: String?, data: String?, scheme: Scheme,
                            seed: Int64?, batchSize: Int?) throws -> RunSetup {
        var notices: [Notice] = []
        var solver: SolverParameter
        var net: NetParameter
        if let solverPath {
            let (s, n) = try Prototxt.loadSolver(path: solverPath)
            solver = s
            notices += n
            if let netPath {
                net = try NetSource.load(path: netPath).net
            } else {
                net = try RunSetup.solverNet(solver, solverPath: solverPath)
            }
        } else if let netPath {
            net = try NetSource.load(path: netPath).net
            solver = SolverParameter()
            solver.lrPolicy = "fixed"
            solver.baseLr = 0.01
            solver.sourcePath = netPath
        } else {
            throw InputError("give --solver SOLVER.prototxt or --net NET.prototxt")
        }
        // A NaN or infinite base_lr (the text format accepts `nan`, `inf`) would run to the end
        // with every weight NaN after the first step: refuse it as bad input.
        for (field, value) in [("base_lr", solver.baseLr), ("momentum", solver.momentum),
                               ("weight_decay", solver.weightDecay), ("gamma", solver.gamma),
                               ("power", solver.power), ("clip_gradients", solver.clipGradients)]
            where !value.isFinite {
            throw InputError("\(solver.sourcePath): \(field) must be a finite number, got \(value)")
        }
        // The "solver_mode GPU" note comes from the solver's parser, only when the file says GPU
        // (caffe.proto's default is GPU, which tools/caffe.cpp ignores unless given).
        // An empty net (an empty or all-comment file) would "train" with no loss and exit 0.
        if net.layer.isEmpty {
            throw InputError("\(net.sourcePath.isEmpty ? "net '\(net.name)'" : net.sourcePath): the net has no layers")
        }
        solver = scheme.apply(to: solver)
        if scheme.batchNorm { net = net.withBatchNormAfterConvolutions() }
        if let b = batchSize {
            guard b > 0 else { throw InputError("--batch-size must be positive, got \(b)") }
            net = net.withBatchSize(b)
        }
        let resolvedSeed: UInt32
        if let s = seed {
            guard s >= 0 else { throw InputError("--seed must be non-negative, got \(s)") }
            resolvedSeed = UInt32(truncatingIfNeeded: s)
        } else if solver.randomSeed >= 0 {
            resolvedSeed = UInt32(truncatingIfNeeded: solver.randomSeed)
        } else {
            resolvedSeed = defaultSeed
        }
        return RunSetup(solver: solver, net: net, scheme: scheme, seed: resolvedSeed,
                        data: try data.map(DataSpec.parse), notices: notices)
    }

    /// The train net a solver names: `net` / `train_net` (paths relative to the solver's folder,
    /// as Caffe's tools resolve them from where they run — here, from the solver file) or an
    /// inline `net_param` / `train_net_param`.
    static func solverNet(_ solver: SolverParameter, solverPath: String) throws -> NetParameter {
        if let inline = solver.netParam ?? solver.trainNetParam { return inline }
        guard let name = solver.net ?? solver.trainNet else {
            throw InputError("\(solverPath): the solver names no net (net, train_net, net_param or train_net_param); pass --net")
        }
        let dir = (solverPath as NSString).deletingLastPathComponent
        let candidates = name.hasPrefix("/") ? [name] : [(dir as NSString).appendingPathComponent(name), name]
        for c in candidates where FileManager.default.fileExists(atPath: c) {
            return try NetSource.load(path: c).net
        }
        throw InputError("\(solverPath): net '\(name)' not found (looked in \(candidates.joined(separator: ", "))); pass --net")
    }

    /// The data a Data layer of `phase` reads: --data, or the layer's own source.
    public func dataSpec(for layer: LayerParameter) throws -> DataSpec {
        if let data { return data }
        return try DataSpec.fromDataParameter(layer.dataParam ?? DataParameter(), layerName: layer.name)
    }

    /// A batch-source factory for the net's Data layers in `phase`, drawing from `rng` exactly
    /// where a Caffe Data layer draws at setup.
    public func batchSources(phase: Phase, rng: RandomSource) -> @Sendable (LayerParameter) throws -> BatchSource {
        let setup = self
        return { layer in
            if layer.type == "HDF5Data" {
                // Its own list or --data hdf5:LIST; another --data source stands in for data and
                // label (no draws: Caffe's HDF5Data takes none from the run's generator).
                switch setup.data {
                case nil: return try HDF5DataLayer.reader(layer, listPath: nil)
                case .hdf5(let list)?: return try HDF5DataLayer.reader(layer, listPath: list)
                case let spec?:
                    return try DataFeeder(source: try spec.open(phase: phase),
                                          transformer: try DataTransformer(param: TransformationParameter(), phase: phase),
                                          batchSize: Int(layer.hdf5DataParam?.batchSize ?? 0))
                }
            }
            let spec = try setup.dataSpec(for: layer)
            let transformer = try DataTransformer(param: layer.transformParam ?? TransformationParameter(), phase: phase)
            let feeder = try DataFeeder(source: try spec.open(phase: phase), transformer: transformer,
                                        batchSize: Int(layer.dataParam?.batchSize ?? 0))
            feeder.seedLikeCaffeDataLayer(from: rng)
            return feeder
        }
    }

    /// Feeds a net whose data comes through an Input layer (first top images, second labels).
    public func inputFeeder(net: Net, phase: Phase, rng: RandomSource) throws -> DataFeeder? {
        guard let first = net.inputBlobIDs.first else { return nil }
        guard let spec = data else {
            throw InputError("net '\(net.name)' takes its data through an Input layer; pass --data (\(DataSpec.forms))")
        }
        let batch = net.blobs[first].shape.first ?? 1
        let feeder = try DataFeeder(source: try spec.open(phase: phase),
                                    transformer: try DataTransformer(param: TransformationParameter(), phase: phase),
                                    batchSize: max(1, batch))
        feeder.seedLikeCaffeDataLayer(from: rng)
        return feeder
    }

    /// The batch size the run uses (first Data layer's, or the Input layer's first dimension).
    public var batchSize: Int {
        for l in net.layer {
            if l.type == "Data", let b = l.dataParam?.batchSize { return Int(b) }
            if l.type == "HDF5Data", let b = l.hdf5DataParam?.batchSize { return Int(b) }
            if l.type == "Input", let d = l.inputParam?.shape.first?.dim.first { return Int(d) }
        }
        return 0
    }
}

extension DataFeeder: BatchSource {
    public var outputShape: [Int] { [itemShape.channels, itemShape.height, itemShape.width] }
    public var description: String { source.description }
    public func next(data: Blob, label: Blob?) throws { try nextBatch(data: data, label: label) }
}

extension NetParameter {
    /// Every Data layer's batch_size, and the first dimension of Input shapes, set to `b`.
    public func withBatchSize(_ b: Int) -> NetParameter {
        var out = self
        for i in out.layer.indices {
            if out.layer[i].type == "Data" {
                var dp = out.layer[i].dataParam ?? DataParameter()
                dp.batchSize = UInt32(clamping: b)
                out.layer[i].dataParam = dp
            } else if out.layer[i].type == "HDF5Data" {
                var hp = out.layer[i].hdf5DataParam ?? HDF5DataParameter()
                hp.batchSize = UInt32(clamping: b)
                out.layer[i].hdf5DataParam = hp
            } else if out.layer[i].type == "Input", var ip = out.layer[i].inputParam {
                for k in ip.shape.indices where !ip.shape[k].dim.isEmpty { ip.shape[k].dim[0] = Int64(b) }
                out.layer[i].inputParam = ip
            }
        }
        return out
    }
}
