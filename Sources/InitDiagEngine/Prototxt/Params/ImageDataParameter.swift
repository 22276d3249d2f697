import InitDiagCore
import InitDiagTrace
/// caffe.proto `ImageDataParameter` (LayerParameter field 115, V1 field 15), BVLC/caffe
/// src/caffe/proto/caffe.proto: the ImageData layer's list file and image handling. The
/// deprecated scale / mean_file / crop_size / mirror are read but, as in Caffe's ImageDataLayer,
/// not used: the layer transforms with `transform_param`.
public struct ImageDataParameter: Sendable, Equatable {
    public var source: String? = nil                               // 1
    public var batchSize: UInt32 = 1                               // 4
    public var randSkip: UInt32 = 0                                // 7
    public var shuffle: Bool = false                               // 8
    public var newHeight: UInt32 = 0                               // 9
    public var newWidth: UInt32 = 0                                // 10
    public var isColor: Bool = true                                // 11
    public var scale: Float = 1                                    // 2 (deprecated)
    public var meanFile: String? = nil                             // 3 (deprecated)
    public var cropSize: UInt32 = 0                                // 5 (deprecated)
    public var mirror: Bool = false                                // 6 (deprecated)
    public var rootFolder: String = ""                             // 12
    public init() {}
}

extension ImageDataParameter: CaffeMessage {
    static let schema = MessageSchema<ImageDataParameter>("ImageDataParameter", [
        .optional("source", 1, \.source),
        .scalar("batch_size", 4, \.batchSize),
        .scalar("rand_skip", 7, \.randSkip),
        .scalar("shuffle", 8, \.shuffle),
        .scalar("new_height", 9, \.newHeight),
        .scalar("new_width", 10, \.newWidth),
        .scalar("is_color", 11, \.isColor),
        .scalar("scale", 2, \.scale),
        .optional("mean_file", 3, \.meanFile),
        .scalar("crop_size", 5, \.cropSize),
        .scalar("mirror", 6, \.mirror),
        .scalar("root_folder", 12, \.rootFolder),
    ])
}
