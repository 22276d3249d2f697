import InitDiagCore
import InitDiagTrace
// Caffe's `Datum` message in the protobuf wire format (BVLC/caffe src/caffe/proto/caffe.proto;
// docs/semantics.md §1.2): channels = 1, height = 2, width = 3 (int32), data = 4 (bytes),
// label = 5 (int32), float_data = 6 (repeated float), encoded = 7 (bool).

/// The Data layer's fast path for `Datum` records (the values of a Caffe LMDB): decoding straight
/// into a reused `DataRecord`, and encoding byte-identical to Caffe's converters. The general
/// decoder is the schema-driven `Datum.decode` (Prototxt/); the tests hold the two to the same
/// results on the fuzz corpus.
public enum DatumCodec {
    public enum Field {
        public static let channels = 1, height = 2, width = 3, data = 4, label = 5, floatData = 6, encoded = 7
    }

    /// Serializes a Datum the way protobuf-C++ does for the messages Caffe's converters build:
    /// fields in field-number order; channels, height, width and label always present (the
    /// converters set them explicitly, so proto2 presence makes them serialized even when 0);
    /// `data` when non-empty; `float_data` unpacked (proto2 default for a repeated float without
    /// `[packed = true]`); `encoded` only when true. For convert_cifar_data's records this gives
    /// the byte-identical value (08 03 10 20 18 20 22 80 18 <3072 bytes> 28 <label>).
    public static func encode(_ datum: Datum) -> [UInt8] {
        var w = WireWriter()
        w.int64Field(Field.channels, Int64(datum.channels))
        w.int64Field(Field.height, Int64(datum.height))
        w.int64Field(Field.width, Int64(datum.width))
        if !datum.data.isEmpty { w.bytesField(Field.data, datum.data) }
        w.int64Field(Field.label, Int64(datum.label))
        for v in datum.floatData { w.floatField(Field.floatData, v) }
        if datum.encoded { w.boolField(Field.encoded, true) }
        return w.bytes
    }

    /// Parses a serialized Datum straight into `record`, copying the pixel bytes once (from the
    /// serialized value into `record.bytes`) and reusing the record's storage. Follows protobuf's
    /// proto2 parsing rules: for a singular field the last occurrence wins, repeated floats may be
    /// packed or not, unknown fields (and known field numbers with an unexpected wire type, which
    /// protobuf treats as unknown) are skipped. Sets channels,
    /// height, width, label, bytes/floats; leaves origin/index/key to the caller. Returns whether
    /// the datum is marked `encoded`. Throws `WireError` on malformed bytes.
    @discardableResult
    public static func decode(_ bytes: UnsafeRawBufferPointer, into record: DataRecord) throws -> Bool {
        var channels: Int32 = 0, height: Int32 = 0, width: Int32 = 0, label: Int32 = 0
        var encoded = false
        var dataRange: Range<Int>? = nil
        if !record.floats.isEmpty { record.floats.removeAll(keepingCapacity: true) }
        try parse(bytes, floats: &record.floats) { field, value in
            switch field {
            case Field.channels: channels = Int32(truncatingIfNeeded: value)
            case Field.height: height = Int32(truncatingIfNeeded: value)
            case Field.width: width = Int32(truncatingIfNeeded: value)
            case Field.label: label = Int32(truncatingIfNeeded: value)
            case Field.encoded: encoded = value != 0
            default: break
            }
        } data: { dataRange = $0 }
        record.channels = Int(channels)
        record.height = Int(height)
        record.width = Int(width)
        record.label = label
        if record.bytes.isEmpty == false { record.bytes.removeAll(keepingCapacity: true) }
        if let dataRange, !dataRange.isEmpty {
            record.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[dataRange]))
        }
        return encoded
    }

    /// The field walk: varint fields go to `scalar`, the last `data`
    /// payload's byte range to `data`, float_data values are appended to `floats`.
    private static func parse(_ bytes: UnsafeRawBufferPointer, floats: inout [Float],
                              scalar: (Int, UInt64) -> Void, data: (Range<Int>) -> Void) throws {
        var r = WireReader(bytes)
        while !r.atEnd {
            let (field, type) = try r.readTag()
            switch (field, type) {
            case (Field.channels, .varint), (Field.height, .varint), (Field.width, .varint),
                 (Field.label, .varint), (Field.encoded, .varint):
                scalar(field, try r.readVarint())
            case (Field.data, .lengthDelimited):
                data(try r.readLengthDelimited())
            case (Field.floatData, .lengthDelimited), (Field.floatData, .fixed32):
                try r.appendFloats(type, to: &floats)
            default:
                try r.skip(type)
            }
        }
    }

    /// Checks a decoded record the way a Data layer needs it: positive dimensions and exactly
    /// channels·height·width values (Caffe indexes `data[(c·H + h)·W + w]` unchecked, so a short
    /// record would be an out-of-bounds read there; here it is an error naming the record).
    public static func validate(_ record: DataRecord) throws {
        guard record.channels > 0, record.height > 0, record.width > 0 else {
            throw InputError("\(record.name): Datum has shape \(record.channels)×\(record.height)×\(record.width); channels, height and width must be positive")
        }
        let (hw, o1) = record.height.multipliedReportingOverflow(by: record.width)
        let (chw, o2) = hw.multipliedReportingOverflow(by: record.channels)
        guard !o1, !o2, chw <= 1 << 40 else {
            throw InputError("\(record.name): Datum shape \(record.channels)×\(record.height)×\(record.width) is too large")
        }
        if !record.bytes.isEmpty {
            guard record.bytes.count == chw else {
                throw InputError("\(record.name): Datum data has \(record.bytes.count) bytes, expected channels×height×width = \(chw)")
            }
        } else {
            guard record.floats.count == chw else {
                throw InputError("\(record.name): Datum has \(record.floats.count) float_data values and no data bytes, expected channels×height×width = \(chw)")
            }
        }
    }
}
