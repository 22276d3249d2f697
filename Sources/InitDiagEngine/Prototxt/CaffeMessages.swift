import InitDiagCore
import InitDiagTrace
// The Caffe messages initdiag understands, as typed Swift values. Field names, numbers and
// defaults follow caffe.proto (proto2) as listed in docs/semantics.md §1; the number of each field is
// in the comment after it. Optionals mark fields whose *presence* changes behaviour (proto2
// `has_…`); everything else carries its proto default.
//
// The text-format reader (Prototxt/) fills these through the schema in CaffeSchema.swift; the
// net builder, fillers, layers and solver read them. They hold no behaviour of their own.

public enum Phase: String, Sendable, CaseIterable { case TRAIN, TEST }

public struct BlobShape: Sendable, Equatable {
    public var dim: [Int64] = []                                   // 1 (packed)
    public init(dim: [Int64] = []) { self.dim = dim }
}

public struct BlobProto: Sendable, Equatable {
    public var shape: BlobShape? = nil                             // 7
    public var data: [Float] = []                                  // 5 (packed)
    public var diff: [Float] = []                                  // 6 (packed)
    public var doubleData: [Double] = []                           // 8 (packed)
    public var doubleDiff: [Double] = []                           // 9 (packed)
    public var num: Int32? = nil                                   // 1 (legacy)
    public var channels: Int32? = nil                              // 2 (legacy)
    public var height: Int32? = nil                                // 3 (legacy)
    public var width: Int32? = nil                                 // 4 (legacy)
    public init() {}

    /// Caffe's Blob::FromProto shape rule: any legacy dim present ⇒ (num, channels, height, width).
    public var resolvedShape: [Int] {
        if num != nil || channels != nil || height != nil || width != nil {
            return [Int(num ?? 0), Int(channels ?? 0), Int(height ?? 0), Int(width ?? 0)]
        }
        return (shape?.dim ?? []).map { Int($0) }
    }

    /// Values from double_data if non-empty, else data.
    public var values: [Float] { doubleData.isEmpty ? data : doubleData.map { Float($0) } }
}

public struct Datum: Sendable, Equatable {
    public var channels: Int32 = 0                                 // 1
    public var height: Int32 = 0                                   // 2
    public var width: Int32 = 0                                    // 3
    public var data: [UInt8] = []                                  // 4 (bytes)
    public var label: Int32 = 0                                    // 5
    public var floatData: [Float] = []                             // 6 (unpacked)
    public var encoded: Bool = false                               // 7
    public init() {}
}

public struct FillerParameter: Sendable, Equatable {
    public enum VarianceNorm: String, Sendable, CaseIterable { case FAN_IN, FAN_OUT, AVERAGE }
    public var type: String = "constant"                           // 1
    public var value: Float = 0                                    // 2
    public var min: Float = 0                                      // 3
    public var max: Float = 1                                      // 4
    public var mean: Float = 0                                     // 5
    public var std: Float = 1                                      // 6
    public var sparse: Int32 = -1                                  // 7
    public var varianceNorm: VarianceNorm = .FAN_IN                // 8
    public init(type: String = "constant") { self.type = type }
}

public struct NetState: Sendable, Equatable {
    public var phase: Phase = .TEST                                // 1
    public var level: Int32 = 0                                    // 2
    public var stage: [String] = []                                // 3
    public init(phase: Phase = .TEST, level: Int32 = 0, stage: [String] = []) {
        self.phase = phase; self.level = level; self.stage = stage
    }
}

public struct NetStateRule: Sendable, Equatable {
    public var phase: Phase? = nil                                 // 1
    public var minLevel: Int32? = nil                              // 2
    public var maxLevel: Int32? = nil                              // 3
    public var stage: [String] = []                                // 4
    public var notStage: [String] = []                             // 5
    public init() {}
}

public struct ParamSpec: Sendable, Equatable {
    public enum ShareMode: String, Sendable, CaseIterable { case STRICT, PERMISSIVE }
    public var name: String? = nil                                 // 1
    public var shareMode: ShareMode = .STRICT                      // 2
    public var lrMult: Float = 1                                   // 3
    public var decayMult: Float = 1                                // 4
    public init() {}
}

