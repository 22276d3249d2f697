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
    /// `--input-shape C,H,W`: the record shape `synthetic` generates (else `RecordShape`'s rules).
    public var inputShape: RecordShape? = nil
    /// `--classes N`: the label range `synthetic` draws from (else `LabelRange`'s rule).
    public var classes: Int? = nil
    /// Means computed from --data for mean files that do not exist, by the mean file's path
    /// (`DataMeanFile.compute`, Caffe's compute_image_mean over the TRAIN records).
    public var computedMeans: [String: DataMeanBlob] = [:]
    /// One line per computed mean, saying so (also a notice, and the trace attribute
    /// `computed_mean`).
    public var computedMeanNotes: [String] = []

    /// How momentum enters SGD/Nesterov (`MomentumStyle`): PyTorch's for an ONNX net run without
    /// a solver file (`ONNXImport.defaultSolver`), else Caffe's; `--momentum-style` overrides.
    public var momentumStyle: MomentumStyle = .caffe
    /// The format the net was read in (NetSource.Format): an ONNX net's input is scaled as
    /// PyTorch's ToTensor does (`inputTransform`).
    public var netFormat: NetSource.Format = .prototxt
    /// The transform an Input layer's data gets (a prototxt's Input has none; an ONNX graph's
    /// input gets scale 1/255, torchvision's ToTensor: bytes → [0, 1], no mean).
    public var inputTransform = TransformationParameter()

    /// The seed used when neither --seed nor a non-negative random_seed is given.
    public static let defaultSeed: UInt32 = 1701

    /// Loads a solver (and the net it names, relative to the solver's folder) or a bare net.
    /// A bare net gets a solver with Caffe's defaults and `lr_policy: "fixed"`, base_lr 0.01.
    ///
    /// `inputShape` (`--input-shape C,H,W`) and `classes` (`--classes N`) override the record shape
    /// and label range the built-in `synthetic` data adapts to the net. A net with Input layers and
    /// no loss (a deploy prototxt) gets a SoftmaxWithLoss on its classifier when the shapes allow
    /// (`NetParameter.withLossForDeploy`), said in a notice; without --data it reads `synthetic`.
    ///
    /// An ONNX net without a solver file gets `ONNXImport.defaultSolver` (PyTorch's SGD: lr 0.01,
    /// momentum 0.9 in PyTorch's style, weight decay 5e-4 on every parameter). `overrides`
    /// (`--lr`, `--momentum`, `--weight-decay`, `--momentum-style`) replace the solver's values.
    public static func load(solverPath: String?, netPath: String?, data: String?, scheme: Scheme,
                            seed: Int64?, batchSize: Int?, inputShape: String? = nil,
                            classes: Int? = nil, overrides: SolverOverrides = SolverOverrides()) throws -> RunSetup {
        var notices: [Notice] = []
        var solver: SolverParameter
        var net: NetParameter
        var format = NetSource.Format.prototxt
        var style = MomentumStyle.caffe
        func loadNet(_ path: String) throws -> NetParameter {
            let loaded = try NetSource.load(path: path)
            format = loaded.format
            notices += loaded.notes.map { Notice($0) }
            return loaded.net
        }
        if let solverPath {
            let (s, n) = try Prototxt.loadSolver(path: solverPath)
            solver = s
            notices += n
            if let netPath {
                net = try loadNet(netPath)
            } else {
                let loaded = try RunSetup.solverNetSource(solver, solverPath: solverPath)
                net = loaded.net
                format = loaded.format
                notices += loaded.notes.map { Notice($0) }
            }
        } else if let netPath {
            net = try loadNet(netPath)
            if format == .onnx {
                solver = ONNXImport.defaultSolver(netPath: netPath)
                style = ONNXImport.defaultMomentumStyle
                notices.append(Notice("\(netPath): no solver given: PyTorch's SGD, lr \(overrides.baseLr ?? solver.baseLr) fixed, momentum \(overrides.momentum ?? solver.momentum) (\((overrides.momentumStyle ?? style).rawValue) style), weight decay \(overrides.weightDecay ?? solver.weightDecay) on every parameter (--lr, --momentum, --weight-decay, --momentum-style change them); input scaled by 1/255 as ToTensor does"))
            } else {
                solver = SolverParameter()
                solver.lrPolicy = "fixed"
                solver.baseLr = 0.01
                solver.sourcePath = netPath
            }
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
        if let v = overrides.baseLr { solver.baseLr = v }
        if let v = overrides.momentum { solver.momentum = v }
        if let v = overrides.weightDecay { solver.weightDecay = v }
        if let v = overrides.momentumStyle { style = v }
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
        let shape = try inputShape.map(RecordShape.parse)
        if let c = classes, c < 1 || c > 1 << 20 { throw InputError("--classes must be between 1 and \(1 << 20), got \(c)") }
        var spec = try data.map(DataSpec.parse)
        if net.layer.contains(where: { $0.type == "Input" }) {
            let (withLoss, note) = try net.withLossForDeploy()
            net = withLoss
            if let note { notices.append(Notice(note)) }
            if spec == nil {
                spec = .synthetic(seed: SyntheticSource.defaultSeed)
                notices.append(Notice("net '\(net.name)' takes its data through an Input layer and no --data was given: using the built-in synthetic data"))
            }
        }
        if spec?.isSynthetic == true {
            for l in net.layer where l.type == "Data" {
                if let mf = l.transformParam?.meanFile, !FileManager.default.fileExists(atPath: mf) {
                    notices.append(Notice("layer '\(l.name)': mean_file \(mf) does not exist; on synthetic data it is replaced by mean_value 128 (the synthetic images' mean level)"))
                }
            }
        }
        // Real data and a mean file that does not exist (the zoo nets name
        // examples/cifar10/mean.binaryproto): the mean Caffe's tools/compute_image_mean.cpp would
        // have written, computed from the TRAIN records of --data, once per named file.
        var computedMeans: [String: DataMeanBlob] = [:]
        var computedMeanNotes: [String] = []
        if let spec, !spec.isSynthetic {
            for l in net.layer where l.type == "Data" || l.type == "ImageData" {
                guard let mf = l.transformParam?.meanFile, !FileManager.default.fileExists(atPath: mf),
                      computedMeans[mf] == nil else { continue }
                let source = try spec.open(phase: .TRAIN)
                let mean = try DataMeanFile.compute(from: source, standingInFor: mf)
                computedMeans[mf] = mean
                let text = "layer '\(l.name)': mean_file \(mf) does not exist; using the mean of the \(source.recordCount ?? 0) TRAIN records of \(spec.description) instead (\(mean.shape.dropFirst().map(String.init).joined(separator: "×")), computed as Caffe's compute_image_mean does)"
                notices.append(Notice(text))
                computedMeanNotes.append(text)
            }
        }
        var setup = RunSetup(solver: solver, net: net, scheme: scheme, seed: resolvedSeed,
                             data: spec, notices: notices)
        setup.computedMeans = computedMeans
        setup.computedMeanNotes = computedMeanNotes
        setup.inputShape = shape
        setup.classes = classes
        setup.momentumStyle = style
        setup.netFormat = format
        if format == .onnx { setup.inputTransform.scale = Float(1.0 / 255.0) }
        return setup
    }

    /// The record shape and label range `synthetic` generates for the Data layer `layer`
    /// (RecordShape.forDataLayer, LabelRange.of, or the overrides).
    public func syntheticLayout(for layer: LayerParameter) -> (shape: RecordShape, labels: LabelRange) {
        (RecordShape.forDataLayer(layer, in: net, override: inputShape), LabelRange.of(net, override: classes))
    }

    /// The train net a solver names: `net` / `train_net` (paths relative to the solver's folder,
    /// as Caffe's tools resolve them from where they run — here, from the solver file) or an
    /// inline `net_param` / `train_net_param`.
    static func solverNet(_ solver: SolverParameter, solverPath: String) throws -> NetParameter {
        try solverNetSource(solver, solverPath: solverPath).net
    }

    /// `solverNet` with the format the file was read in (an inline net is a prototxt).
    static func solverNetSource(_ solver: SolverParameter, solverPath: String) throws -> NetSource.LoadedNet {
        if let inline = solver.netParam ?? solver.trainNetParam {
            return NetSource.LoadedNet(net: inline, path: solverPath, format: .prototxt, droppedWeights: false)
        }
        guard let name = solver.net ?? solver.trainNet else {
            throw InputError("\(solverPath): the solver names no net (net, train_net, net_param or train_net_param); pass --net")
        }
        let dir = (solverPath as NSString).deletingLastPathComponent
        let candidates = name.hasPrefix("/") ? [name] : [(dir as NSString).appendingPathComponent(name), name]
        for c in candidates where FileManager.default.fileExists(atPath: c) {
            return try NetSource.load(path: c)
        }
        throw InputError("\(solverPath): net '\(name)' not found (looked in \(candidates.joined(separator: ", "))); pass --net")
    }

    /// The data a Data layer of `phase` reads: --data, or the layer's own source.
    public func dataSpec(for layer: LayerParameter) throws -> DataSpec {
        if let data { return data }
        return try DataSpec.fromDataParameter(layer.dataParam ?? DataParameter(), layerName: layer.name)
    }

    /// The transform of a Data layer; on synthetic data a mean_file that does not exist (the
    /// zoo nets name data/ilsvrc12/imagenet_mean.binaryproto) becomes mean_value 128, the level
    /// the synthetic images are centred on (said in a notice by `load`).
    static func syntheticTransform(_ layer: LayerParameter, _ spec: DataSpec) -> TransformationParameter {
        var t = layer.transformParam ?? TransformationParameter()
        if spec.isSynthetic, let mf = t.meanFile, !FileManager.default.fileExists(atPath: mf) {
            t.meanFile = nil
            t.meanValue = [128]
        }
        return t
    }

    /// The error for a Data or ImageData layer whose mean_file does not exist when no --data was
    /// given (with --data the mean is computed from it: `load`); nil when the file exists.
    static func missingMeanFile(_ layer: LayerParameter) -> InputError? {
        guard let mf = layer.transformParam?.meanFile, !FileManager.default.fileExists(atPath: mf) else { return nil }
        var also = ""
        if let source = layer.dataParam?.source, !source.isEmpty, !FileManager.default.fileExists(atPath: source) {
            also = " (its data_param.source '\(source)' does not exist either)"
        }
        return InputError("layer '\(layer.name)': mean_file \(mf) does not exist\(also); give --data (\(DataSpec.forms)) to compute the mean from that data as Caffe's compute_image_mean does")
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
                    // synthetic: --input-shape (e.g. 4,1,1 for feature vectors) and the net's labels.
                    let layout = setup.syntheticLayout(for: layer)
                    return try DataFeeder(source: try spec.open(phase: phase, shape: layout.shape, classes: layout.labels.classes),
                                          transformer: try DataTransformer(param: TransformationParameter(), phase: phase),
                                          batchSize: Int(layer.hdf5DataParam?.batchSize ?? 0))
                }
            }
            if layer.type == "ImageData" && setup.data == nil {
                // Caffe's ImageDataLayer setup, in its draw order: BaseDataLayer::LayerSetUp's
                // InitRand, DataLayerSetUp's shuffle seed and rand_skip draws, then the prefetching
                // layer's InitRand and its thread's seed (image_data_layer.cpp, base_data_layer.cpp).
                let ip = layer.imageDataParam ?? ImageDataParameter()
                let list = try ImageListSource(param: ip, layerName: layer.name)
                if let e = RunSetup.missingMeanFile(layer) { throw e }
                let transformer = try DataTransformer(param: layer.transformParam ?? TransformationParameter(), phase: phase)
                transformer.initRand(from: rng)
                list.setUpLikeCaffe(from: rng)
                let feeder = try DataFeeder(source: list, transformer: transformer, batchSize: Int(ip.batchSize))
                transformer.initRand(from: rng)
                _ = rng.next()
                return feeder
            }
            if setup.data == nil, let e = RunSetup.missingMeanFile(layer) { throw e }
            let spec = try setup.dataSpec(for: layer)
            let param = RunSetup.syntheticTransform(layer, spec)
            let transformer = try DataTransformer(param: param, phase: phase,
                                                  computedMean: param.meanFile.flatMap { setup.computedMeans[$0] })
            let layout = setup.syntheticLayout(for: layer)
            let source = try spec.open(phase: phase, shape: layout.shape, classes: layout.labels.classes)
            let feeder = try DataFeeder(source: source, transformer: transformer,
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
        // synthetic: the Input layer's declared record shape (or --input-shape), the net's labels.
        let inputLayer = net.layerParams.first { $0.type == "Input" && $0.top.first == net.blobs[first].name }
        let shape = inputShape ?? inputLayer.flatMap(RecordShape.forInputLayer) ?? RecordShape.cifar
        let labels = LabelRange.of(net.parameter, override: classes)
        let feeder = try DataFeeder(source: try spec.open(phase: phase, shape: shape, classes: labels.classes),
                                    transformer: try DataTransformer(param: inputTransform, phase: phase),
                                    batchSize: max(1, batch))
        feeder.seedLikeCaffeDataLayer(from: rng)
        return feeder
    }

    /// The batch size the run uses (first Data layer's, or the Input layer's first dimension).
    public var batchSize: Int {
        for l in net.layer {
            if l.type == "Data", let b = l.dataParam?.batchSize { return Int(b) }
            if l.type == "HDF5Data", let b = l.hdf5DataParam?.batchSize { return Int(b) }
            if l.type == "ImageData" { return DataLayer.declaredBatchSize(l) }
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
            } else if out.layer[i].type == "ImageData" {
                var ip = out.layer[i].imageDataParam ?? ImageDataParameter()
                ip.batchSize = UInt32(clamping: b)
                out.layer[i].imageDataParam = ip
            } else if out.layer[i].type == "Input", var ip = out.layer[i].inputParam {
                for k in ip.shape.indices where !ip.shape[k].dim.isEmpty { ip.shape[k].dim[0] = Int64(b) }
                out.layer[i].inputParam = ip
            }
        }
        return out
    }
}

