import InitDiagCore
import InitDiagTrace
/// Caffe's HDF5Data layer (BVLC/caffe src/caffe/layers/hdf5_data_layer.cpp).
///
/// `hdf5_data_param { source: "list.txt" batch_size: N shuffle: false }`: the source is a text
/// file listing HDF5 files (see `HDF5DataReader` for how paths resolve, the order, the shuffle
/// and exact resume). Each file holds one dataset per top, named after the top, e.g. `data`
/// (rows, C, H, W) or (rows, D) and `label` (rows); top j gets shape [N] + the dataset's
/// dimensions after the first, and batch after batch the next N rows, in order across files,
/// wrapping. Values are copied unchanged: Caffe refuses transform_param here ("HDF5Data does
/// not transform data"), and so does initdiag. No parameters to learn, no backward, no draws
/// from the run's generator (`generatorDrawsPerForward` 0: Caffe shuffles with rand()).
///
/// `--data hdf5:LIST` replaces the layer's source; another `--data` source (e.g. `synthetic`)
/// feeds its first two tops as data and label. Without a run (a net built to be inspected) the
/// shapes come from the source's first file. Read errors in a later file are kept in `lastError`
/// and thrown by `Net.forward`, one line naming the file.
public final class HDF5DataLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public private(set) var source: BatchSource?
    public private(set) var lastError: InputError?
    public let batchSize: Int

    public static var exactBottoms: Int? { 0 }
    public static var minTops: Int { 1 }
    public static var role: LayerRole { .data }
    public var meanField: MeanFieldRule { .source }
    public var generatorDrawsPerForward: Int { 0 }
    public func allowForceBackward(bottomIndex: Int) -> Bool { false }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        if param.transformParam != nil {
            throw InputError("layer '\(param.name)' (HDF5Data): HDF5Data does not transform data (Caffe refuses transform_param here); remove transform_param")
        }
        guard let p = param.hdf5DataParam else {
            throw InputError("layer '\(param.name)' (HDF5Data): hdf5_data_param is missing")
        }
        guard p.batchSize > 0 else {
            throw InputError("layer '\(param.name)' (HDF5Data): hdf5_data_param.batch_size must be positive")
        }
        batchSize = Int(p.batchSize)
        if let make = context.batchSources {
            source = try make(param)
        } else {
            source = try HDF5DataLayer.reader(param, listPath: nil)
        }
    }

    /// The reader for the layer's own source, or for `listPath` when given (`--data hdf5:LIST`).
    public static func reader(_ param: LayerParameter, listPath: String?) throws -> HDF5DataReader {
        let p = param.hdf5DataParam ?? HDF5DataParameter()
        guard let list = listPath ?? p.source, !list.isEmpty else {
            throw InputError("layer '\(param.name)' (HDF5Data): hdf5_data_param.source is not set; pass --data hdf5:LIST")
        }
        do {
            return try HDF5DataReader(listPath: list, layerName: param.name, tops: param.top,
                                      batchSize: Int(p.batchSize), shuffle: p.shuffle)
        } catch let e as InputError where listPath == nil && e.message.hasPrefix("\(list): cannot open") {
            throw InputError("\(e.message); pass --data hdf5:LIST")
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        if let reader = source as? HDF5DataReader {
            for (j, t) in top.enumerated() { t.reshape([batchSize] + reader.rowShapes[j]) }
        } else if let s = source {
            guard top.count <= 2 else {
                throw InputError("layer '\(param.name)' (HDF5Data): \(s.description) gives data and label only, but the layer has \(top.count) tops; pass --data hdf5:LIST")
            }
            top[0].reshape([s.batchSize] + s.outputShape)
            if top.count > 1 { top[1].reshape([s.batchSize]) }
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        guard let s = source else { return }
        do {
            if let reader = s as? HDF5DataReader {
                try reader.next(tops: top)
            } else {
                try s.next(data: top[0], label: top.count > 1 ? top[1] : nil)
            }
        } catch let e as InputError {
            lastError = e
        } catch {
            lastError = InputError("layer '\(param.name)' (HDF5Data): \(error)")
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {}
}