public struct TransformationParameter: Sendable, Equatable {
    public var scale: Float = 1                                    // 1
    public var mirror: Bool = false                                // 2
    public var cropSize: UInt32 = 0                                // 3
    public var meanFile: String? = nil                             // 4
    public var meanValue: [Float] = []                             // 5
    public var forceColor: Bool = false                            // 6
    public var forceGray: Bool = false                             // 7
    public init() {}
}

public struct LossParameter: Sendable, Equatable {
    public enum NormalizationMode: String, Sendable, CaseIterable { case FULL, VALID, BATCH_SIZE, NONE }
    public var ignoreLabel: Int32? = nil                           // 1
    public var normalization: NormalizationMode? = nil             // 3 [VALID]
    public var normalize: Bool? = nil                              // 2 (legacy)
    public init() {}

    /// The mode Caffe uses: `normalization` if given, else legacy `normalize` (true → VALID,
    /// false → BATCH_SIZE), else VALID.
    public var effectiveNormalization: NormalizationMode {
        if let n = normalization { return n }
        if let n = normalize { return n ? .VALID : .BATCH_SIZE }
        return .VALID
    }
}

public struct AccuracyParameter: Sendable, Equatable {
    public var topK: UInt32 = 1                                    // 1
    public var axis: Int32 = 1                                     // 2
    public var ignoreLabel: Int32? = nil                           // 3
    public init() {}
}

public enum ComputeEngine: String, Sendable, CaseIterable { case DEFAULT, CAFFE, CUDNN }

public struct ConvolutionParameter: Sendable, Equatable {
    public var numOutput: UInt32 = 0                               // 1
    public var biasTerm: Bool = true                               // 2
    public var pad: [UInt32] = []                                  // 3
    public var kernelSize: [UInt32] = []                           // 4
    public var stride: [UInt32] = []                               // 6
    public var dilation: [UInt32] = []                             // 18
    public var padH: UInt32? = nil                                 // 9
    public var padW: UInt32? = nil                                 // 10
    public var kernelH: UInt32? = nil                              // 11
    public var kernelW: UInt32? = nil                              // 12
    public var strideH: UInt32? = nil                              // 13
    public var strideW: UInt32? = nil                              // 14
    public var group: UInt32 = 1                                   // 5
    public var weightFiller: FillerParameter? = nil                // 7
    public var biasFiller: FillerParameter? = nil                  // 8
    public var engine: ComputeEngine = .DEFAULT                          // 15
    public var axis: Int32 = 1                                     // 16
    public var forceNdIm2col: Bool = false                         // 17
    public init() {}
}

public struct PoolingParameter: Sendable, Equatable {
    public enum PoolMethod: String, Sendable, CaseIterable { case MAX, AVE, STOCHASTIC }
    public enum RoundMode: String, Sendable, CaseIterable { case CEIL, FLOOR }
    public var pool: PoolMethod = .MAX                             // 1
    public var pad: UInt32 = 0                                     // 4
    public var padH: UInt32? = nil                                 // 9
    public var padW: UInt32? = nil                                 // 10
    public var kernelSize: UInt32? = nil                           // 2
    public var kernelH: UInt32? = nil                              // 5
    public var kernelW: UInt32? = nil                              // 6
    public var stride: UInt32 = 1                                  // 3
    public var strideH: UInt32? = nil                              // 7
    public var strideW: UInt32? = nil                              // 8
    public var engine: ComputeEngine = .DEFAULT                          // 11
    public var globalPooling: Bool = false                         // 12
    public var roundMode: RoundMode = .CEIL                        // 13
    public init() {}
}

public struct InnerProductParameter: Sendable, Equatable {
    public var numOutput: UInt32 = 0                               // 1
    public var biasTerm: Bool = true                               // 2
    public var weightFiller: FillerParameter? = nil                // 3
    public var biasFiller: FillerParameter? = nil                  // 4
    public var axis: Int32 = 1                                     // 5
    public var transpose: Bool = false                             // 6
    public init() {}
}

public struct ReLUParameter: Sendable, Equatable {
    public var negativeSlope: Float = 0                            // 1
    public var engine: ComputeEngine = .DEFAULT                          // 2
    public init() {}
}

public struct DropoutParameter: Sendable, Equatable {
    public var dropoutRatio: Float = 0.5                           // 1
    public init() {}
}

public struct BatchNormParameter: Sendable, Equatable {
    public var useGlobalStats: Bool? = nil                         // 1
    public var movingAverageFraction: Float = 0.999                // 2
    public var eps: Float = 1e-5                                   // 3
    public init() {}
}

