import InitDiagCore
import InitDiagTrace
import CLevelDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Takes a LevelDB error string (malloc'ed by the library), frees it and returns it as text.
fileprivate func takeLevelDBError(_ err: inout UnsafeMutablePointer<CChar>?) -> String? {
    guard let e = err else { return nil }
    let s = String(cString: e)
    leveldb_free(e)
    err = nil
    return s
}

/// A Caffe LevelDB of serialized `Datum` records (what convert_imageset --backend leveldb and the
/// siamese example's convert_mnist_siamese_data write), read in key order and wrapping to the
/// first key, as Caffe's DataLayer does (BVLC/caffe src/caffe/util/db_leveldb.cpp: the DB is
/// opened with create_if_missing false for READ, one iterator from default ReadOptions,
/// SeekToFirst, Next; data_layer.cpp Next() seeks to the first key past the last).
///
/// Key order is LevelDB's default bytewise comparator, the same order as LMDB's, so a data set
/// written to either backend yields its records in the same order. The number of records is
/// counted once at open (one pass over the keys, values not decoded). Encoded (PNG/JPEG) datums
/// are refused, as for LMDB.
public final class LevelDBSource: DataSource {
    public let path: String
    public private(set) var recordCount: Int? = nil
    /// The open database, shared by every source of the same path in this process: LevelDB
    /// locks a database for one opener, and the train and test nets may read the same one.
    private let handle: LevelDBHandle
    private var readOptions: OpaquePointer?
    private var iterator: OpaquePointer?
    private var position = 0

    public init(path: String) throws {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw InputError("\(path): no such LevelDB (\(String(cString: strerror(errno))))")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw InputError("\(path): not a LevelDB (a LevelDB is a directory holding CURRENT, MANIFEST-* and *.ldb files)")
        }
        // Opening writes LOCK and LOG into the folder: refuse a folder without CURRENT before.
        guard access(path + "/CURRENT", F_OK) == 0 else {
            throw InputError("\(path): not a LevelDB (no CURRENT file; a LevelDB is a directory holding CURRENT, MANIFEST-* and *.ldb files)")
        }
        handle = try LevelDBHandle.open(path)
        readOptions = leveldb_readoptions_create()
        leveldb_readoptions_set_verify_checksums(readOptions, 1)
        iterator = leveldb_create_iterator(handle.db, readOptions)
        leveldb_iter_seek_to_first(iterator)
        var n = 0
        while leveldb_iter_valid(iterator) != 0 {
            n += 1
            leveldb_iter_next(iterator)
        }
        var err: UnsafeMutablePointer<CChar>? = nil
        leveldb_iter_get_error(iterator, &err)
        if let message = takeLevelDBError(&err) {
            closeAll()
            throw InputError("\(path): corrupt LevelDB (\(LevelDBSource.oneLine(message)))")
        }
        guard n > 0 else {
            closeAll()
            throw InputError("\(path): the LevelDB holds no records")
        }
        recordCount = n
        leveldb_iter_seek_to_first(iterator)
    }

    deinit { closeAll() }

    private func closeAll() {
        if let iterator { leveldb_iter_destroy(iterator) }
        if let readOptions { leveldb_readoptions_destroy(readOptions) }
        iterator = nil; readOptions = nil
    }

    static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var description: String { "leveldb:\(path) (\(recordCount ?? 0) records)" }

    public func next(into record: DataRecord) throws {
        guard leveldb_iter_valid(iterator) != 0 else {
            throw InputError("\(path): cannot read record \(position) (the LevelDB iterator is not positioned)")
        }
        var keyLength = 0, valueLength = 0
        let key = leveldb_iter_key(iterator, &keyLength)
        let value = leveldb_iter_value(iterator, &valueLength)
        if !record.keyBytes.isEmpty { record.keyBytes.removeAll(keepingCapacity: true) }
        record.keyBytes.append(contentsOf: UnsafeRawBufferPointer(start: key, count: keyLength))
        if record.origin != path { record.origin = path }
        record.index = position
        let encoded: Bool
        do {
            encoded = try DatumCodec.decode(UnsafeRawBufferPointer(start: value, count: valueLength), into: record)
        } catch let e as WireError {
            throw InputError("\(record.name): corrupt Datum record (\(e))")
        }
        if encoded {
            throw InputError("\(record.name): encoded images are not supported; convert with convert_imageset without --encoded")
        }
        try DatumCodec.validate(record)
        leveldb_iter_next(iterator)
        if leveldb_iter_valid(iterator) == 0 {
            var err: UnsafeMutablePointer<CChar>? = nil
            leveldb_iter_get_error(iterator, &err)
            if let message = takeLevelDBError(&err) {
                throw InputError("\(path): corrupt LevelDB after record \(position) (\(LevelDBSource.oneLine(message)))")
            }
            leveldb_iter_seek_to_first(iterator)
            position = 0
        } else {
            position += 1
        }
    }

    public func rewind() throws {
        leveldb_iter_seek_to_first(iterator)
        position = 0
    }
}

