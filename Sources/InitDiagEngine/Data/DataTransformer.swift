import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mean image read from a binary `BlobProto` (what Caffe's compute_image_mean writes: legacy
/// num = 1, channels, height, width and the per-element mean of the bytes as packed floats).
public struct DataMeanBlob: Sendable, Equatable {
    public let path: String
    /// The blob's shape as Caffe's Blob::FromProto sets it.
    public let shape: [Int]
    public let values: [Float]

    /// Caffe's legacy accessor LegacyShape(i) (include/caffe/blob.hpp): shape[i] when the blob has
    /// more than i axes, else 1. channels() = LegacyShape(1), height() = 2, width() = 3 — note a
    /// 3-axis shape C×H×W therefore reports channels = H, exactly as in Caffe.
    public func legacyDim(_ i: Int) -> Int { i < shape.count ? shape[i] : 1 }
    public var channels: Int { legacyDim(1) }
    public var height: Int { legacyDim(2) }
    public var width: Int { legacyDim(3) }
}

/// Reading and writing binary BlobProto mean files (docs/semantics.md §1.2 field numbers).
public enum DataMeanFile {
    /// Parses a serialized BlobProto: legacy num = 1, channels = 2, height = 3, width = 4 (int32);
    /// data = 5, diff = 6 (float, packed or not); shape = 7 (BlobShape, dim = 1 int64 packed or
    /// not); double_data = 8, double_diff = 9. Unknown fields are skipped as protobuf does.
    public static func decodeBlobProto(_ bytes: UnsafeRawBufferPointer) throws -> BlobProto {
        var proto = BlobProto()
        var r = WireReader(bytes)
        while !r.atEnd {
            let (field, type) = try r.readTag()
            switch (field, type) {
            case (1, .varint): proto.num = Int32(truncatingIfNeeded: try r.readVarint())
            case (2, .varint): proto.channels = Int32(truncatingIfNeeded: try r.readVarint())
            case (3, .varint): proto.height = Int32(truncatingIfNeeded: try r.readVarint())
            case (4, .varint): proto.width = Int32(truncatingIfNeeded: try r.readVarint())
            case (5, .lengthDelimited), (5, .fixed32): try r.appendFloats(type, to: &proto.data)
            case (6, .lengthDelimited), (6, .fixed32): try r.appendFloats(type, to: &proto.diff)
            case (8, .lengthDelimited), (8, .fixed64): try r.appendDoubles(type, to: &proto.doubleData)
            case (9, .lengthDelimited), (9, .fixed64): try r.appendDoubles(type, to: &proto.doubleDiff)
            case (7, .lengthDelimited):
                // A singular message field given twice is merged (repeated dims concatenate).
                let range = try r.readLengthDelimited()
                var sub = r.sub(range)
                var shape = proto.shape ?? BlobShape()
                while !sub.atEnd {
                    let (f, t) = try sub.readTag()
                    if f == 1, t == .varint || t == .lengthDelimited {
                        var dims: [UInt64] = []
                        try sub.appendVarints(t, to: &dims)
                        shape.dim.append(contentsOf: dims.map { Int64(bitPattern: $0) })
                    } else {
                        try sub.skip(t)
                    }
                }
                proto.shape = shape
            default: try r.skip(type)
            }
        }
        return proto
    }

    /// Serializes a mean image the way compute_image_mean does (BVLC/caffe
    /// tools/compute_image_mean.cpp): legacy num, channels, height, width, then packed data.
    public static func encodeLegacy(num: Int, channels: Int, height: Int, width: Int, values: [Float]) -> [UInt8] {
        var w = WireWriter()
        w.int64Field(1, Int64(num))
        w.int64Field(2, Int64(channels))
        w.int64Field(3, Int64(height))
        w.int64Field(4, Int64(width))
        values.withUnsafeBufferPointer { w.packedFloats(5, $0) }
        return w.bytes
    }

    /// Reads a mean file and applies Blob::FromProto's rules (BVLC/caffe src/caffe/blob.cpp): the
    /// shape is (num, channels, height, width) if any legacy dim is present, else shape.dim; the
    /// values come from double_data when it is non-empty, else data, and their number must equal
    /// the shape's count.
    public static func read(path: String) throws -> DataMeanBlob {
        let map: DataMappedFile
        do { map = try DataMappedFile(path: path) } catch let e as InputError {
            throw InputError("transform_param.mean_file: \(e.message)")
        }
        let proto: BlobProto
        do { proto = try decodeBlobProto(map.bytes) } catch let e as WireError {
            throw InputError("\(path): not a binary BlobProto mean file (\(e))")
        }
        let shape = proto.resolvedShape
        guard !shape.isEmpty, shape.count <= 4, shape.allSatisfy({ $0 >= 0 }) else {
            throw InputError("\(path): mean file has shape \(shape); expected up to 4 non-negative axes (num × channels × height × width)")
        }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o, p <= 1 << 40 else { throw InputError("\(path): mean file shape \(shape) is too large") }
            count = p
        }
        let values = proto.values
        guard values.count == count else {
            throw InputError("\(path): mean file has \(values.count) values for shape \(shape.map(String.init).joined(separator: "×")) (\(count) expected)")
        }
        return DataMeanBlob(path: path, shape: shape, values: values)
    }
}

