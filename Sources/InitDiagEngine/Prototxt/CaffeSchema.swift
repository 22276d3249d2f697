import InitDiagCore
import InitDiagTrace
// The schema of every Caffe message initdiag reads: ONE entry per field, (text name, field
// number, key path), from which text decoding, text printing and the binary wire codecs all
// follow (ProtoSchema.swift). Names, numbers and packing: BVLC/caffe src/caffe/proto/caffe.proto
// (as listed in docs/semantics.md §1). `unsupported` lists the real caffe.proto fields initdiag does
// not implement, so that text naming them fails with that reason rather than "unknown field".

extension BlobShape: CaffeMessage {
    init() { self.init(dim: []) }
    static let schema = MessageSchema<BlobShape>("BlobShape", [
        .repeated("dim", 1, \.dim, packed: true),
    ])
}

extension BlobProto: CaffeMessage {
    static let schema = MessageSchema<BlobProto>("BlobProto", [
        .message("shape", 7, \.shape),
        .floats("data", 5, \.data, packed: true),
        .floats("diff", 6, \.diff, packed: true),
        .doubles("double_data", 8, \.doubleData),
        .doubles("double_diff", 9, \.doubleDiff),
        .optional("num", 1, \.num),
        .optional("channels", 2, \.channels),
        .optional("height", 3, \.height),
        .optional("width", 4, \.width),
    ])
}

extension BlobProtoVector: CaffeMessage {
    static let schema = MessageSchema<BlobProtoVector>("BlobProtoVector", [
        .messages("blobs", 1, \.blobs),
    ])
}

extension Datum: CaffeMessage {
    static let schema = MessageSchema<Datum>("Datum", [
        .scalar("channels", 1, \.channels),
        .scalar("height", 2, \.height),
        .scalar("width", 3, \.width),
        .bytes("data", 4, \.data),
        .scalar("label", 5, \.label),
        .floats("float_data", 6, \.floatData, packed: false),
        .scalar("encoded", 7, \.encoded),
    ])
}

extension FillerParameter: CaffeMessage {
    init() { self.init(type: "constant") }
    static let schema = MessageSchema<FillerParameter>("FillerParameter", [
        .scalar("type", 1, \.type),
        .scalar("value", 2, \.value),
        .scalar("min", 3, \.min),
        .scalar("max", 4, \.max),
        .scalar("mean", 5, \.mean),
        .scalar("std", 6, \.std),
        .scalar("sparse", 7, \.sparse),
        .scalar("variance_norm", 8, \.varianceNorm),
    ])
}

extension NetState: CaffeMessage {
    init() { self.init(phase: .TEST, level: 0, stage: []) }
    static let schema = MessageSchema<NetState>("NetState", [
        .scalar("phase", 1, \.phase),
        .scalar("level", 2, \.level),
        .repeated("stage", 3, \.stage),
    ])
}

extension NetStateRule: CaffeMessage {
    static let schema = MessageSchema<NetStateRule>("NetStateRule", [
        .optional("phase", 1, \.phase),
        .optional("min_level", 2, \.minLevel),
        .optional("max_level", 3, \.maxLevel),
        .repeated("stage", 4, \.stage),
        .repeated("not_stage", 5, \.notStage),
    ])
}

extension ParamSpec: CaffeMessage {
    static let schema = MessageSchema<ParamSpec>("ParamSpec", [
        .optional("name", 1, \.name),
        .scalar("share_mode", 2, \.shareMode),
        .scalar("lr_mult", 3, \.lrMult),
        .scalar("decay_mult", 4, \.decayMult),
    ])
}

extension TransformationParameter: CaffeMessage {
    static let schema = MessageSchema<TransformationParameter>("TransformationParameter", [
        .scalar("scale", 1, \.scale),
        .scalar("mirror", 2, \.mirror),
        .scalar("crop_size", 3, \.cropSize),
        .optional("mean_file", 4, \.meanFile),
        .repeated("mean_value", 5, \.meanValue),
        .scalar("force_color", 6, \.forceColor),
        .scalar("force_gray", 7, \.forceGray),
    ])
}

