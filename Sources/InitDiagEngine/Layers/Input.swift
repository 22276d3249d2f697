import InitDiagCore
import InitDiagTrace
/// Input: tops whose shapes come from input_param and whose data the caller writes
/// (Caffe input_layer.cpp). shape is given never, once for all tops, or once per top.
public final class InputLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public static var exactBottoms: Int? { 0 }
    public static var minTops: Int { 1 }
    public static var role: LayerRole { .data }
    /// The chain starts from what is measured at its tops.
    public var meanField: MeanFieldRule { .source }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let shapes = param.inputParam?.shape ?? []
        if !(shapes.isEmpty || shapes.count == 1 || shapes.count == param.top.count) {
            throw InputError("layer '\(param.name)' (Input): input_param gives \(shapes.count) shapes for \(param.top.count) tops; give one, or one per top")
        }
        for s in shapes {
            if s.dim.contains(where: { $0 < 0 || $0 > Int64(Int32.max) }) {
                throw InputError("layer '\(param.name)' (Input): shape \(s.dim) has a dimension out of range")
            }
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        let shapes = param.inputParam?.shape ?? []
        guard !shapes.isEmpty else { return }
        for (i, t) in top.enumerated() {
            let s = shapes.count == 1 ? shapes[0] : shapes[i]
            t.reshape(s.dim.map { Int($0) })
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {}
    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {}
    public func allowForceBackward(bottomIndex: Int) -> Bool { false }
}

/// Data: reads the next batch from a data set through the transformer (Caffe data_layer.cpp):
/// top 0 = images (N, C, H, W), optional top 1 = labels (N). Errors from the source are kept in
/// `lastError` and thrown by `Net.forward`, so a corrupt record stops the run cleanly.
///
/// Also Caffe's ImageData layer (image_data_layer.cpp): the same prefetching data layer over a
/// list of image files (`image_data_param`, batch_size default 1; `ImageListSource`), with
/// Caffe's setup draws (RunSetup.batchSources).
public final class DataLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public static var exactBottoms: Int? { 0 }
    public static var minTops: Int { 1 }
    public static var role: LayerRole { .data }
    /// The chain starts from what is measured at its tops.
    public var meanField: MeanFieldRule { .source }
    public static var maxTops: Int? { 2 }
    public private(set) var source: BatchSource?
    public private(set) var lastError: InputError?

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        if param.type == "ImageData" {
            if (param.imageDataParam ?? ImageDataParameter()).batchSize == 0 {
                throw InputError("layer '\(param.name)' (ImageData): image_data_param.batch_size must be positive")
            }
        } else {
            guard let dp = param.dataParam else {
                throw InputError("layer '\(param.name)' (Data): data_param is missing")
            }
            if dp.batchSize == 0 {
                throw InputError("layer '\(param.name)' (Data): data_param.batch_size must be positive")
            }
        }
        if let make = context.batchSources { source = try make(param) }
    }

    /// The layer's batch size as its parameters give it (data_param or image_data_param).
    public static func declaredBatchSize(_ param: LayerParameter) -> Int {
        param.type == "ImageData" ? Int((param.imageDataParam ?? ImageDataParameter()).batchSize) : Int(param.dataParam?.batchSize ?? 1)
    }

    /// Without a source (a net built only to be inspected) the shape is the CIFAR-10 record
    /// shape 3×32×32 after the crop; the caller says so in its output.
    public static let assumedRecordShape = [3, 32, 32]

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        var shape: [Int]
        let batch: Int
        if let s = source {
            shape = s.outputShape
            batch = s.batchSize
        } else {
            shape = DataLayer.assumedRecordShape
            batch = DataLayer.declaredBatchSize(param)
            if let crop = param.transformParam?.cropSize, crop > 0 {
                shape[1] = Int(crop); shape[2] = Int(crop)
            }
        }
        top[0].reshape([batch] + shape)
        if top.count > 1 { top[1].reshape([batch]) }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        guard let s = source else { return }
        do {
            try s.next(data: top[0], label: top.count > 1 ? top[1] : nil)
        } catch let e as InputError {
            lastError = e
        } catch {
            lastError = InputError("layer '\(param.name)' (Data): \(error)")
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {}
}