/// Caffe's DataTransformer for raw (non-encoded) Datum records (BVLC/caffe
/// src/caffe/data_transformer.cpp, docs/semantics.md §6), applied to one record at a time:
///
/// 1. do_mirror = mirror && Rand(2) — drawn first, in TEST too when mirror is set;
/// 2. with crop_size: TRAIN h_off = Rand(H − crop + 1), then w_off = Rand(W − crop + 1);
///    TEST h_off = (H − crop)/2, w_off = (W − crop)/2 (integer division);
/// 3. output (c, h, w) reads source index (c·H + h_off + h)·W + w_off + w and is written at
///    column w, or width − 1 − w when mirrored; the value is the byte (float_data if no bytes);
/// 4. out = (value − mean)·scale in float, mean = the mean file at the *uncropped source index*,
///    or mean_value[c] (one value serves all channels), or none (then value·scale, which is the
///    same float since value − 0 = value exactly).
///
/// Rand(n) = (own MT19937 output) mod n. The generator is seeded from the run's RandomSource;
/// `seedLikePrefetchingDataLayer(from:)` consumes exactly the draws a Caffe Data layer's setup
/// takes (see there).
///
/// `force_color` / `force_gray` act only on encoded datums in Caffe (they choose how OpenCV
/// decodes); for raw datums Caffe logs "force_color and force_gray only for encoded datum" and
/// ignores them. initdiag reads raw datums only, so they are ignored likewise and reported as a
/// `Notice`.
public final class DataTransformer {
    public let param: TransformationParameter
    public let phase: Phase
    public let mean: DataMeanBlob?
    /// Things worth telling the user (ignored force_color/force_gray).
    public let notices: [Notice]
    /// The own generator; until seeded it is in boost::mt19937's default state (seed 5489).
    private var rng = MT19937(seed: 5489)
    /// The seed the own generator was last seeded with (nil until seeded).
    public private(set) var seed: UInt32?