public struct ScaleParameter: Sendable, Equatable {
    public var axis: Int32 = 1                                     // 1
    public var numAxes: Int32 = 1                                  // 2
    public var filler: FillerParameter? = nil                      // 3
    public var biasTerm: Bool = false                              // 4
    public var biasFiller: FillerParameter? = nil                  // 5
    public init() {}
}

public struct BiasParameter: Sendable, Equatable {
    public var axis: Int32 = 1                                     // 1
    public var numAxes: Int32 = 1                                  // 2
    public var filler: FillerParameter? = nil                      // 3
    public init() {}
}

public struct SoftmaxParameter: Sendable, Equatable {
    public var engine: ComputeEngine = .DEFAULT                          // 1
    public var axis: Int32 = 1                                     // 2
    public init() {}
}

public struct InputParameter: Sendable, Equatable {
    public var shape: [BlobShape] = []                             // 1
    public init() {}
}

public struct EltwiseParameter: Sendable, Equatable {
    public enum EltwiseOp: String, Sendable, CaseIterable { case PROD, SUM, MAX }
    public var operation: EltwiseOp = .SUM                         // 1
    public var coeff: [Float] = []                                 // 2
    public var stableProdGrad: Bool = true                         // 3
    public init() {}
}

public struct ConcatParameter: Sendable, Equatable {
    public var axis: Int32 = 1                                     // 2
    public var concatDim: UInt32? = nil                            // 1 (legacy)
    public init() {}
}

public struct FlattenParameter: Sendable, Equatable {
    public var axis: Int32 = 1                                     // 1
    public var endAxis: Int32 = -1                                 // 2
    public init() {}
}

public struct DataParameter: Sendable, Equatable {
    public enum DB: String, Sendable, CaseIterable { case LEVELDB, LMDB }
    public var source: String? = nil                               // 1
    public var batchSize: UInt32 = 0                               // 4
    public var randSkip: UInt32 = 0                                // 7
    public var backend: DB = .LEVELDB                              // 8
    public var scale: Float = 1                                    // 2 (deprecated → transform_param)
    public var meanFile: String? = nil                             // 3 (deprecated)
    public var cropSize: UInt32 = 0                                // 5 (deprecated)
    public var mirror: Bool = false                                // 6 (deprecated)
    public var forceEncodedColor: Bool = false                     // 9
    public var prefetch: UInt32 = 4                                // 10
    public init() {}
}

public struct HDF5DataParameter: Sendable, Equatable {
    public var source: String? = nil                               // 1
    public var batchSize: UInt32 = 0                               // 2
    public var shuffle: Bool = false                               // 3
    public init() {}
}

