import InitDiagCore
import InitDiagTrace
import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

fileprivate func lmdbMessage(_ rc: Int32) -> String { String(cString: mdb_strerror(rc)) }

/// A Caffe LMDB of serialized `Datum` records (as convert_cifar_data and convert_imageset write),
/// read in key order and wrapping to the first key, as Caffe's DataLayer does
/// (BVLC/caffe src/caffe/util/db_lmdb.cpp: environment opened MDB_RDONLY | MDB_NOTLS, one read
/// transaction, a cursor stepped with MDB_NEXT and reset with MDB_FIRST; data_layer.cpp Next()).
///
/// Values are read from LMDB's memory map; each record's pixels are copied once, into the
/// caller's `DataRecord`. Encoded (PNG/JPEG) datums are refused: initdiag has no image decoder.
public final class LMDBSource: DataSource {
    public let path: String
    public private(set) var recordCount: Int? = nil
    private var env: OpaquePointer?
    private var txn: OpaquePointer?
    private var cursor: OpaquePointer?
    /// Position of the cursor's current record in key order.
    private var position = 0
    /// Whether the environment had to be opened without a lock file (read-only directory).
    public private(set) var openedWithoutLock = false

    public init(path: String) throws {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw InputError("\(path): no such LMDB (\(String(cString: strerror(errno))))")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw InputError("\(path): not an LMDB (an LMDB is a directory holding data.mdb)")
        }
        // Caffe's flags; a read-only directory cannot take LMDB's lock file, so retry without it
        // (safe here: nothing writes a data set while it is being read).
        var rc = LMDBSource.openEnvironment(path, flags: UInt32(MDB_RDONLY | MDB_NOTLS), env: &env)
        if rc == EACCES || rc == EROFS {
            rc = LMDBSource.openEnvironment(path, flags: UInt32(MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK), env: &env)
            openedWithoutLock = rc == 0
        }
        guard rc == 0 else {
            throw InputError("\(path): not a readable LMDB (\(lmdbMessage(rc)))")
        }
        // LMDB memory-maps data.mdb and trusts its meta page: a file cut short (a copy that
        // stopped half-way) makes the first read of a missing page a SIGBUS, not an error code.
        // The meta page (read with pread by mdb_env_open) says how far the used pages reach.
        do {
            try LMDBSource.checkNotTruncated(path: path, env: env)
        } catch {
            closeAll()
            throw error
        }
        var count = 0
        do {
            var t: OpaquePointer?
            rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &t)
            guard rc == 0 else { throw InputError("\(path): cannot begin an LMDB read transaction (\(lmdbMessage(rc)))") }
            txn = t
            var dbi: MDB_dbi = 0
            rc = mdb_dbi_open(txn, nil, 0, &dbi)
            guard rc == 0 else { throw InputError("\(path): cannot open the LMDB's database (\(lmdbMessage(rc)))") }
            var stat = MDB_stat()
            rc = mdb_stat(txn, dbi, &stat)
            guard rc == 0 else { throw InputError("\(path): cannot read the LMDB's statistics (\(lmdbMessage(rc)))") }
            count = Int(stat.ms_entries)
            var c: OpaquePointer?
            rc = mdb_cursor_open(txn, dbi, &c)
            guard rc == 0 else { throw InputError("\(path): cannot open an LMDB cursor (\(lmdbMessage(rc)))") }
            cursor = c
            var key = MDB_val(), value = MDB_val()
            rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
            if rc == MDB_NOTFOUND { throw InputError("\(path): the LMDB holds no records") }
            guard rc == 0 else { throw InputError("\(path): cannot read the LMDB (\(lmdbMessage(rc)))") }
        } catch {
            closeAll()
            throw error
        }
        recordCount = count
    }

    deinit { closeAll() }

    private func closeAll() {
        if let cursor { mdb_cursor_close(cursor) }
        if let txn { mdb_txn_abort(txn) }
        if let env { mdb_env_close(env) }
        cursor = nil; txn = nil; env = nil
    }

    private static func checkNotTruncated(path: String, env: OpaquePointer?) throws {
        var info = MDB_envinfo(), envStat = MDB_stat()
        guard mdb_env_info(env, &info) == 0, mdb_env_stat(env, &envStat) == 0 else { return }
        let pageSize = Int(envStat.ms_psize)
        let (needed, overflow) = (Int(info.me_last_pgno) + 1).multipliedReportingOverflow(by: pageSize)
        let dataFile = path + "/data.mdb"
        var fileStat = stat()
        guard stat(dataFile, &fileStat) == 0 else { return }
        if overflow || Int(fileStat.st_size) < needed {
            throw InputError("\(dataFile): truncated LMDB (\(fileStat.st_size) bytes, but its meta page uses \(Int(info.me_last_pgno) + 1) pages of \(pageSize) bytes)")
        }
    }

    private static func openEnvironment(_ path: String, flags: UInt32, env: inout OpaquePointer?) -> Int32 {
        if let e = env { mdb_env_close(e); env = nil }
        var e: OpaquePointer?
        var rc = mdb_env_create(&e)
        guard rc == 0, let e else { return rc }
        rc = mdb_env_open(e, path, flags, 0o664)
        if rc != 0 {
            mdb_env_close(e)
            return rc
        }
        env = e
        return 0
    }

    public var description: String { "lmdb:\(path) (\(recordCount ?? 0) records)" }

    public func next(into record: DataRecord) throws {
        var key = MDB_val(), value = MDB_val()
        var rc = mdb_cursor_get(cursor, &key, &value, MDB_GET_CURRENT)
        guard rc == 0 else { throw InputError("\(path): cannot read record \(position) (\(lmdbMessage(rc)))") }
        if !record.keyBytes.isEmpty { record.keyBytes.removeAll(keepingCapacity: true) }
        record.keyBytes.append(contentsOf: UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size))
        if record.origin != path { record.origin = path }
        record.index = position
        let encoded: Bool
        do {
            encoded = try DatumCodec.decode(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size), into: record)
        } catch let e as WireError {
            throw InputError("\(record.name): corrupt Datum record (\(e))")
        }
        if encoded {
            throw InputError("\(record.name): encoded images are not supported; convert with convert_imageset without --encoded (or `initdiag convert cifar10` for CIFAR-10)")
        }
        try DatumCodec.validate(record)
        // Caffe data_layer.cpp Next(): step the cursor, back to the first key past the last.
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        if rc == MDB_NOTFOUND {
            rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
            position = 0
        } else {
            position += 1
        }
        guard rc == 0 else { throw InputError("\(path): cannot step the LMDB cursor (\(lmdbMessage(rc)))") }
    }

    /// Every (key, value) pair in key order, copied out (for tests and tools; small DBs only).
    static func rawEntries(path: String) throws -> [(key: [UInt8], value: [UInt8])] {
        let source = try LMDBSource(path: path)
        var out: [(key: [UInt8], value: [UInt8])] = []
        var key = MDB_val(), value = MDB_val()
        var rc = mdb_cursor_get(source.cursor, &key, &value, MDB_FIRST)
        while rc == 0 {
            out.append((Array(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)),
                        Array(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))))
            rc = mdb_cursor_get(source.cursor, &key, &value, MDB_NEXT)
        }
        guard rc == MDB_NOTFOUND else { throw InputError("\(path): cannot read the LMDB (\(lmdbMessage(rc)))") }
        return out
    }

    public func rewind() throws {
        var key = MDB_val(), value = MDB_val()
        let rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
        guard rc == 0 else { throw InputError("\(path): cannot read the LMDB (\(lmdbMessage(rc)))") }
        position = 0
    }
}

