import InitDiagCore
import InitDiagTrace
import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// MNIST in its original idx format (`--data mnist:DIR`; LeCun, Cortes & Burges, "The MNIST
/// database of handwritten digits"): TRAIN reads `train-images-idx3-ubyte` and
/// `train-labels-idx1-ubyte`, TEST `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
/// also found with a `.gz` suffix (read through zlib) or with a `.` instead of the last `-`
/// (`train-images.idx3-ubyte`, as some mirrors name them).
///
/// Layout (all integers 32-bit big-endian): images: magic 2051 (0x00000803), count, rows, cols,
/// then count·rows·cols bytes, row-major; labels: magic 2049 (0x00000801), count, then count
/// bytes. Records are 1×rows×cols bytes with the label byte — exactly what Caffe's
/// convert_mnist_data writes into its DB (BVLC/caffe examples/mnist/convert_mnist_data.cpp:
/// channels 1, height rows, width cols, data = the image bytes, label = the label byte), in file
/// order, so `mnist:DIR` feeds a net what Caffe's mnist LMDB would, record for record. Labels
/// must be 0–9.
public final class MNISTSource: DataSource {
    public let directory: String
    public let phase: Phase
    public let imagesPath: String
    public let labelsPath: String
    public let rows: Int, cols: Int
    private let images: [UInt8]
    private let labels: [UInt8]
    private let count: Int
    private var position = 0

    public var recordCount: Int? { count }

    public init(directory: String, phase: Phase) throws {
        self.directory = directory
        self.phase = phase
        var st = stat()
        guard stat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw InputError("mnist:\(directory): no such directory")
        }
        let prefix = phase == .TRAIN ? "train" : "t10k"
        imagesPath = try MNISTSource.find(directory, prefix + "-images", "idx3-ubyte")
        labelsPath = try MNISTSource.find(directory, prefix + "-labels", "idx1-ubyte")
        let imageBytes = try MNISTSource.readAll(imagesPath)
        let labelBytes = try MNISTSource.readAll(labelsPath)
        func be32(_ b: [UInt8], _ at: Int) -> Int {
            Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
        }
        guard imageBytes.count >= 16 else {
            throw InputError("\(imagesPath): truncated idx file (\(imageBytes.count) bytes, the header alone has 16)")
        }
        guard be32(imageBytes, 0) == 2051 else {
            throw InputError("\(imagesPath): not an MNIST image file (magic \(be32(imageBytes, 0)), expected 2051)")
        }
        guard labelBytes.count >= 8 else {
            throw InputError("\(labelsPath): truncated idx file (\(labelBytes.count) bytes, the header alone has 8)")
        }
        guard be32(labelBytes, 0) == 2049 else {
            throw InputError("\(labelsPath): not an MNIST label file (magic \(be32(labelBytes, 0)), expected 2049)")
        }
        let n = be32(imageBytes, 4), r = be32(imageBytes, 8), c = be32(imageBytes, 12)
        guard n > 0, r > 0, c > 0, r <= 1 << 14, c <= 1 << 14, n <= 1 << 28 else {
            throw InputError("\(imagesPath): header says \(n) images of \(r)×\(c); every number must be positive")
        }
        guard imageBytes.count == 16 + n * r * c else {
            throw InputError("\(imagesPath): \(imageBytes.count < 16 + n * r * c ? "truncated" : "too long"): \(imageBytes.count) bytes, but the header says \(n) images of \(r)×\(c) (\(16 + n * r * c) bytes)")
        }
        let nl = be32(labelBytes, 4)
        guard labelBytes.count == 8 + nl else {
            throw InputError("\(labelsPath): \(labelBytes.count < 8 + nl ? "truncated" : "too long"): \(labelBytes.count) bytes, but the header says \(nl) labels (\(8 + nl) bytes)")
        }
        guard nl == n else {
            throw InputError("\(labelsPath): \(nl) labels for the \(n) images of \(imagesPath)")
        }
        if let bad = labelBytes.dropFirst(8).firstIndex(where: { $0 > 9 }) {
            throw InputError("\(labelsPath): label \(labelBytes[bad]) of item \(bad - 8) is not a digit 0–9")
        }
        rows = r; cols = c; count = n
        images = imageBytes
        labels = labelBytes
    }

    /// The file `stem` + ("-" or ".") + `kind`, plain or `.gz`.
    static func find(_ dir: String, _ stem: String, _ kind: String) throws -> String {
        var tried: [String] = []
        for name in ["\(stem)-\(kind)", "\(stem).\(kind)"] {
            for suffix in ["", ".gz"] {
                let p = dir + "/" + name + suffix
                tried.append(name + suffix)
                if access(p, F_OK) == 0 { return p }
            }
        }
        throw InputError("mnist:\(dir): no \(stem)-\(kind) (looked for \(tried.joined(separator: ", ")))")
    }

    /// The whole file, gunzipped when it is gzip data (zlib's gzread reads plain files as they are).
    static func readAll(_ path: String) throws -> [UInt8] {
        guard let f = gzopen(path, "rb") else {
            throw InputError("\(path): cannot open (\(String(cString: strerror(errno))))")
        }
        defer { gzclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(f, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(f, &code).map { String(cString: $0) } ?? "read error"
                throw InputError("\(path): cannot read (\(message); a damaged or truncated .gz file?)")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return out
    }

    public var description: String { "mnist:\(directory) (\(phase): \(count) records of 1×\(rows)×\(cols))" }

    public func rewind() throws { position = 0 }

    public func next(into record: DataRecord) throws {
        record.prepareBytes(channels: 1, height: rows, width: cols)
        let size = rows * cols
        let start = 16 + position * size
        images.withUnsafeBufferPointer { src in
            record.bytes.withUnsafeMutableBufferPointer { dst in
                dst.baseAddress!.update(from: src.baseAddress! + start, count: size)
            }
        }
        record.label = Int32(labels[8 + position])
        if record.origin != imagesPath { record.origin = imagesPath }
        record.index = position
        if !record.keyBytes.isEmpty { record.keyBytes.removeAll(keepingCapacity: true) }
        position += 1
        if position == count { position = 0 }
    }
}

extension MNISTSource {
    /// Writes `bytes` gzip-compressed to `path` (for tests and tools that make .gz idx files).
    static func writeGzip(_ bytes: [UInt8], to path: String) throws {
        guard let f = gzopen(path, "wb") else { throw InputError("\(path): cannot create") }
        let n = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
        guard gzclose(f) == Z_OK, Int(n) == bytes.count else { throw InputError("\(path): gzip write failed") }
    }

    /// An idx file's bytes: magic, the dimensions (big-endian 32-bit), then the payload.
    static func idx(magic: Int, dims: [Int], payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for v in [magic] + dims { out += [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        return out + payload
    }
}