public struct LayerParameter: Sendable, Equatable {
    public var name: String = ""                                   // 1
    public var type: String = ""                                   // 2
    public var bottom: [String] = []                               // 3
    public var top: [String] = []                                  // 4
    public var phase: Phase? = nil                                 // 10
    public var lossWeight: [Float] = []                            // 5
    public var param: [ParamSpec] = []                             // 6
    public var blobs: [BlobProto] = []                             // 7
    public var propagateDown: [Bool] = []                          // 11
    public var include: [NetStateRule] = []                        // 8
    public var exclude: [NetStateRule] = []                        // 9
    public var transformParam: TransformationParameter? = nil      // 100
    public var lossParam: LossParameter? = nil                     // 101
    public var accuracyParam: AccuracyParameter? = nil             // 102
    public var batchNormParam: BatchNormParameter? = nil           // 139
    public var biasParam: BiasParameter? = nil                     // 141
    public var clipParam: ClipParameter? = nil                     // 148
    public var concatParam: ConcatParameter? = nil                 // 104
    public var convolutionParam: ConvolutionParameter? = nil       // 106
    public var dataParam: DataParameter? = nil                     // 107
    public var dropoutParam: DropoutParameter? = nil               // 108
    public var eltwiseParam: EltwiseParameter? = nil               // 110
    public var eluParam: ELUParameter? = nil                       // 140
    public var expParam: ExpParameter? = nil                       // 111
    public var flattenParam: FlattenParameter? = nil               // 135
    public var hdf5DataParam: HDF5DataParameter? = nil             // 112
    public var imageDataParam: ImageDataParameter? = nil           // 115
    public var innerProductParam: InnerProductParameter? = nil     // 117
    public var inputParam: InputParameter? = nil                   // 143
    public var logParam: LogParameter? = nil                       // 134
    public var poolingParam: PoolingParameter? = nil               // 121
    public var powerParam: PowerParameter? = nil                   // 122
    public var preluParam: PReLUParameter? = nil                   // 131
    public var reluParam: ReLUParameter? = nil                     // 123
    public var scaleParam: ScaleParameter? = nil                   // 142
    public var sigmoidParam: SigmoidParameter? = nil               // 124
    public var softmaxParam: SoftmaxParameter? = nil               // 125
    public var swishParam: SwishParameter? = nil                   // 147
    public var tanhParam: TanHParameter? = nil                     // 127
    public var thresholdParam: ThresholdParameter? = nil           // 128
    public var contrastiveLossParam: ContrastiveLossParameter? = nil // 105
    public var hingeLossParam: HingeLossParameter? = nil           // 114
    public var infogainLossParam: InfogainLossParameter? = nil     // 116
    public var lrnParam: LRNParameter? = nil                       // 118
    public var sliceParam: SliceParameter? = nil                   // 126
    public var reshapeParam: ReshapeParameter? = nil               // 133
    public var cropParam: CropParameter? = nil                     // 144
    public var argmaxParam: ArgMaxParameter? = nil                 // 103
    public var tileParam: TileParameter? = nil                     // 138
    public var reductionParam: ReductionParameter? = nil           // 136
    public var mvnParam: MVNParameter? = nil                       // 120
    public var embedParam: EmbedParameter? = nil                   // 137
    /// Where the layer starts in its file (1-based), for error messages; 0 when not from text.
    public var line: Int = 0
    public init(name: String = "", type: String = "") { self.name = name; self.type = type }
}

public struct NetParameter: Sendable, Equatable {
    public var name: String = ""                                   // 1
    public var input: [String] = []                                // 3 (upgraded to an Input layer)
    public var inputShape: [BlobShape] = []                        // 8
    public var inputDim: [Int32] = []                              // 4
    public var forceBackward: Bool = false                         // 5
    public var state: NetState? = nil                              // 6
    public var debugInfo: Bool = false                             // 7
    public var layer: [LayerParameter] = []                        // 100
    /// Legacy V1 layers. The readers upgrade them into `layer` (as Caffe's UpgradeV1Net does),
    /// so this is always empty in a value returned by `Prototxt` or `CaffeModel`.
    public var layers: [V1LayerParameter] = []                     // 2 (legacy)
    /// The file it came from (for error messages), empty when built in code.
    public var sourcePath: String = ""
    public init() {}
}

/// The deprecated V1 layer (NetParameter.layers = 2), as old prototxts and .caffemodels hold it.
/// Only what initdiag can upgrade is kept; `type` holds the V1 enum *name* (e.g. "CONVOLUTION").
/// Field numbers: BVLC/caffe src/caffe/proto/caffe.proto, message V1LayerParameter.
public struct V1LayerParameter: Sendable, Equatable {
    public var bottom: [String] = []                               // 2
    public var top: [String] = []                                  // 3
    public var name: String? = nil                                 // 4
    public var include: [NetStateRule] = []                        // 32
    public var exclude: [NetStateRule] = []                        // 33
    public var type: String? = nil                                 // 5 (enum LayerType, by name)
    public var blobs: [BlobProto] = []                             // 6
    public var param: [String] = []                                // 1001
    public var blobShareMode: [ParamSpec.ShareMode] = []           // 1002
    public var blobsLr: [Float] = []                               // 7
    public var weightDecay: [Float] = []                           // 8
    public var lossWeight: [Float] = []                            // 35
    public var accuracyParam: AccuracyParameter? = nil             // 27
    public var concatParam: ConcatParameter? = nil                 // 9
    public var convolutionParam: ConvolutionParameter? = nil       // 10
    public var dataParam: DataParameter? = nil                     // 11
    public var dropoutParam: DropoutParameter? = nil               // 12
    public var eltwiseParam: EltwiseParameter? = nil               // 24
    public var expParam: ExpParameter? = nil                       // 41
    public var hdf5DataParam: HDF5DataParameter? = nil             // 13
    public var imageDataParam: ImageDataParameter? = nil           // 15
    public var innerProductParam: InnerProductParameter? = nil     // 17
    public var poolingParam: PoolingParameter? = nil               // 19
    public var powerParam: PowerParameter? = nil                   // 21
    public var reluParam: ReLUParameter? = nil                     // 30
    public var sigmoidParam: SigmoidParameter? = nil               // 38
    public var softmaxParam: SoftmaxParameter? = nil               // 39
    public var tanhParam: TanHParameter? = nil                     // 37
    public var thresholdParam: ThresholdParameter? = nil           // 25
    public var transformParam: TransformationParameter? = nil      // 36
    public var lossParam: LossParameter? = nil                     // 42
    public var contrastiveLossParam: ContrastiveLossParameter? = nil // 40
    public var hingeLossParam: HingeLossParameter? = nil           // 29
    public var infogainLossParam: InfogainLossParameter? = nil     // 16
    public var lrnParam: LRNParameter? = nil                       // 18
    public var sliceParam: SliceParameter? = nil                   // 31
    public var argmaxParam: ArgMaxParameter? = nil                 // 23
    public var mvnParam: MVNParameter? = nil                       // 34
    /// Where the layer starts in its file (1-based), for error messages; 0 when not from text.
    public var line: Int = 0
    public var column: Int = 0
    public init() {}
}