/// Writes an LMDB the way Caffe's db_lmdb.cpp does: puts buffered per transaction, and when the
/// map fills (MDB_MAP_FULL) the transaction is aborted, the map size doubled and the batch put
/// again (LMDBTransaction::Commit / DoubleMapSize).
final class LMDBWriter {
    let path: String
    private var env: OpaquePointer?
    private(set) var mapSize: Int
    private var pending: [([UInt8], [UInt8])] = []

    /// Creates `path` (a new directory) and an empty LMDB in it.
    init(path: String, initialMapSize: Int = 64 << 20) throws {
        self.path = path
        self.mapSize = initialMapSize
        guard mkdir(path, 0o755) == 0 else {
            throw InputError("\(path): cannot create the LMDB directory (\(String(cString: strerror(errno))))")
        }
        var e: OpaquePointer?
        var rc = mdb_env_create(&e)
        guard rc == 0, let e else { throw InputError("\(path): cannot create an LMDB environment (\(lmdbMessage(rc)))") }
        rc = mdb_env_set_mapsize(e, mapSize)
        if rc == 0 { rc = mdb_env_open(e, path, 0, 0o664) }
        guard rc == 0 else {
            mdb_env_close(e)
            throw InputError("\(path): cannot open a new LMDB (\(lmdbMessage(rc)))")
        }
        env = e
    }

    deinit { if let env { mdb_env_close(env) } }

    func put(key: [UInt8], value: [UInt8]) { pending.append((key, value)) }

    var pendingCount: Int { pending.count }

    func commit() throws {
        guard let env else { throw InputError("\(path): LMDB already closed") }
        while true {
            var txn: OpaquePointer?
            var rc = mdb_txn_begin(env, nil, 0, &txn)
            guard rc == 0 else { throw InputError("\(path): cannot begin an LMDB write transaction (\(lmdbMessage(rc)))") }
            var dbi: MDB_dbi = 0
            rc = mdb_dbi_open(txn, nil, 0, &dbi)
            if rc == 0 {
                for (k, v) in pending {
                    rc = k.withUnsafeBytes { kb in
                        v.withUnsafeBytes { vb in
                            var key = MDB_val(mv_size: kb.count, mv_data: UnsafeMutableRawPointer(mutating: kb.baseAddress))
                            var value = MDB_val(mv_size: vb.count, mv_data: UnsafeMutableRawPointer(mutating: vb.baseAddress))
                            return mdb_put(txn, dbi, &key, &value, 0)
                        }
                    }
                    if rc != 0 { break }
                }
            }
            if rc == 0 {
                rc = mdb_txn_commit(txn)
                if rc == 0 { pending.removeAll(); return }
            } else {
                mdb_txn_abort(txn)
            }
            guard rc == MDB_MAP_FULL else {
                throw InputError("\(path): LMDB write failed (\(lmdbMessage(rc)))")
            }
            mapSize *= 2
            rc = mdb_env_set_mapsize(env, mapSize)
            guard rc == 0 else { throw InputError("\(path): cannot grow the LMDB map to \(mapSize) bytes (\(lmdbMessage(rc)))") }
        }
    }

    func close() throws {
        if !pending.isEmpty { try commit() }
        if let env { mdb_env_close(env) }
        env = nil
    }
}
