import InitDiagCore
import InitDiagTrace
import Foundation

/// Layer type names (as written in `type:`) → the class that implements them.
public enum LayerFactory {
    nonisolated(unsafe) public static let implemented: [String: Layer.Type] = [
        "AbsVal": AbsValLayer.self,
        "Accuracy": AccuracyLayer.self,
        "BatchNorm": BatchNormLayer.self,
        "Bias": BiasLayer.self,
        "BNLL": BNLLLayer.self,
        "Clip": ClipLayer.self,
        "Concat": ConcatLayer.self,
        "Convolution": ConvolutionLayer.self,
        "Data": DataLayer.self,
        "Dropout": DropoutLayer.self,
        "Eltwise": EltwiseLayer.self,
        "ELU": ELULayer.self,
        "Exp": ExpLayer.self,
        "Flatten": FlattenLayer.self,
        "InnerProduct": InnerProductLayer.self,
        "Input": InputLayer.self,
        "Log": LogLayer.self,
        "Pooling": PoolingLayer.self,
        "Power": PowerLayer.self,
        "PReLU": PReLULayer.self,
        "ReLU": ReLULayer.self,
        "Scale": ScaleLayer.self,
        "Sigmoid": SigmoidLayer.self,
        "Softmax": SoftmaxLayer.self,
        "SoftmaxWithLoss": SoftmaxWithLossLayer.self,
        "Split": SplitLayer.self,
        "Swish": SwishLayer.self,
        "TanH": TanHLayer.self,
        "Threshold": ThresholdLayer.self,
        "ImageData": DataLayer.self,
        "LRN": LRNLayer.self,
        "Slice": SliceLayer.self,
        "Reshape": ReshapeLayer.self,
        "Silence": SilenceLayer.self,
        "Deconvolution": DeconvolutionLayer.self,
        "Crop": CropLayer.self,
        "Tile": TileLayer.self,
        "Reduction": ReductionLayer.self,
        "ArgMax": ArgMaxLayer.self,
        "MVN": MVNLayer.self,
        "Embed": EmbedLayer.self,
        "ContrastiveLoss": ContrastiveLossLayer.self,
        "EuclideanLoss": EuclideanLossLayer.self,
        "HDF5Data": HDF5DataLayer.self,
        "HingeLoss": HingeLossLayer.self,
        "InfogainLoss": InfogainLossLayer.self,
        "MultinomialLogisticLoss": MultinomialLogisticLossLayer.self,
        "SigmoidCrossEntropyLoss": SigmoidCrossEntropyLossLayer.self,
        "TorchBatchNorm": TorchBatchNormLayer.self,
    ]

    /// Every layer type of BVLC Caffe's final master (src/caffe/layers/, registered with
    /// REGISTER_LAYER_CLASS): those without an implementation here are named as such in errors, so
    /// a user knows it is a limitation, not a typo.
    static let caffeTypes: Set<String> = [
        "AbsVal", "Accuracy", "ArgMax", "BatchNorm", "BatchReindex", "Bias", "BNLL", "Clip", "Concat",
        "ContrastiveLoss", "Convolution", "Crop", "Data", "Deconvolution", "Dropout", "DummyData",
        "Eltwise", "ELU", "Embed", "EuclideanLoss", "Exp", "Filter", "Flatten", "HDF5Data",
        "HDF5Output", "HingeLoss", "Im2col", "ImageData", "InfogainLoss", "InnerProduct", "Input",
        "Log", "LRN", "LSTM", "LSTMUnit", "MemoryData", "MultinomialLogisticLoss", "MVN", "Parameter",
        "Pooling", "Power", "PReLU", "Python", "Recurrent", "Reduction", "ReLU", "Reshape", "RNN",
        "Scale", "Sigmoid", "SigmoidCrossEntropyLoss", "Silence", "Slice", "Softmax",
        "SoftmaxWithLoss", "Split", "SPP", "Swish", "TanH", "Threshold", "Tile", "WindowData",
    ]
    /// The upstream types initdiag does not implement.
    static var knownCaffeTypes: Set<String> { caffeTypes.subtracting(implemented.keys) }

    /// Types added at run time by `register` (a test's layer, a plug-in), looked up after
    /// `implemented`.
    private static let registered = RegisteredLayerTypes()

    /// Makes `type` available under `name` for nets built from now on (`implemented` wins where
    /// both have the name). For layers that live outside the library, e.g. in a test target.
    public static func register(_ type: Layer.Type, as name: String) {
        registered.set(type, for: name)
    }

    public static func type(named name: String, layer: LayerParameter, location: String) throws -> Layer.Type {
        if let t = implemented[name] { return t }
        if let t = registered.type(for: name) { return t }
        let supported = implemented.keys.sorted().joined(separator: ", ")
        if knownCaffeTypes.contains(name) {
            throw InputError("\(location)layer '\(layer.name)': type '\(name)' is a Caffe layer initdiag does not implement (supported: \(supported))")
        }
        if let near = closestName(to: name, in: Array(implemented.keys)) {
            throw InputError("\(location)layer '\(layer.name)': unknown layer type '\(name)'; did you mean '\(near)'?")
        }
        throw InputError("\(location)layer '\(layer.name)': unknown layer type '\(name)' (supported: \(supported))")
    }
}

/// The run-time additions to the factory, behind a lock (registration may come from any thread).
private final class RegisteredLayerTypes: @unchecked Sendable {
    private let lock = NSLock()
    private var types: [String: Layer.Type] = [:]
    func set(_ type: Layer.Type, for name: String) { lock.withLock { types[name] = type } }
    func type(for name: String) -> Layer.Type? { lock.withLock { types[name] } }
}
