import InitDiagCore
import InitDiagTrace
import CImageCodecs
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Image files as Caffe's ImageData layer reads them (BVLC/caffe src/caffe/util/io.cpp
/// ReadImageToCVMat: cv::imread with CV_LOAD_IMAGE_COLOR or CV_LOAD_IMAGE_GRAYSCALE, then
/// cv::resize to new_width × new_height when both are positive).
///
/// What is exactly OpenCV's, and what is not:
/// - the format is recognised by its signature, not the file name (PNG 89 50 4E 47, JPEG FF D8),
///   as imread does; other formats (BMP, TIFF, …) are refused with a message naming the file;
/// - PNG: libpng with OpenCV's PngDecoder transforms (Sources/CImageCodecs/image_codecs.c):
///   16-bit stripped to the high byte, alpha and tRNS dropped (not composited), gray → BGR by
///   replication, colour → gray with weights 0.299/0.587/0.114 (png_set_rgb_to_gray), no gamma —
///   the decoded bytes are the file's bytes, exactly;
/// - JPEG: libjpeg-turbo through TurboJPEG with its defaults (accurate integer IDCT, fancy
///   upsampling), the libjpeg defaults OpenCV's JpegDecoder keeps, so an OpenCV built on
///   libjpeg-turbo decodes the same bytes; gray output is libjpeg's Y channel. Not done: EXIF
///   orientation (OpenCV ≥ 3.1 rotates by it under IMREAD_COLOR), and an OpenCV built on another
///   libjpeg may differ by ±1–2 levels;
/// - resize: bilinear with OpenCV's pixel-centre convention, sx = (dx + ½)·W/W′ − ½, clamped to
///   the border (index and weight), in OpenCV's fixed point (weights rounded to 1/2048, the
///   horizontal pass kept in integers, then (Σ + 2²¹) >> 22) — the scalar path of OpenCV's
///   resizeGeneric_ for CV_8U INTER_LINEAR. OpenCV's SIMD path and its exact-½ INTER_AREA shortcut
///   can differ from it by one level in rare pixels.
/// Output: planar BGR (C = 3) or gray (C = 1) bytes, as a record for the DataTransformer.
public enum ImageDecoding {
    /// Decodes `path` into `record` (planar, BGR or gray) and resizes it when `newHeight` and
    /// `newWidth` are both positive. Throws InputError naming the file.
    public static func load(path: String, color: Bool, newHeight: Int, newWidth: Int, into record: DataRecord) throws {
        let bytes: [UInt8]
        do { bytes = try readFile(path) }
        let channels = color ? 3 : 1
        var out: UnsafeMutablePointer<UInt8>? = nil
        var w: Int32 = 0, h: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let rc: Int32
        if bytes.count >= 8 && bytes[0] == 0x89 && bytes[1] == 0x50 && bytes[2] == 0x4E && bytes[3] == 0x47 {
            rc = initdiag_png_decode(bytes, bytes.count, Int32(channels), &out, &w, &h, &message, message.count)
        } else if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 {
            rc = initdiag_jpeg_decode(bytes, bytes.count, Int32(channels), &out, &w, &h, &message, message.count)
        } else {
            throw InputError("\(path): not a JPEG or PNG image (Caffe's ImageData reads what OpenCV reads; initdiag reads JPEG and PNG)")
        }
        guard rc == 0, let pixels = out else {
            let why = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw InputError("\(path): unreadable image (\(why.isEmpty ? "decoder error" : why))")
        }
        defer { initdiag_image_free(pixels) }
        let (width, height) = (Int(w), Int(h))
        let (outH, outW) = newHeight > 0 && newWidth > 0 ? (newHeight, newWidth) : (height, width)
        record.prepareBytes(channels: channels, height: outH, width: outW)
        record.bytes.withUnsafeMutableBufferPointer { dst in
            if outH == height && outW == width {
                // Interleaved HWC → planar CHW.
                for y in 0..<height {
                    for x in 0..<width {
                        for c in 0..<channels { dst[(c * height + y) * width + x] = pixels[(y * width + x) * channels + c] }
                    }
                }
            } else {
                resizeBilinear(pixels, width: width, height: height, channels: channels,
                               outWidth: outW, outHeight: outH, planarOut: dst.baseAddress!)
            }
        }
    }

