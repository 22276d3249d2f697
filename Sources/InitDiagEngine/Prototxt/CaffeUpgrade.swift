import InitDiagCore
import InitDiagTrace
// Caffe's automatic upgrades of old nets and solvers, applied after reading as Caffe applies
// them (BVLC/caffe src/caffe/util/upgrade_proto.cpp: UpgradeNetAsNeeded, UpgradeSolverAsNeeded,
// UpgradeSnapshotPrefixProperty). Where Caffe would silently drop part of the input, initdiag
// stops with an error instead.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum CaffeUpgrade {
    /// UpgradeNetAsNeeded, in Caffe's order: data transformation fields of V1 data layers,
    /// V1 → current layers, net inputs → an Input layer, BatchNorm param specs.
    /// `present` holds where top-level fields were written (empty for binary input); `fallback`
    /// is the place reported when nothing more precise is known (line 0 = no place).
    static func upgradeNet(_ net: inout NetParameter, present: [Int: TextLocation], fallback: TextLocation) throws(PrototxtError) {
        if !net.layers.isEmpty {
            if !net.layer.isEmpty {
                // UpgradeV1Net logs "these will be ignored" and drops the `layer` entries.
                let first = net.layers[0]
                throw PrototxtError(first.line > 0 ? TextLocation(line: first.line, column: first.column) : fallback,
                                    "the net mixes V1 'layers' entries with 'layer' entries; Caffe's upgrade would drop the 'layer' entries: use one form")
            }
            net.layer = net.layers.map { v1 in
                var v1 = v1
                upgradeDataTransformation(&v1)
                return upgradeV1Layer(v1)
            }
            net.layers = []
        }
        try upgradeInput(&net, present: present, fallback: fallback)
        upgradeBatchNorm(&net)
    }

    /// UpgradeNetDataTransformation: a V1 DATA layer's deprecated data_param scale, mean_file,
    /// crop_size and mirror move into its transform_param. DataParameter keeps scale, crop_size
    /// and mirror with their defaults, so "given" is read as "differs from the default" (an
    /// explicit default only matters when transform_param sets the same field differently).
    /// Caffe does this for V1 layers only; on current `layer`s data_param's copies are unused.
    static func upgradeDataTransformation(_ v1: inout V1LayerParameter) {
        guard v1.type == "DATA", var data = v1.dataParam else { return }
        var transform = v1.transformParam ?? TransformationParameter()
        var moved = false
        if data.scale != 1 { transform.scale = data.scale; data.scale = 1; moved = true }
        if let meanFile = data.meanFile { transform.meanFile = meanFile; data.meanFile = nil; moved = true }
        if data.cropSize != 0 { transform.cropSize = data.cropSize; data.cropSize = 0; moved = true }
        if data.mirror { transform.mirror = true; data.mirror = false; moved = true }
        if moved { v1.transformParam = transform }
        v1.dataParam = data
    }

    /// UpgradeV1LayerParameter: enum type → type string; blobs_lr / weight_decay / param names /
    /// blob_share_mode → one ParamSpec per blob index (lr_mult, decay_mult, name, share_mode).
    static func upgradeV1Layer(_ v1: V1LayerParameter) -> LayerParameter {
        var layer = LayerParameter()
        layer.bottom = v1.bottom
        layer.top = v1.top
        if let name = v1.name { layer.name = name }
        layer.include = v1.include
        layer.exclude = v1.exclude
        if let type = v1.type { layer.type = V1LayerTypes.typeByName[type] ?? "" }
        layer.blobs = v1.blobs
        func spec(_ i: Int) { while layer.param.count <= i { layer.param.append(ParamSpec()) } }
        for (i, name) in v1.param.enumerated() { spec(i); layer.param[i].name = name }
        for (i, mode) in v1.blobShareMode.enumerated() { spec(i); layer.param[i].shareMode = mode }
        for (i, lr) in v1.blobsLr.enumerated() { spec(i); layer.param[i].lrMult = lr }
        for (i, decay) in v1.weightDecay.enumerated() { spec(i); layer.param[i].decayMult = decay }
        layer.lossWeight = v1.lossWeight
        layer.accuracyParam = v1.accuracyParam
        layer.concatParam = v1.concatParam
        layer.convolutionParam = v1.convolutionParam
        layer.dataParam = v1.dataParam
        layer.dropoutParam = v1.dropoutParam
        layer.eltwiseParam = v1.eltwiseParam
        layer.expParam = v1.expParam
        layer.hdf5DataParam = v1.hdf5DataParam
        layer.imageDataParam = v1.imageDataParam
        layer.innerProductParam = v1.innerProductParam
        layer.poolingParam = v1.poolingParam
        layer.powerParam = v1.powerParam
        layer.reluParam = v1.reluParam
        layer.sigmoidParam = v1.sigmoidParam
        layer.softmaxParam = v1.softmaxParam
        layer.tanhParam = v1.tanhParam
        layer.thresholdParam = v1.thresholdParam
        layer.transformParam = v1.transformParam
        layer.lossParam = v1.lossParam
        layer.contrastiveLossParam = v1.contrastiveLossParam
        layer.hingeLossParam = v1.hingeLossParam
        layer.infogainLossParam = v1.infogainLossParam
        layer.lrnParam = v1.lrnParam
        layer.sliceParam = v1.sliceParam
        layer.argmaxParam = v1.argmaxParam
        layer.mvnParam = v1.mvnParam
        layer.line = v1.line
        return layer
    }

    /// UpgradeNetInput: `input` names with `input_shape` (one per input) or `input_dim` (four per
    /// input) become an Input layer named "input", placed first. Inputs without any shape are
    /// dropped (legacy .caffemodels carry them). Caffe ignores extra or conflicting shapes; here
    /// they are errors.
    static func upgradeInput(_ net: inout NetParameter, present: [Int: TextLocation], fallback: TextLocation) throws(PrototxtError) {
        let inputAt = present[3] ?? fallback
        let hasShape = !net.inputShape.isEmpty, hasDim = !net.inputDim.isEmpty
        if net.input.isEmpty {
            if hasShape || hasDim {
                throw PrototxtError(present[hasShape ? 8 : 4] ?? fallback,
                                    "'\(hasShape ? "input_shape" : "input_dim")' given without any 'input' names")
            }
            return
        }
        if hasShape && hasDim {
            throw PrototxtError(present[4] ?? inputAt, "give either 'input_shape' or 'input_dim', not both (Caffe would ignore 'input_dim')")
        }
        if hasShape || hasDim {
            var layer = LayerParameter(name: "input", type: "Input")
            var param = InputParameter()
            let n = net.input.count
            if hasShape, net.inputShape.count != n {
                throw PrototxtError(present[8] ?? inputAt, "\(count(net.inputShape.count, "'input_shape' entry", "'input_shape' entries")) for \(count(n, "input", "inputs")): give one per input")
            }
            if hasDim, net.inputDim.count != 4 * n {
                throw PrototxtError(present[4] ?? inputAt, "\(count(net.inputDim.count, "'input_dim' value", "'input_dim' values")) for \(count(n, "input", "inputs")): give four (num, channels, height, width) per input")
            }
            for (i, name) in net.input.enumerated() {
                layer.top.append(name)
                if hasShape {
                    param.shape.append(net.inputShape[i])
                } else {
                    param.shape.append(BlobShape(dim: net.inputDim[(4 * i)..<(4 * i + 4)].map { Int64($0) }))
                }
            }
            layer.inputParam = param
            layer.line = inputAt.line
            net.layer.insert(layer, at: 0)
        }
        net.input = []
        net.inputShape = []
        net.inputDim = []
    }

    /// UpgradeNetBatchNorm: BatchNorm layers that declare three param specs (the old definition)
    /// get lr_mult 0 and decay_mult 0 on each; other fields stay.
    static func upgradeBatchNorm(_ net: inout NetParameter) {
        for i in net.layer.indices where net.layer[i].type == "BatchNorm" && net.layer[i].param.count == 3 {
            for j in 0..<3 {
                net.layer[i].param[j].lrMult = 0
                net.layer[i].param[j].decayMult = 0
            }
        }
    }

    /// UpgradeSolverAsNeeded + UpgradeSnapshotPrefixProperty, and upgrades of inline nets.
    static func upgradeSolver(_ solver: inout SolverParameter, path: String, present: [Int: TextLocation]) throws(PrototxtError) -> [Notice] {
        var notices: [Notice] = []
        if let solverType = solver.solverType {
            // UpgradeSolverType: CHECK(!has_solver_type() || !has_type()).
            if let typeAt = present[40] {
                throw PrototxtError(typeAt, "give either 'type' or the deprecated 'solver_type', not both")
            }
            solver.type = SolverTypes.typeByName[solverType] ?? solverType
            solver.solverType = nil
        }
        if let prefix = solver.snapshotPrefix {
            if prefix.hasSuffix("/") || isDirectory(prefix) {
                solver.snapshotPrefix = (prefix.hasSuffix("/") ? prefix : prefix + "/") + PathParts.stem(path)
            }
        } else {
            solver.snapshotPrefix = PathParts.removingExtension(path)
        }
        // Caffe does not upgrade inline nets (Solver::InitTrainNet copies them as they are),
        // which would leave a V1 inline net without layers; initdiag upgrades them like files.
        let fallback = TextLocation(line: 0, column: 0)
        if var net = solver.netParam {
            try upgradeNet(&net, present: [:], fallback: present[25] ?? fallback)
            net.sourcePath = path
            solver.netParam = net
        }
        if var net = solver.trainNetParam {
            try upgradeNet(&net, present: [:], fallback: present[21] ?? fallback)
            net.sourcePath = path
            solver.trainNetParam = net
        }
        for i in solver.testNetParam.indices {
            try upgradeNet(&solver.testNetParam[i], present: [:], fallback: present[22] ?? fallback)
            solver.testNetParam[i].sourcePath = path
        }
        // The caffe tool runs on the GPU only when solver_mode GPU is given explicitly
        // (BVLC/caffe tools/caffe.cpp: has_solver_mode() && solver_mode() == GPU).
        if present[17] != nil && solver.solverMode == .GPU {
            notices.append(Notice("solver_mode GPU: initdiag runs on the CPU"))
        }
        return notices
    }

    private static func count(_ n: Int, _ one: String, _ many: String) -> String { "\(n) \(n == 1 ? one : many)" }

    /// boost::filesystem::is_directory, relative to the working directory as in Caffe.
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// The file-name parts boost::filesystem gives (path::stem, path::replace_extension()).
enum PathParts {
    /// The last path component.
    static func filename(_ path: String) -> Substring {
        if let slash = path.lastIndex(of: "/") { return path[path.index(after: slash)...] }
        return Substring(path)
    }

    /// The file name without its extension (from the last '.'; "." and ".." have none).
    static func stem(_ path: String) -> String {
        let name = filename(path)
        if name == "." || name == ".." { return String(name) }
        if let dot = name.lastIndex(of: ".") { return String(name[..<dot]) }
        return String(name)
    }

    /// The path with the file name's extension removed.
    static func removingExtension(_ path: String) -> String {
        let name = filename(path)
        if name == "." || name == ".." { return path }
        if let dot = name.lastIndex(of: ".") { return String(path[..<dot]) }
        return path
    }
}