extension LossParameter: CaffeMessage {
    static let schema = MessageSchema<LossParameter>("LossParameter", [
        .optional("ignore_label", 1, \.ignoreLabel),
        .optional("normalization", 3, \.normalization),
        .optional("normalize", 2, \.normalize),
    ])
}

extension AccuracyParameter: CaffeMessage {
    static let schema = MessageSchema<AccuracyParameter>("AccuracyParameter", [
        .scalar("top_k", 1, \.topK),
        .scalar("axis", 2, \.axis),
        .optional("ignore_label", 3, \.ignoreLabel),
    ])
}

extension ConvolutionParameter: CaffeMessage {
    static let schema = MessageSchema<ConvolutionParameter>("ConvolutionParameter", [
        .scalar("num_output", 1, \.numOutput),
        .scalar("bias_term", 2, \.biasTerm),
        .repeated("pad", 3, \.pad),
        .repeated("kernel_size", 4, \.kernelSize),
        .repeated("stride", 6, \.stride),
        .repeated("dilation", 18, \.dilation),
        .optional("pad_h", 9, \.padH),
        .optional("pad_w", 10, \.padW),
        .optional("kernel_h", 11, \.kernelH),
        .optional("kernel_w", 12, \.kernelW),
        .optional("stride_h", 13, \.strideH),
        .optional("stride_w", 14, \.strideW),
        .scalar("group", 5, \.group),
        .message("weight_filler", 7, \.weightFiller),
        .message("bias_filler", 8, \.biasFiller),
        .scalar("engine", 15, \.engine),
        .scalar("axis", 16, \.axis),
        .scalar("force_nd_im2col", 17, \.forceNdIm2col),
    ])
}

extension PoolingParameter: CaffeMessage {
    static let schema = MessageSchema<PoolingParameter>("PoolingParameter", [
        .scalar("pool", 1, \.pool),
        .scalar("pad", 4, \.pad),
        .optional("pad_h", 9, \.padH),
        .optional("pad_w", 10, \.padW),
        .optional("kernel_size", 2, \.kernelSize),
        .optional("kernel_h", 5, \.kernelH),
        .optional("kernel_w", 6, \.kernelW),
        .scalar("stride", 3, \.stride),
        .optional("stride_h", 7, \.strideH),
        .optional("stride_w", 8, \.strideW),
        .scalar("engine", 11, \.engine),
        .scalar("global_pooling", 12, \.globalPooling),
        .scalar("round_mode", 13, \.roundMode),
    ])
}

extension InnerProductParameter: CaffeMessage {
    static let schema = MessageSchema<InnerProductParameter>("InnerProductParameter", [
        .scalar("num_output", 1, \.numOutput),
        .scalar("bias_term", 2, \.biasTerm),
        .message("weight_filler", 3, \.weightFiller),
        .message("bias_filler", 4, \.biasFiller),
        .scalar("axis", 5, \.axis),
        .scalar("transpose", 6, \.transpose),
    ])
}

extension ReLUParameter: CaffeMessage {
    static let schema = MessageSchema<ReLUParameter>("ReLUParameter", [
        .scalar("negative_slope", 1, \.negativeSlope),
        .scalar("engine", 2, \.engine),
    ])
}

extension DropoutParameter: CaffeMessage {
    static let schema = MessageSchema<DropoutParameter>("DropoutParameter", [
        .scalar("dropout_ratio", 1, \.dropoutRatio),
    ])
}

extension BatchNormParameter: CaffeMessage {
    static let schema = MessageSchema<BatchNormParameter>("BatchNormParameter", [
        .optional("use_global_stats", 1, \.useGlobalStats),
        .scalar("moving_average_fraction", 2, \.movingAverageFraction),
        .scalar("eps", 3, \.eps),
    ])
}