    /// OpenCV's INTER_LINEAR index/weight table for one axis: for each output index, the two
    /// source indices and the 11-bit weights (see the type's documentation).
    static func axisTable(source n: Int, output m: Int) -> [(Int, Int, Int32, Int32)] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { d in
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            var s = Int(f.rounded(.down))
            f -= Float(s)
            if s < 0 { s = 0; f = 0 }
            if s >= n - 1 { s = n - 1; f = 0 }
            let s1 = min(s + 1, n - 1)
            let a0 = Int32((Float(1) - f) * 2048).clampedShort, a1 = Int32(f * 2048).clampedShort
            return (s, s1, a0, a1)
        }
    }

    /// Bilinear resize of interleaved 8-bit pixels into planar output (OpenCV fixed point).
    static func resizeBilinear(_ src: UnsafeMutablePointer<UInt8>, width: Int, height: Int, channels: Int,
                               outWidth: Int, outHeight: Int, planarOut: UnsafeMutablePointer<UInt8>) {
        let xs = axisTable(source: width, output: outWidth)
        let ys = axisTable(source: height, output: outHeight)
        // Horizontal pass per source row needed: value·2048 as Int32.
        var row0 = [Int32](repeating: 0, count: outWidth * channels)
        var row1 = row0
        func horizontal(_ y: Int, into row: inout [Int32]) {
            let line = src + y * width * channels
            for (dx, (s0, s1, a0, a1)) in xs.enumerated() {
                for c in 0..<channels {
                    row[dx * channels + c] = Int32(line[s0 * channels + c]) * a0 + Int32(line[s1 * channels + c]) * a1
                }
            }
        }
        for (dy, (t0, t1, b0, b1)) in ys.enumerated() {
            horizontal(t0, into: &row0)
            horizontal(t1, into: &row1)
            for dx in 0..<outWidth {
                for c in 0..<channels {
                    let v = (Int64(row0[dx * channels + c]) * Int64(b0) + Int64(row1[dx * channels + c]) * Int64(b1) + (1 << 21)) >> 22
                    planarOut[(c * outHeight + dy) * outWidth + dx] = UInt8(clamping: v)
                }
            }
        }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let f = fopen(path, "rb") else {
            throw InputError("\(path): cannot open the image (\(String(cString: strerror(errno))))")
        }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n > 0 { out.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
        }
        if ferror(f) != 0 { throw InputError("\(path): cannot read the image") }
        return out
    }

    /// Writes test images through the libraries: 8-bit interleaved BGR or gray.
    static func writePNG(_ path: String, pixels: [UInt8], width: Int, height: Int, channels: Int) throws {
        var message = [CChar](repeating: 0, count: 256)
        guard initdiag_png_write(path, pixels, Int32(width), Int32(height), Int32(channels), &message, message.count) == 0 else {
            throw InputError("\(path): cannot write PNG")
        }
    }

    static func writeJPEG(_ path: String, pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int = 95) throws {
        var message = [CChar](repeating: 0, count: 256)
        guard initdiag_jpeg_write(path, pixels, Int32(width), Int32(height), Int32(channels), Int32(quality), &message, message.count) == 0 else {
            throw InputError("\(path): cannot write JPEG")
        }
    }
}

extension Int32 {
    /// saturate_cast<short>.
    fileprivate var clampedShort: Int32 { Swift.min(Swift.max(self, Int32(Int16.min)), Int32(Int16.max)) }
}

/// The records of Caffe's ImageData layer (BVLC/caffe src/caffe/layers/image_data_layer.cpp):
/// `source` is a text file of lines "path label" (split at the last space, label read with
/// atoi); each image is root_folder + path, decoded and resized by `ImageDecoding`, in list
/// order, wrapping at the end (and reshuffled there when `shuffle`). With `shuffle` the list is
/// shuffled at setup and at every wrap with a Fisher–Yates over the generator seeded at setup
/// (Caffe: caffe::shuffle with boost::uniform_int on its prefetch RNG — the same walk, but
/// boost's integer mapping is not reproduced, so the shuffled order differs from Caffe's);
/// `rand_skip` skips (draw mod rand_skip) lines at setup, as Caffe does.
public final class ImageListSource: DataSource {
    public let listPath: String
    public let param: ImageDataParameter
    public private(set) var lines: [(path: String, label: Int32)]
    private var position = 0
    private var shuffleRNG: MT19937?

    public var recordCount: Int? { lines.count }

    public init(param: ImageDataParameter, layerName: String) throws {
        self.param = param
        guard let source = param.source, !source.isEmpty else {
            throw InputError("layer '\(layerName)' (ImageData): image_data_param.source is not set; pass --data")
        }
        listPath = source
        guard let f = fopen(source, "r") else {
            throw InputError("layer '\(layerName)' (ImageData): image list '\(source)' cannot be opened (\(String(cString: strerror(errno))))")
        }
        defer { fclose(f) }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n > 0 { text.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
        }
        var parsed: [(String, Int32)] = []
        for (i, raw) in String(decoding: text, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            guard let space = line.lastIndex(of: " ") else {
                throw InputError("\(source):\(i + 1): expected 'path label', got '\(line)'")
            }
            let labelText = line[line.index(after: space)...]
            guard let label = Int32(labelText) else {
                throw InputError("\(source):\(i + 1): label '\(labelText)' is not an integer")
            }
            parsed.append((String(line[..<space]), label))
        }
        guard !parsed.isEmpty else { throw InputError("\(source): the image list is empty (Caffe: File is empty)") }
        lines = parsed.map { (path: param.rootFolder + $0.0, label: $0.1) }
    }

    /// The setup draws of Caffe's ImageDataLayer::DataLayerSetUp from the run's generator: with
    /// shuffle one seed for the shuffling generator (then the first shuffle), with rand_skip one
    /// draw for the skip.
    public func setUpLikeCaffe(from random: RandomSource) {
        if param.shuffle {
            shuffleRNG = MT19937(seed: random.next())
            shuffle()
        }
        if param.randSkip > 0 {
            position = Int(random.next() % param.randSkip) % lines.count
        }
    }

    private func shuffle() {
        guard var g = shuffleRNG else { return }
        if lines.count > 1 {
            for i in stride(from: lines.count - 1, to: 0, by: -1) {
                let j = Int(g.next() % UInt32(i + 1))
                lines.swapAt(i, j)
            }
        }
        shuffleRNG = g
    }

    public var description: String { "imagelist:\(listPath) (\(lines.count) images)" }

    public func rewind() throws { position = 0 }

    public func next(into record: DataRecord) throws {
        let item = lines[position]
        try ImageDecoding.load(path: item.path, color: param.isColor, newHeight: Int(param.newHeight),
                               newWidth: Int(param.newWidth), into: record)
        record.label = item.label
        record.origin = item.path
        record.index = position
        if !record.keyBytes.isEmpty { record.keyBytes.removeAll(keepingCapacity: true) }
        position += 1
        if position >= lines.count {
            position = 0
            if param.shuffle { shuffle() }
        }
    }
}
