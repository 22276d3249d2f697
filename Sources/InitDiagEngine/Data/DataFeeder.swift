import InitDiagCore
import InitDiagTrace
/// What a Caffe Data layer puts out, batch after batch (BVLC/caffe src/caffe/layers/data_layer.cpp):
/// `batchSize` records taken in the source's order (wrapping), each transformed by the
/// `DataTransformer` into the data top (N, C, H′, W′), and their labels as floats into the label
/// top (N).
///
/// The top shapes are inferred from the first record (and the crop size) when the feeder is made
/// (Caffe's DataLayerSetUp peeks at the first datum); that record is not consumed — it is the
/// first item of the first batch. Caffe re-infers the shape per batch and fails on a different
/// shape within a batch; initdiag requires every record to have the first record's shape and
/// throws an `InputError` naming the record otherwise.
///
/// Records are read and transformed one at a time, in order, so the transformer's random draws
/// happen in Caffe's order (one prefetch thread, items in order). Nothing is allocated per batch
/// once the blobs have their size.
public final class DataFeeder {
    public let source: DataSource
    public let transformer: DataTransformer
    public let batchSize: Int
    /// Shape of one stored record (C, H, W).
    public let recordShape: (channels: Int, height: Int, width: Int)
    /// Shape of one transformed item (C, H′, W′).
    public let itemShape: (channels: Int, height: Int, width: Int)
    private let record = DataRecord()
    /// The first record, read at setup and handed out first.
    private var peeked = true
    /// Number of records handed out so far.
    public private(set) var recordsRead = 0

    public var phase: Phase { transformer.phase }

    /// Shape of the data top: [batchSize, C, H′, W′].
    public var dataShape: [Int] { [batchSize, itemShape.channels, itemShape.height, itemShape.width] }
    /// Shape of the label top: [batchSize].
    public var labelShape: [Int] { [batchSize] }

    /// Reads the first record of `source` to infer the shapes. Throws `InputError` if the batch
    /// size is not positive, the first record is unreadable, or it does not fit the transform
    /// parameters (crop larger than the image, mean of another shape, mean_value count).
    public init(source: DataSource, transformer: DataTransformer, batchSize: Int) throws {
        guard batchSize > 0 else {
            throw InputError("\(source.description): batch_size must be positive, got \(batchSize)")
        }
        self.source = source
        self.transformer = transformer
        self.batchSize = batchSize
        try source.next(into: record)
        recordShape = (record.channels, record.height, record.width)
        itemShape = try transformer.outputShape(channels: record.channels, height: record.height,
                                                width: record.width, what: record.name)
    }

    /// Consumes the draws a Caffe Data layer takes from the run's generator at setup and seeds the
    /// transformer with the one Caffe uses (see `DataTransformer.seedLikePrefetchingDataLayer`).
    /// Call it where the net sets the layer up (Data layers come first, before the fillers draw).
    public func seedLikeCaffeDataLayer(from random: RandomSource) {
        transformer.seedLikePrefetchingDataLayer(from: random)
    }

    /// Fills the next batch: `data` is reshaped to `dataShape`, `label` (if given) to
    /// `labelShape`, and written.
    public func nextBatch(data: Blob, label: Blob?) throws {
        data.reshape(dataShape)
        label?.reshape(labelShape)
        try nextBatch(data: data.data, labels: label?.data)
    }

    /// Fills the next batch into raw buffers of `batchSize·C·H′·W′` and `batchSize` floats.
    public func nextBatch(data: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Float>?) throws {
        let itemCount = itemShape.channels * itemShape.height * itemShape.width
        for item in 0..<batchSize {
            if peeked {
                peeked = false
            } else {
                try source.next(into: record)
            }
            guard record.channels == recordShape.channels, record.height == recordShape.height, record.width == recordShape.width else {
                throw InputError("\(record.name): image is \(record.channels)×\(record.height)×\(record.width) but the first record was \(recordShape.channels)×\(recordShape.height)×\(recordShape.width); all records must have one shape")
            }
            try transformer.transform(record, into: data + item * itemCount)
            // data_layer.cpp: top_label[item_id] = datum.label() (int32 → float).
            labels?[item] = Float(record.label)
            recordsRead += 1
        }
    }
}