/// One open LevelDB (leveldb_t), shared per path: opened with create_if_missing false and
/// paranoid checks, closed when the last source using it goes away.
final class LevelDBHandle: @unchecked Sendable {
    let db: OpaquePointer
    private let options: OpaquePointer
    private let key: String

    private init(db: OpaquePointer, options: OpaquePointer, key: String) {
        self.db = db; self.options = options; self.key = key
    }

    deinit {
        LevelDBHandle.lock.lock()
        if LevelDBHandle.table[key]?.value == nil || LevelDBHandle.table[key]?.value === self { LevelDBHandle.table[key] = nil }
        LevelDBHandle.lock.unlock()
        leveldb_close(db)
        leveldb_options_destroy(options)
    }

    private struct Weak { weak var value: LevelDBHandle? }
    private static let lock = NSLockShim()
    nonisolated(unsafe) private static var table: [String: Weak] = [:]

    static func open(_ path: String) throws -> LevelDBHandle {
        var key = path
        if let resolved = realpath(path, nil) {
            key = String(cString: resolved)
            free(resolved)
        }
        lock.lock()
        defer { lock.unlock() }
        if let h = table[key]?.value { return h }
        guard let options = leveldb_options_create() else { throw InputError("\(path): cannot create LevelDB options") }
        leveldb_options_set_create_if_missing(options, 0)
        leveldb_options_set_paranoid_checks(options, 1)
        var err: UnsafeMutablePointer<CChar>? = nil
        // A failed open leaves the LOCK and LOG files it created behind: remove those (only those
        // that were not there before), so a refused folder is left as it was.
        let created = ["LOCK", "LOG", "LOG.old"].map { path + "/" + $0 }.filter { access($0, F_OK) != 0 }
        let db = leveldb_open(options, path, &err)
        if let message = takeLevelDBError(&err) {
            leveldb_options_destroy(options)
            for f in created { unlink(f) }
            throw InputError("\(path): not a readable LevelDB (\(LevelDBSource.oneLine(message)))")
        }
        guard let db else {
            leveldb_options_destroy(options)
            throw InputError("\(path): not a readable LevelDB")
        }
        let h = LevelDBHandle(db: db, options: options, key: key)
        table[key] = Weak(value: h)
        return h
    }
}

/// A pthread mutex (Foundation-free, usable from a static).
final class NSLockShim: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func lock() { pthread_mutex_lock(&m) }
    func unlock() { pthread_mutex_unlock(&m) }
}

/// Writes a LevelDB the way Caffe's db_leveldb.cpp does for convert_imageset (create_if_missing,
/// error_if_exists, block_size 65536, write_buffer_size 256 MB, max_open_files 100; puts batched
/// in a WriteBatch, written on commit). For tests and converters.
final class LevelDBWriter {
    let path: String
    private var db: OpaquePointer?
    private var options: OpaquePointer?
    private var writeOptions: OpaquePointer?
    private var batch: OpaquePointer?

    init(path: String) throws {
        self.path = path
        options = leveldb_options_create()
        leveldb_options_set_create_if_missing(options, 1)
        leveldb_options_set_error_if_exists(options, 1)
        leveldb_options_set_block_size(options, 65536)
        leveldb_options_set_write_buffer_size(options, 268_435_456)
        leveldb_options_set_max_open_files(options, 100)
        var err: UnsafeMutablePointer<CChar>? = nil
        db = leveldb_open(options, path, &err)
        if let message = takeLevelDBError(&err) {
            leveldb_options_destroy(options)
            throw InputError("\(path): cannot create a LevelDB (\(LevelDBSource.oneLine(message)))")
        }
        writeOptions = leveldb_writeoptions_create()
        batch = leveldb_writebatch_create()
    }

    deinit { try? close() }

    func put(key: [UInt8], value: [UInt8]) {
        let k = key.map { CChar(bitPattern: $0) }, v = value.map { CChar(bitPattern: $0) }
        leveldb_writebatch_put(batch, k, k.count, v, v.count)
    }

    func commit() throws {
        guard let db else { throw InputError("\(path): LevelDB already closed") }
        var err: UnsafeMutablePointer<CChar>? = nil
        leveldb_write(db, writeOptions, batch, &err)
        if let message = takeLevelDBError(&err) {
            throw InputError("\(path): LevelDB write failed (\(LevelDBSource.oneLine(message)))")
        }
        leveldb_writebatch_clear(batch)
    }

    func close() throws {
        guard db != nil else { return }
        try commit()
        leveldb_writebatch_destroy(batch)
        leveldb_writeoptions_destroy(writeOptions)
        leveldb_close(db)
        leveldb_options_destroy(options)
        db = nil; batch = nil; writeOptions = nil; options = nil
    }
}