extension NetParameter {
    /// A deploy prototxt (Input layers, no loss) made probe-able: when the net has no loss layer
    /// and its last layer's output — or, when that is a Softmax, the Softmax's input (the logits) —
    /// is N×K (trailing axes 1), an Input `initdiag_label` (shape N) and a SoftmaxWithLoss
    /// `initdiag_loss` on (logits, initdiag_label) are appended, so a probe has a backward pass;
    /// the labels come from the data source (synthetic: K classes). Otherwise the net is left as
    /// it is and only its forward statistics are meaningful. Returns the net and a line saying
    /// what was done (nil when the net already has a loss).
    public func withLossForDeploy() throws -> (NetParameter, String?) {
        if layer.contains(where: { $0.type.hasSuffix("Loss") || $0.lossWeight.contains { $0 != 0 } }) { return (self, nil) }
        guard let last = layer.last(where: { !$0.top.isEmpty && $0.type != "Input" }) else { return (self, nil) }
        var logits = last.top[0]
        var via = ""
        if last.type == "Softmax", let b = last.bottom.first {
            logits = b
            via = " (the input of Softmax '\(last.name)')"
        }
        let built = try Net(self, state: NetState(phase: .TRAIN), context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: 0)),
                            initializer: { _, _ in })
        guard let shape = built.blob(named: logits)?.shape else { return (self, nil) }
        guard shape.count >= 2, shape[0] > 0, shape[1] > 1, shape.dropFirst(2).allSatisfy({ $0 == 1 }) else {
            return (self, "deploy net (no loss): its output '\(logits)' has shape \(shape.map(String.init).joined(separator: "×")), not N×classes; no loss added, so only the forward statistics are meaningful (backward is empty)")
        }
        var out = self
        var label = LayerParameter(name: "initdiag_label", type: "Input")
        label.top = ["initdiag_label"]
        var ip = InputParameter()
        ip.shape = [BlobShape(dim: [Int64(shape[0])])]
        label.inputParam = ip
        var loss = LayerParameter(name: "initdiag_loss", type: "SoftmaxWithLoss")
        loss.bottom = [logits, "initdiag_label"]
        loss.top = ["initdiag_loss"]
        out.layer.append(label)
        out.layer.append(loss)
        return (out, "deploy net (no loss): added SoftmaxWithLoss 'initdiag_loss' on '\(logits)'\(via), \(shape[1]) classes, labels from the data, so the probe has a backward pass")
    }
}

/// Solver values given on the command line (`--lr`, `--momentum`, `--weight-decay`,
/// `--momentum-style`, the same spelling in train, sweep, probe, bench and compare): they replace
/// the solver file's (or the default solver's) values. nil keeps them.
public struct SolverOverrides: Sendable, Equatable {
    public var baseLr: Float?
    public var momentum: Float?
    public var weightDecay: Float?
    public var momentumStyle: MomentumStyle?
    public init(baseLr: Float? = nil, momentum: Float? = nil, weightDecay: Float? = nil, momentumStyle: MomentumStyle? = nil) {
        self.baseLr = baseLr; self.momentum = momentum; self.weightDecay = weightDecay; self.momentumStyle = momentumStyle
    }

    /// The range checks, as the one-line message of a bad value (nil: all good).
    public func problem() -> String? {
        if let v = baseLr, !(v.isFinite && v > 0) { return "--lr must be a positive number, got \(v)" }
        if let v = momentum, !(v.isFinite && v >= 0 && v < 1) { return "--momentum must be in [0, 1), got \(v)" }
        if let v = weightDecay, !(v.isFinite && v >= 0) { return "--weight-decay must be a non-negative number, got \(v)" }
        return nil
    }
}
