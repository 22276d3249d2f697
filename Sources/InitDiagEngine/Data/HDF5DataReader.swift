import InitDiagCore
import InitDiagTrace
import Foundation

/// What Caffe's HDF5Data layer reads (BVLC/caffe src/caffe/layers/hdf5_data_layer.cpp,
/// src/caffe/util/hdf5.cpp): a text file listing HDF5 files, each holding one dataset per top,
/// named after the top, whose first dimension counts the rows.
///
/// - The list is read as Caffe reads it (`source_file >> line`): whitespace-separated tokens, one
///   path each. A relative path is taken as written, i.e. relative to the working directory, as
///   Caffe opens it; when that does not exist, relative to the list file's folder (a list moved
///   with its files keeps working).
/// - Datasets: float, double or integer (HDF5 converts to float), rank ≥ 1, every top's dataset
///   with the same number of rows; later files must have the first file's trailing dimensions
///   (Caffe would silently read misaligned rows). A file is loaded whole when the reader reaches
///   it, as Caffe does.
/// - Order: rows in order, file after file, wrapping to the first file. With `shuffle`, Caffe
///   permutes with `std::random_shuffle`, i.e. the C library's rand() — not Caffe's seeded
///   generator: the file order at set-up and at every wrap, the rows whenever a file is loaded
///   and again whenever its last row has been served. This reader replays that exactly with
///   glibc's rand() from its default seed (1), one generator per layer (Caffe's rand() state is
///   shared by the process: identical while one HDF5Data layer shuffles). It takes nothing from
///   the run's generator, so `generatorDrawsPerForward` is 0, and exact resume re-reads the
///   batches served (`recordsRead`) to restore its position and its permutations.
public final class HDF5DataReader: BatchSource {
    public let layerName: String
    public let listPath: String
    public let files: [String]
    public let tops: [String]
    public let batchSize: Int
    public let shuffle: Bool
    /// Per top, the shape of one row (the dataset's dimensions after the first).
    public private(set) var rowShapes: [[Int]]
    private var random = GlibcRandom()
    private var filePermutation: [Int]
    private var currentFile = 0
    private var rowPermutation: [Int] = []
    private var currentRow = 0
    /// The loaded file's datasets, one per top, row-major.
    private var values: [[Float]] = []
    private var rows = 0
    /// Rows handed out so far.
    public private(set) var recordsRead = 0