/// BlobProtoVector (blobs = 1): several blobs in one binary file.
public struct BlobProtoVector: Sendable, Equatable {
    public var blobs: [BlobProto] = []                             // 1
    public init() {}
}

/// SolverState (.solverstate, BINARYPROTO snapshots).
public struct SolverState: Sendable, Equatable {
    public var iter: Int32 = 0                                     // 1
    public var learnedNet: String? = nil                           // 2
    public var history: [BlobProto] = []                           // 3
    public var currentStep: Int32 = 0                              // 4
    public init() {}
}

public struct SolverParameter: Sendable, Equatable {
    public enum SolverMode: String, Sendable, CaseIterable { case CPU, GPU }
    public enum SnapshotFormat: String, Sendable, CaseIterable { case HDF5, BINARYPROTO }
    public var net: String? = nil                                  // 24
    public var netParam: NetParameter? = nil                       // 25
    public var trainNet: String? = nil                             // 1
    public var testNet: [String] = []                              // 2
    public var trainNetParam: NetParameter? = nil                  // 21
    public var testNetParam: [NetParameter] = []                   // 22
    public var trainState: NetState? = nil                         // 26
    public var testState: [NetState] = []                          // 27
    public var testIter: [Int32] = []                              // 3
    public var testInterval: Int32 = 0                             // 4
    public var testComputeLoss: Bool = false                       // 19
    public var testInitialization: Bool = true                     // 32
    public var baseLr: Float = 0                                   // 5
    public var display: Int32 = 0                                  // 6
    public var averageLoss: Int32 = 1                              // 33
    public var maxIter: Int32 = 0                                  // 7
    public var iterSize: Int32 = 1                                 // 36
    public var lrPolicy: String? = nil                             // 8
    public var gamma: Float = 0                                    // 9
    public var power: Float = 0                                    // 10
    public var momentum: Float = 0                                 // 11
    public var weightDecay: Float = 0                              // 12
    public var regularizationType: String = "L2"                   // 29
    public var stepsize: Int32 = 0                                 // 13
    public var stepvalue: [Int32] = []                             // 34
    public var clipGradients: Float = -1                           // 35
    public var snapshot: Int32 = 0                                 // 14
    public var snapshotPrefix: String? = nil                       // 15
    public var snapshotDiff: Bool = false                          // 16
    public var snapshotFormat: SnapshotFormat = .BINARYPROTO       // 37
    public var solverMode: SolverMode = .GPU                       // 17
    public var deviceId: Int32 = 0                                 // 18
    public var randomSeed: Int64 = -1                              // 20
    public var type: String = "SGD"                                // 40
    public var delta: Float = 1e-8                                 // 31
    public var momentum2: Float = 0.999                            // 39
    public var rmsDecay: Float = 0.99                              // 38
    public var debugInfo: Bool = false                             // 23
    public var snapshotAfterTrain: Bool = true                     // 28
    public var solverType: String? = nil                           // 30 (deprecated enum, by name)
    public var layerWiseReduce: Bool = true                        // 41
    public var weights: [String] = []                              // 42
    /// The file it came from; relative `net` paths resolve against its folder.
    public var sourcePath: String = ""
    public init() {}
}