extension ScaleParameter: CaffeMessage {
    static let schema = MessageSchema<ScaleParameter>("ScaleParameter", [
        .scalar("axis", 1, \.axis),
        .scalar("num_axes", 2, \.numAxes),
        .message("filler", 3, \.filler),
        .scalar("bias_term", 4, \.biasTerm),
        .message("bias_filler", 5, \.biasFiller),
    ])
}

extension BiasParameter: CaffeMessage {
    static let schema = MessageSchema<BiasParameter>("BiasParameter", [
        .scalar("axis", 1, \.axis),
        .scalar("num_axes", 2, \.numAxes),
        .message("filler", 3, \.filler),
    ])
}

extension SoftmaxParameter: CaffeMessage {
    static let schema = MessageSchema<SoftmaxParameter>("SoftmaxParameter", [
        .scalar("engine", 1, \.engine),
        .scalar("axis", 2, \.axis),
    ])
}

extension InputParameter: CaffeMessage {
    static let schema = MessageSchema<InputParameter>("InputParameter", [
        .messages("shape", 1, \.shape),
    ])
}

extension EltwiseParameter: CaffeMessage {
    static let schema = MessageSchema<EltwiseParameter>("EltwiseParameter", [
        .scalar("operation", 1, \.operation),
        .repeated("coeff", 2, \.coeff),
        .scalar("stable_prod_grad", 3, \.stableProdGrad),
    ])
}

extension ConcatParameter: CaffeMessage {
    static let schema = MessageSchema<ConcatParameter>("ConcatParameter", [
        .scalar("axis", 2, \.axis),
        .optional("concat_dim", 1, \.concatDim),
    ])
}

extension FlattenParameter: CaffeMessage {
    static let schema = MessageSchema<FlattenParameter>("FlattenParameter", [
        .scalar("axis", 1, \.axis),
        .scalar("end_axis", 2, \.endAxis),
    ])
}

extension DataParameter: CaffeMessage {
    static let schema = MessageSchema<DataParameter>("DataParameter", [
        .optional("source", 1, \.source),
        .scalar("batch_size", 4, \.batchSize),
        .scalar("rand_skip", 7, \.randSkip),
        .scalar("backend", 8, \.backend),
        .scalar("scale", 2, \.scale),
        .optional("mean_file", 3, \.meanFile),
        .scalar("crop_size", 5, \.cropSize),
        .scalar("mirror", 6, \.mirror),
        .scalar("force_encoded_color", 9, \.forceEncodedColor),
        .scalar("prefetch", 10, \.prefetch),
    ])
}

extension HDF5DataParameter: CaffeMessage {
    static let schema = MessageSchema<HDF5DataParameter>("HDF5DataParameter", [
        .optional("source", 1, \.source),
        .scalar("batch_size", 2, \.batchSize),
        .scalar("shuffle", 3, \.shuffle),
    ])
}

extension LayerParameter: CaffeMessage {
    init() { self.init(name: "", type: "") }
    mutating func didDecodeText(at location: TextLocation) { line = location.line }

