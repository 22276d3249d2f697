import InitDiagCore
import InitDiagTrace
/// Layer type names (as written in `type:`) → the class that implements them.
public enum LayerFactory {
    nonisolated(unsafe) public static let implemented: [String: Layer.Type] = [
        "Accuracy": AccuracyLayer.self,
        "BatchNorm": BatchNormLayer.self,
        "Bias": BiasLayer.self,
        "Concat": ConcatLayer.self,
        "Convolution": ConvolutionLayer.self,
        "Data": DataLayer.self,
        "Dropout": DropoutLayer.self,
        "Eltwise": EltwiseLayer.self,
        "Flatten": FlattenLayer.self,
        "InnerProduct": InnerProductLayer.self,
        "Input": InputLayer.self,
        "Pooling": PoolingLayer.self,
        "ReLU": ReLULayer.self,
        "Scale": ScaleLayer.self,
        "Softmax": SoftmaxLayer.self,
        "SoftmaxWithLoss": SoftmaxWithLossLayer.self,
        "Split": SplitLayer.self,
        "TorchBatchNorm": TorchBatchNormLayer.self,
    ]

    /// Caffe layer types that exist upstream but have no implementation here; named in errors so
    /// a user knows it is a limitation, not a typo.
    static let knownCaffeTypes: Set<String> = [
        "AbsVal", "ArgMax", "BNLL", "Clip", "ContrastiveLoss", "Crop", "Deconvolution", "DummyData",
        "Embed", "ELU", "EuclideanLoss", "Exp", "Filter", "HDF5Data", "HDF5Output", "HingeLoss",
        "Im2col", "ImageData", "InfogainLoss", "Log", "LRN", "LSTM", "MemoryData",
        "MultinomialLogisticLoss", "MVN", "Parameter", "Power", "PReLU", "Python", "Recurrent",
        "Reduction", "Reshape", "RNN", "Sigmoid", "SigmoidCrossEntropyLoss", "Silence", "Slice",
        "SPP", "Swish", "TanH", "Threshold", "Tile", "WindowData",
    ]

    public static func type(named name: String, layer: LayerParameter, location: String) throws -> Layer.Type {
        if let t = implemented[name] { return t }
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