    /// Loads the mean file if one is given (a relative path is taken relative to the current
    /// directory, as Caffe's ReadProtoFromBinaryFile does). `computedMean`, when given, stands in
    /// for the mean file named by `param.meanFile` (a mean computed from the data because that
    /// file does not exist: `DataMeanFile.compute(from:standingInFor:)`); the file is not read.
    public init(param: TransformationParameter, phase: Phase, computedMean: DataMeanBlob? = nil) throws {
        self.param = param
        self.phase = phase
        // Caffe's constructor: CHECK_EQ(mean_value_size(), 0) "Cannot specify mean_file and
        // mean_value at the same time".
        if param.meanFile != nil && !param.meanValue.isEmpty {
            throw InputError("transform_param: cannot specify mean_file and mean_value at the same time")
        }
        // `scale: nan` / `mean_value: inf` parse (the text format has nan and inf) and would feed
        // the net non-finite images that look like a divergence at iteration 0: refuse them here.
        guard param.scale.isFinite else {
            throw InputError("transform_param: scale must be a finite number, got \(param.scale)")
        }
        if let bad = param.meanValue.first(where: { !$0.isFinite }) {
            throw InputError("transform_param: mean_value must be finite, got \(bad)")
        }
        if param.meanFile != nil, let computedMean {
            mean = computedMean
        } else if let path = param.meanFile {
            mean = try DataMeanFile.read(path: path)
        } else {
            mean = nil
        }
        var notices: [Notice] = []
        if param.forceColor || param.forceGray {
            notices.append(Notice("transform_param: force_color/force_gray apply only to encoded images; ignored for raw Datum records (as Caffe does)"))
        }
        self.notices = notices
    }

    /// Whether the transformer draws random numbers at all (Caffe InitRand: `mirror ||
    /// (phase == TRAIN && crop_size)`); without, it takes no seed from the run's generator.
    public var needsRandom: Bool { param.mirror || (phase == .TRAIN && param.cropSize > 0) }

    /// Caffe's DataTransformer::InitRand: if `needsRandom`, one draw of the run's generator
    /// (caffe_rng_rand) seeds the transformer's own mt19937; otherwise nothing is drawn.
    public func initRand(from random: RandomSource) {
        if needsRandom { setSeed(random.next()) }
    }

    /// The draws a Caffe Data layer (a BasePrefetchingDataLayer) takes from the run's generator
    /// during its setup, in order (BVLC/caffe src/caffe/layers/base_data_layer.cpp,
    /// src/caffe/internal_thread.cpp, docs/semantics.md §3.1):
    /// 1. BaseDataLayer::LayerSetUp creates the transformer and calls InitRand: one draw if
    ///    `needsRandom` (that generator is replaced right after);
    /// 2. BasePrefetchingDataLayer::LayerSetUp calls InitRand again: one more draw if
    ///    `needsRandom` — this second seed is the one the transformer uses;
    /// 3. StartInternalThread always draws one seed for the prefetch thread's own Caffe RNG
    ///    (the transformer never uses that one).
    /// So: 3 draws with mirror or (TRAIN and crop_size), else 1.
    public func seedLikePrefetchingDataLayer(from random: RandomSource) {
        initRand(from: random)
        initRand(from: random)
        _ = random.next()
    }

    /// Seeds the own generator directly (boost::mt19937(seed), i.e. standard MT19937 seeding).
    public func setSeed(_ seed: UInt32) {
        self.seed = seed
        rng = MT19937(seed: seed)
    }

    /// Rand(n) = own generator output mod n (data_transformer.cpp). An unseeded transformer uses
    /// the generator's default seed 5489 (what a default-constructed boost::mt19937 starts from).
    @inline(__always) func rand(_ n: Int) -> Int {
        Int(rng.next() % UInt32(truncatingIfNeeded: n))
    }

    /// The output shape (C, H′, W′) of a record of shape (C, H, W): the crop size replaces H, W
    /// (Caffe InferBlobShape). Throws `InputError` naming `what` if the record does not fit the
    /// parameters: crop larger than the image, mean file of another shape, mean_value count
    /// neither 1 nor C (the CHECKs of Transform).
    public func outputShape(channels: Int, height: Int, width: Int, what: String) throws -> (channels: Int, height: Int, width: Int) {
        let crop = Int(param.cropSize)
        guard channels > 0, height > 0, width > 0 else {
            throw InputError("\(what): image shape \(channels)×\(height)×\(width) is not positive")
        }
        if crop > 0 && (height < crop || width < crop) {
            throw InputError("\(what): crop_size \(crop) is larger than the image (\(height)×\(width))")
        }
        if let mean {
            guard mean.channels == channels, mean.height == height, mean.width == width, mean.values.count >= channels * height * width else {
                throw InputError("\(what): image is \(channels)×\(height)×\(width) but mean_file \(mean.path) is \(mean.shape.map(String.init).joined(separator: "×")) (channels × height × width must match)")
            }
        }
        if !param.meanValue.isEmpty && param.meanValue.count != 1 && param.meanValue.count != channels {
            throw InputError("\(what): transform_param has \(param.meanValue.count) mean_value entries; specify either 1 or as many as channels (\(channels))")
        }
        return crop > 0 ? (channels, crop, crop) : (channels, height, width)
    }