    /// Opens the list and the first file (Caffe's LayerSetUp). Errors name the list or the file.
    public init(listPath: String, layerName: String, tops: [String], batchSize: Int, shuffle: Bool) throws {
        self.listPath = listPath
        self.layerName = layerName
        self.tops = tops
        self.batchSize = batchSize
        self.shuffle = shuffle
        guard batchSize > 0 else {
            throw InputError("layer '\(layerName)' (HDF5Data): hdf5_data_param.batch_size must be positive, got \(batchSize)")
        }
        guard let data = FileManager.default.contents(atPath: listPath) else {
            throw InputError("\(listPath): cannot open the HDF5 file list of layer '\(layerName)' (HDF5Data)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let folder = (listPath as NSString).deletingLastPathComponent
        files = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" })
            .map { token in
                let p = String(token)
                if p.hasPrefix("/") || FileManager.default.fileExists(atPath: p) || folder.isEmpty { return p }
                let beside = (folder as NSString).appendingPathComponent(p)
                return FileManager.default.fileExists(atPath: beside) ? beside : p
            }
        guard !files.isEmpty else {
            throw InputError("\(listPath): the HDF5 file list of layer '\(layerName)' (HDF5Data) names no file")
        }
        filePermutation = Array(files.indices)
        if shuffle { random.shuffle(&filePermutation) }
        rowShapes = []
        let first = try load(filePermutation[0], expecting: nil)
        rowShapes = first
    }

    public var outputShape: [Int] { rowShapes.first ?? [] }
    public var description: String {
        "hdf5:\(listPath) (\(files.count) file\(files.count == 1 ? "" : "s")\(shuffle ? ", shuffled" : ""))"
    }

    /// LoadHDF5FileData: reads every top's dataset, checks the shapes, resets the row
    /// permutation (shuffled if asked). Returns the per-top row shapes.
    @discardableResult
    private func load(_ index: Int, expecting: [[Int]]?) throws -> [[Int]] {
        let path = files[index]
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError("\(path): HDF5 file listed in \(listPath) does not exist (layer '\(layerName)' (HDF5Data))")
        }
        var loaded: [[Float]] = []
        var shapes: [[Int]] = []
        var count: Int? = nil
        do {
            let file = try HDF5File.open(path: path)
            for (t, top) in tops.enumerated() {
                let (shape, v) = try file.readNumericDataset(top)
                guard shape.count >= 1 else {
                    throw InputError("\(path): dataset '\(top)' is a scalar; HDF5Data needs at least 1 axis (rows first) (layer '\(layerName)' (HDF5Data))")
                }
                if let count, shape[0] != count {
                    throw InputError("\(path): dataset '\(top)' has \(shape[0]) rows but '\(tops[0])' has \(count) (layer '\(layerName)' (HDF5Data))")
                }
                count = shape[0]
                let rowShape = Array(shape.dropFirst())
                if let expecting, expecting[t] != rowShape {
                    throw InputError("\(path): dataset '\(top)' has rows of shape \(rowShape) but the first file's are \(expecting[t]) (layer '\(layerName)' (HDF5Data))")
                }
                shapes.append(rowShape)
                loaded.append(v)
            }
            try file.close()
        } catch let e as HDF5Error {
            throw InputError("\(e.description) (layer '\(layerName)' (HDF5Data))")
        }
        guard let rowsHere = count, rowsHere > 0 else {
            throw InputError("\(path): the datasets hold no rows (layer '\(layerName)' (HDF5Data))")
        }
        values = loaded
        rows = rowsHere
        rowPermutation = Array(0..<rowsHere)
        if shuffle { random.shuffle(&rowPermutation) }
        return shapes
    }

    /// HDF5DataLayer::Next.
    private func advance() throws {
        currentRow += 1
        if currentRow == rows {
            if files.count > 1 {
                currentFile += 1
                if currentFile == files.count {
                    currentFile = 0
                    if shuffle { random.shuffle(&filePermutation) }
                }
                try load(filePermutation[currentFile], expecting: rowShapes)
            }
            currentRow = 0
            if shuffle { random.shuffle(&rowPermutation) }
        }
    }

    /// Writes the next `batchSize` rows into `tops[j]` (reshaped to [batchSize] + rowShapes[j]).
    public func next(tops out: [Blob]) throws {
        for (j, b) in out.enumerated() { b.reshape([batchSize] + rowShapes[j]) }
        for i in 0..<batchSize {
            let row = rowPermutation[currentRow]
            for (j, b) in out.enumerated() {
                let dim = values[j].count / rows
                values[j].withUnsafeBufferPointer { src in
                    (b.data + i * dim).update(from: src.baseAddress! + row * dim, count: dim)
                }
            }
            recordsRead += 1
            try advance()
        }
    }

    /// BatchSource: the first two tops (data, label).
    public func next(data: Blob, label: Blob?) throws {
        try next(tops: label.map { [data, $0] } ?? [data])
    }

    /// Serves one batch into scratch blobs (exact resume replays the batches served).
    public func skipBatch() throws {
        try next(tops: tops.map { Blob(name: "resume_skip_\($0)") })
    }
}

/// glibc's rand() (the TYPE_3 additive feedback generator of random_r.c) from srand(1), and
/// libstdc++'s std::random_shuffle over it: for i in 1..<n, swap a[i] with a[rand() % (i + 1)].
struct GlibcRandom {
    private var r: [Int32] = []
    private var f = 3, b = 0

    init(seed: UInt32 = 1) {
        var state = [Int32](repeating: 0, count: 34)
        state[0] = Int32(bitPattern: seed == 0 ? 1 : seed)
        for i in 1..<31 {
            // r[i] = (16807 · r[i−1]) % 2147483647 by Schrage's method, as random_r.c.
            let hi = Int64(state[i - 1]) / 127773, lo = Int64(state[i - 1]) % 127773
            var word = 16807 * lo - 2836 * hi
            if word < 0 { word += 2147483647 }
            state[i] = Int32(word)
        }
        r = Array(state.prefix(31))
        // random_r.c: fptr = &state[SEP_3 = 3], rptr = &state[0]; then 310 outputs discarded.
        f = 3; b = 0
        for _ in 0..<310 { _ = next() }
    }

    mutating func next() -> Int32 {
        let sum = UInt32(bitPattern: r[f]) &+ UInt32(bitPattern: r[b])
        r[f] = Int32(bitPattern: sum)
        let result = Int32(bitPattern: sum >> 1)
        f += 1
        if f >= 31 { f = 0; b += 1 } else { b += 1; if b >= 31 { b = 0 } }
        return result
    }

    mutating func shuffle(_ a: inout [Int]) {
        guard a.count > 1 else { return }
        for i in 1..<a.count {
            let j = Int(next()) % (i + 1)
            if i != j { a.swapAt(i, j) }
        }
    }
}

/// A data position exact resume saves and restores (Trainer: `<net>_layer<i>_records`): the
/// records served so far, restored by serving that many batches again (which also replays the
/// source's own random draws in order).
public protocol ResumableBatchPosition: AnyObject {
    var batchSize: Int { get }
    var recordsRead: Int { get }
    func skipBatch() throws
}

extension HDF5DataReader: ResumableBatchPosition {}

extension DataFeeder: ResumableBatchPosition {
    public func skipBatch() throws {
        try nextBatch(data: Blob(name: "resume_skip_data"), label: Blob(name: "resume_skip_label"))
    }
}
