import InitDiagCore
import InitDiagTrace
// Data sources: where the images a Data layer feeds come from. Every source yields its records
// in Caffe's order — the order of the underlying store (DB key order, file order), wrapping to
// the first record after the last, never shuffled — as Caffe's DataLayer reads its DB cursor
// (BVLC/caffe src/caffe/layers/data_layer.cpp: Next() seeks to the first key when the cursor runs
// off the end).

/// One image record: the content of a Caffe `Datum` once decoded, plus where it came from.
///
/// A record is owned by the caller and refilled in place by `DataSource.next(into:)`: its arrays
/// keep their capacity, so reading a stream of same-shaped records allocates nothing after the
/// first one.
public final class DataRecord {
    public var channels: Int = 0
    public var height: Int = 0
    public var width: Int = 0
    public var label: Int32 = 0
    /// Pixel bytes, planar: element (c, h, w) at (c·height + h)·width + w. Empty when the record
    /// carries float data instead (Caffe: `has_uint8 = data.size() > 0`, data_transformer.cpp).
    public var bytes: [UInt8] = []
    /// Datum.float_data, used only when `bytes` is empty.
    public var floats: [Float] = []
    /// The file or database the record came from (a path).
    public var origin: String = ""
    /// The record's position within `origin`: item index in a file, or position in key order.
    public var index: Int = 0
    /// The database key (LMDB records); empty for sources without keys.
    public var keyBytes: [UInt8] = []

    public init() {}

    /// Number of values the record must hold: channels × height × width.
    public var valueCount: Int { channels * height * width }

    /// Whether the values are in `floats` rather than `bytes`.
    public var holdsFloats: Bool { bytes.isEmpty }

    /// The DB key as text, if the record has one.
    public var key: String? { keyBytes.isEmpty ? nil : String(decoding: keyBytes, as: UTF8.self) }

    /// How error messages name the record: `PATH key 'K'` or `PATH record I`.
    public var name: String {
        if let key { return "\(origin) key '\(key)'" }
        return "\(origin) record \(index)"
    }

    /// Sets the shape and makes `bytes` exactly `channels·height·width` long (reallocating only
    /// when it grows past its capacity), clears `floats`, and returns nothing: callers then write
    /// the pixels through `bytes.withUnsafeMutableBufferPointer`.
    public func prepareBytes(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
        let n = channels * height * width
        if bytes.count != n {
            if bytes.count > n {
                bytes.removeLast(bytes.count - n)
            } else {
                bytes.append(contentsOf: repeatElement(0, count: n - bytes.count))
            }
        }
        if !floats.isEmpty { floats.removeAll(keepingCapacity: true) }
    }

    /// A copy that shares nothing with this record (for tests and for keeping a record around).
    public func copy() -> DataRecord {
        let r = DataRecord()
        r.channels = channels; r.height = height; r.width = width; r.label = label
        r.bytes = bytes; r.floats = floats
        r.origin = origin; r.index = index; r.keyBytes = keyBytes
        return r
    }
}

/// A stream of image records in Caffe's order: key/file order, wrapping at the end, no shuffle.
///
/// Sources are not thread-safe: one consumer (the data feeder of one net) reads each.
public protocol DataSource: AnyObject, CustomStringConvertible {
    /// Number of distinct records before the stream wraps, when known.
    var recordCount: Int? { get }
    /// One line saying what the source reads (kind, path, phase, record count).
    var description: String { get }
    /// Reads the next record into `record`, reusing its storage, and advances (wrapping to the
    /// first record after the last). Throws `InputError` naming the record if it is unreadable.
    func next(into record: DataRecord) throws
    /// Goes back to the first record.
    func rewind() throws
}

extension DataSource {
    /// Reads the next record into a fresh `DataRecord` (allocates; for tests and tools).
    public func nextRecord() throws -> DataRecord {
        let r = DataRecord()
        try next(into: r)
        return r
    }
}
