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
    ]

    /// Caffe layer types that exist upstream but have no implementation here; named in errors so
    /// a user knows it is a limitation, not a typo.
    static let knownCaffeTypes: Set<String> = [
        "ArgMax", "ContrastiveLoss", "Crop", "Deconvolution", "DummyData",
        "Embed", "EuclideanLoss", "Filter", "HDF5Data", "HDF5Output", "HingeLoss",
        "Im2col", "ImageData", "InfogainLoss", "LRN", "LSTM", "MemoryData",
        "MultinomialLogisticLoss", "MVN", "Parameter", "Python", "Recurrent",
        "Reduction", "Reshape", "RNN", "SigmoidCrossEntropyLoss", "Silence", "Slice",
        "SPP", "Tile", "WindowData",
    ]

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