    static let schema = MessageSchema<LayerParameter>("LayerParameter", [
        .scalar("name", 1, \.name),
        .scalar("type", 2, \.type),
        .repeated("bottom", 3, \.bottom),
        .repeated("top", 4, \.top),
        .optional("phase", 10, \.phase),
        .repeated("loss_weight", 5, \.lossWeight),
        .messages("param", 6, \.param),
        .messages("blobs", 7, \.blobs),
        .repeated("propagate_down", 11, \.propagateDown),
        .messages("include", 8, \.include),
        .messages("exclude", 9, \.exclude),
        .message("transform_param", 100, \.transformParam),
        .message("loss_param", 101, \.lossParam),
        .message("accuracy_param", 102, \.accuracyParam),
        .message("batch_norm_param", 139, \.batchNormParam),
        .message("bias_param", 141, \.biasParam),
        .message("clip_param", 148, \.clipParam),
        .message("concat_param", 104, \.concatParam),
        .message("convolution_param", 106, \.convolutionParam),
        .message("data_param", 107, \.dataParam),
        .message("dropout_param", 108, \.dropoutParam),
        .message("eltwise_param", 110, \.eltwiseParam),
        .message("elu_param", 140, \.eluParam),
        .message("exp_param", 111, \.expParam),
        .message("flatten_param", 135, \.flattenParam),
        .message("hdf5_data_param", 112, \.hdf5DataParam),
        .message("image_data_param", 115, \.imageDataParam),
        .message("inner_product_param", 117, \.innerProductParam),
        .message("input_param", 143, \.inputParam),
        .message("log_param", 134, \.logParam),
        .message("pooling_param", 121, \.poolingParam),
        .message("power_param", 122, \.powerParam),
        .message("prelu_param", 131, \.preluParam),
        .message("relu_param", 123, \.reluParam),
        .message("scale_param", 142, \.scaleParam),
        .message("sigmoid_param", 124, \.sigmoidParam),
        .message("softmax_param", 125, \.softmaxParam),
        .message("swish_param", 147, \.swishParam),
        .message("tanh_param", 127, \.tanhParam),
        .message("threshold_param", 128, \.thresholdParam),
        .message("contrastive_loss_param", 105, \.contrastiveLossParam),
        .message("hinge_loss_param", 114, \.hingeLossParam),
        .message("infogain_loss_param", 116, \.infogainLossParam),
        .message("lrn_param", 118, \.lrnParam),
        .message("slice_param", 126, \.sliceParam),
        .message("reshape_param", 133, \.reshapeParam),
        .message("crop_param", 144, \.cropParam),
        .message("argmax_param", 103, \.argmaxParam),
        .message("tile_param", 138, \.tileParam),
        .message("reduction_param", 136, \.reductionParam),
        .message("mvn_param", 120, \.mvnParam),
        .message("embed_param", 137, \.embedParam),
    ], unsupported: [
        // BVLC/caffe master LayerParameter fields without an initdiag implementation.
        "dummy_data_param": 109, "hdf5_output_param": 113, "memory_data_param": 119, "parameter_param": 145,
        "python_param": 130, "recurrent_param": 146, "spp_param": 132, "window_data_param": 129,
    ])
}

/// V1LayerParameter.LayerType: (enum name, number) and the layer type string Caffe's
/// UpgradeV1LayerType gives it (BVLC/caffe src/caffe/util/upgrade_proto.cpp).
enum V1LayerTypes {
    static let table: [(name: String, number: Int32, type: String)] = [
        ("NONE", 0, ""), ("ABSVAL", 35, "AbsVal"), ("ACCURACY", 1, "Accuracy"),
        ("ARGMAX", 30, "ArgMax"), ("BNLL", 2, "BNLL"), ("CONCAT", 3, "Concat"),
        ("CONTRASTIVE_LOSS", 37, "ContrastiveLoss"), ("CONVOLUTION", 4, "Convolution"),
        ("DATA", 5, "Data"), ("DECONVOLUTION", 39, "Deconvolution"), ("DROPOUT", 6, "Dropout"),
        ("DUMMY_DATA", 32, "DummyData"), ("EUCLIDEAN_LOSS", 7, "EuclideanLoss"),
        ("ELTWISE", 25, "Eltwise"), ("EXP", 38, "Exp"), ("FLATTEN", 8, "Flatten"),
        ("HDF5_DATA", 9, "HDF5Data"), ("HDF5_OUTPUT", 10, "HDF5Output"),
        ("HINGE_LOSS", 28, "HingeLoss"), ("IM2COL", 11, "Im2col"), ("IMAGE_DATA", 12, "ImageData"),
        ("INFOGAIN_LOSS", 13, "InfogainLoss"), ("INNER_PRODUCT", 14, "InnerProduct"),
        ("LRN", 15, "LRN"), ("MEMORY_DATA", 29, "MemoryData"),
        ("MULTINOMIAL_LOGISTIC_LOSS", 16, "MultinomialLogisticLoss"), ("MVN", 34, "MVN"),
        ("POOLING", 17, "Pooling"), ("POWER", 26, "Power"), ("RELU", 18, "ReLU"),
        ("SIGMOID", 19, "Sigmoid"), ("SIGMOID_CROSS_ENTROPY_LOSS", 27, "SigmoidCrossEntropyLoss"),
        ("SILENCE", 36, "Silence"), ("SOFTMAX", 20, "Softmax"), ("SOFTMAX_LOSS", 21, "SoftmaxWithLoss"),
        ("SPLIT", 22, "Split"), ("SLICE", 33, "Slice"), ("TANH", 23, "TanH"),
        ("WINDOW_DATA", 24, "WindowData"), ("THRESHOLD", 31, "Threshold"),
    ]
    static let typeByName: [String: String] = Dictionary(table.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
}

extension V1LayerParameter: CaffeMessage {
    mutating func didDecodeText(at location: TextLocation) { line = location.line; column = location.column }