    /// Transforms one record into `out` (C·H′·W′ floats). Draws from the own generator as Caffe
    /// does (mirror first, then crop offsets in TRAIN).
    public func transform(_ record: DataRecord, into out: UnsafeMutablePointer<Float>) throws {
        let (channels, height, width) = (record.channels, record.height, record.width)
        let doMirror = param.mirror && rand(2) != 0
        let (_, outHeight, outWidth) = try outputShape(channels: channels, height: height, width: width, what: record.name)
        let needed = channels * height * width
        guard record.holdsFloats ? record.floats.count >= needed : record.bytes.count >= needed else {
            throw InputError("\(record.name): holds \(record.holdsFloats ? record.floats.count : record.bytes.count) values, expected \(needed)")
        }
        var hOff = 0, wOff = 0
        let crop = Int(param.cropSize)
        if crop > 0 {
            if phase == .TRAIN {
                hOff = rand(height - crop + 1)
                wOff = rand(width - crop + 1)
            } else {
                hOff = (height - crop) / 2
                wOff = (width - crop) / 2
            }
        }
        let scale = param.scale
        let meanValues = param.meanValue
        if record.holdsFloats {
            record.floats.withUnsafeBufferPointer { src in
                apply(src.baseAddress!, channels, height, width, outHeight, outWidth, hOff, wOff, doMirror, scale, meanValues, out) { $0 }
            }
        } else {
            record.bytes.withUnsafeBufferPointer { src in
                apply(src.baseAddress!, channels, height, width, outHeight, outWidth, hOff, wOff, doMirror, scale, meanValues, out) { Float($0) }
            }
        }
    }

    /// The copy loop, generic over the source element (byte or float).
    @inline(__always)
    private func apply<T>(_ src: UnsafePointer<T>, _ channels: Int, _ height: Int, _ width: Int,
                          _ outHeight: Int, _ outWidth: Int, _ hOff: Int, _ wOff: Int, _ mirror: Bool,
                          _ scale: Float, _ meanValues: [Float], _ out: UnsafeMutablePointer<Float>,
                          _ value: (T) -> Float) {
        if let mean {
            mean.values.withUnsafeBufferPointer { meanBuffer in
                let m = meanBuffer.baseAddress!
                for c in 0..<channels {
                    for h in 0..<outHeight {
                        let srcRow = (c * height + hOff + h) * width + wOff
                        let dstRow = out + (c * outHeight + h) * outWidth
                        if mirror {
                            for w in 0..<outWidth { dstRow[outWidth - 1 - w] = (value(src[srcRow + w]) - m[srcRow + w]) * scale }
                        } else {
                            for w in 0..<outWidth { dstRow[w] = (value(src[srcRow + w]) - m[srcRow + w]) * scale }
                        }
                    }
                }
            }
            return
        }
        for c in 0..<channels {
            let meanValue: Float = meanValues.isEmpty ? 0 : (meanValues.count == 1 ? meanValues[0] : meanValues[c])
            for h in 0..<outHeight {
                let srcRow = src + (c * height + hOff + h) * width + wOff
                let dstRow = out + (c * outHeight + h) * outWidth
                if mirror {
                    for w in 0..<outWidth { dstRow[outWidth - 1 - w] = (value(srcRow[w]) - meanValue) * scale }
                } else {
                    for w in 0..<outWidth { dstRow[w] = (value(srcRow[w]) - meanValue) * scale }
                }
            }
        }
    }
}