    static let schema = MessageSchema<V1LayerParameter>("V1LayerParameter", [
        .repeated("bottom", 2, \.bottom),
        .repeated("top", 3, \.top),
        .optional("name", 4, \.name),
        .messages("include", 32, \.include),
        .messages("exclude", 33, \.exclude),
        .namedEnum("type", 5, \.type, enumName: "LayerType", example: "CONVOLUTION", values: V1LayerTypes.table.map { ($0.name, $0.number) }),
        .messages("blobs", 6, \.blobs),
        .repeated("param", 1001, \.param),
        .repeated("blob_share_mode", 1002, \.blobShareMode),
        .repeated("blobs_lr", 7, \.blobsLr),
        .repeated("weight_decay", 8, \.weightDecay),
        .repeated("loss_weight", 35, \.lossWeight),
        .message("accuracy_param", 27, \.accuracyParam),
        .message("concat_param", 9, \.concatParam),
        .message("convolution_param", 10, \.convolutionParam),
        .message("data_param", 11, \.dataParam),
        .message("dropout_param", 12, \.dropoutParam),
        .message("eltwise_param", 24, \.eltwiseParam),
        .message("exp_param", 41, \.expParam),
        .message("hdf5_data_param", 13, \.hdf5DataParam),
        .message("image_data_param", 15, \.imageDataParam),
        .message("inner_product_param", 17, \.innerProductParam),
        .message("pooling_param", 19, \.poolingParam),
        .message("power_param", 21, \.powerParam),
        .message("relu_param", 30, \.reluParam),
        .message("sigmoid_param", 38, \.sigmoidParam),
        .message("softmax_param", 39, \.softmaxParam),
        .message("tanh_param", 37, \.tanhParam),
        .message("threshold_param", 25, \.thresholdParam),
        .message("transform_param", 36, \.transformParam),
        .message("loss_param", 42, \.lossParam),
        .message("contrastive_loss_param", 40, \.contrastiveLossParam),
        .message("hinge_loss_param", 29, \.hingeLossParam),
        .message("infogain_loss_param", 16, \.infogainLossParam),
        .message("lrn_param", 18, \.lrnParam),
        .message("slice_param", 31, \.sliceParam),
        .message("argmax_param", 23, \.argmaxParam),
        .message("mvn_param", 34, \.mvnParam),
    ], unsupported: [
        // `layer` (1) is the V0 format nested in V1 `layers`; the rest are layer parameters
        // without an initdiag implementation.
        "layer": 1, "dummy_data_param": 26, "hdf5_output_param": 14, "memory_data_param": 22,
        "window_data_param": 20,
    ], notes: ["layer": "'layer' inside V1 'layers' (the V0 net format)"])
}

extension NetParameter: CaffeMessage {
    static let schema = MessageSchema<NetParameter>("NetParameter", [
        .scalar("name", 1, \.name),
        .repeated("input", 3, \.input),
        .messages("input_shape", 8, \.inputShape),
        .repeated("input_dim", 4, \.inputDim),
        .scalar("force_backward", 5, \.forceBackward),
        .message("state", 6, \.state),
        .scalar("debug_info", 7, \.debugInfo),
        .messages("layer", 100, \.layer),
        .messages("layers", 2, \.layers),
    ])
}

/// SolverParameter.SolverType (deprecated; BVLC/caffe caffe.proto) and the `type` string
/// UpgradeSolverType gives each (BVLC/caffe src/caffe/util/upgrade_proto.cpp).
enum SolverTypes {
    static let table: [(name: String, number: Int32, type: String)] = [
        ("SGD", 0, "SGD"), ("NESTEROV", 1, "Nesterov"), ("ADAGRAD", 2, "AdaGrad"),
        ("RMSPROP", 3, "RMSProp"), ("ADADELTA", 4, "AdaDelta"), ("ADAM", 5, "Adam"),
    ]
    static let typeByName: [String: String] = Dictionary(table.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
}

extension SolverParameter: CaffeMessage {
    static let schema = MessageSchema<SolverParameter>("SolverParameter", [
        .optional("net", 24, \.net),
        .message("net_param", 25, \.netParam),
        .optional("train_net", 1, \.trainNet),
        .repeated("test_net", 2, \.testNet),
        .message("train_net_param", 21, \.trainNetParam),
        .messages("test_net_param", 22, \.testNetParam),
        .message("train_state", 26, \.trainState),
        .messages("test_state", 27, \.testState),
        .repeated("test_iter", 3, \.testIter),
        .scalar("test_interval", 4, \.testInterval),
        .scalar("test_compute_loss", 19, \.testComputeLoss),
        .scalar("test_initialization", 32, \.testInitialization),
        .scalar("base_lr", 5, \.baseLr),
        .scalar("display", 6, \.display),
        .scalar("average_loss", 33, \.averageLoss),
        .scalar("max_iter", 7, \.maxIter),
        .scalar("iter_size", 36, \.iterSize),
        .optional("lr_policy", 8, \.lrPolicy),
        .scalar("gamma", 9, \.gamma),
        .scalar("power", 10, \.power),
        .scalar("momentum", 11, \.momentum),
        .scalar("weight_decay", 12, \.weightDecay),
        .scalar("regularization_type", 29, \.regularizationType),
        .scalar("stepsize", 13, \.stepsize),
        .repeated("stepvalue", 34, \.stepvalue),
        .scalar("clip_gradients", 35, \.clipGradients),
        .scalar("snapshot", 14, \.snapshot),
        .optional("snapshot_prefix", 15, \.snapshotPrefix),
        .scalar("snapshot_diff", 16, \.snapshotDiff),
        .scalar("snapshot_format", 37, \.snapshotFormat),
        .scalar("solver_mode", 17, \.solverMode),
        .scalar("device_id", 18, \.deviceId),
        .scalar("random_seed", 20, \.randomSeed),
        .scalar("type", 40, \.type),
        .scalar("delta", 31, \.delta),
        .scalar("momentum2", 39, \.momentum2),
        .scalar("rms_decay", 38, \.rmsDecay),
        .scalar("debug_info", 23, \.debugInfo),
        .scalar("snapshot_after_train", 28, \.snapshotAfterTrain),
        .namedEnum("solver_type", 30, \.solverType, enumName: "SolverType", example: "SGD", values: SolverTypes.table.map { ($0.name, $0.number) }),
        .scalar("layer_wise_reduce", 41, \.layerWiseReduce),
        .repeated("weights", 42, \.weights),
    ])
}

extension SolverState: CaffeMessage {
    static let schema = MessageSchema<SolverState>("SolverState", [
        .scalar("iter", 1, \.iter),
        .optional("learned_net", 2, \.learnedNet),
        .messages("history", 3, \.history),
        .scalar("current_step", 4, \.currentStep),
    ])
}
