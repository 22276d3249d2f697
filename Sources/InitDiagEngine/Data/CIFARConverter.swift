import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `initdiag convert cifar10 DIR OUT`: the CIFAR-10 binary files to Caffe LMDBs, as Caffe's
/// convert_cifar_data does (BVLC/caffe examples/cifar10/convert_cifar_data.cpp, docs/semantics.md §6):
/// `OUT/cifar10_train_lmdb` from data_batch_1.bin … data_batch_5.bin and `OUT/cifar10_test_lmdb`
/// from test_batch.bin; one Datum per record with channels 3, height 32, width 32, data = the 3072
/// bytes unchanged, label = the first byte; keys "%05d" of k·10000 + i for item i of training file
/// k (k = 0 for data_batch_1.bin), and of i for the test file.
///
/// Differences, all for robustness: files present are converted (Caffe requires all six with
/// exactly 10000 records); a training file with more than 10000 records is refused (its keys
/// would collide with the next file's); each database is written into a temporary directory and
/// renamed into place when complete; an existing output database is an error, as Caffe's
/// `mkdir` check makes it.
public enum CIFARConverter {
    public struct Summary: Sendable, Equatable {
        public let trainPath: String, trainRecords: Int
        public let testPath: String, testRecords: Int
    }

    /// Records per LMDB transaction. Caffe's converter puts a whole database in one transaction;
    /// committing in groups bounds the memory held for a retry after MDB_MAP_FULL and gives the
    /// same database content (same keys and values).
    static let recordsPerTransaction = 1000

    @discardableResult
    public static func convert(directory: String, output: String) throws -> Summary {
        try convert(directory: directory, output: output, initialMapSize: 64 << 20)
    }

    static func convert(directory: String, output: String, initialMapSize: Int) throws -> Summary {
        let train = try CIFAR10Source(directory: directory, phase: .TRAIN)
        let test = try CIFAR10Source(directory: directory, phase: .TEST)
        var st = stat()
        if stat(output, &st) != 0 {
            guard mkdir(output, 0o755) == 0 else {
                throw InputError("\(output): cannot create the output directory (\(String(cString: strerror(errno))))")
            }
        } else if (st.st_mode & S_IFMT) != S_IFDIR {
            throw InputError("\(output): exists and is not a directory")
        }
        let trainPath = CIFAR10Source.join(output, "cifar10_train_lmdb")
        let testPath = CIFAR10Source.join(output, "cifar10_test_lmdb")
        for p in [trainPath, testPath] where stat(p, &st) == 0 {
            throw InputError("\(p): already exists; remove it first")
        }
        var trainRecords = 0
        try write(to: trainPath, initialMapSize: initialMapSize) { writer in
            for (map, fileInfo) in zip(train.maps, train.files) {
                // data_batch_<k+1>.bin → key offset k·10000.
                let name = String(fileInfo.path.split(separator: "/").last ?? "")
                guard let k = CIFAR10Source.trainFileNames.firstIndex(of: name) else { continue }
                guard fileInfo.records <= 10_000 else {
                    throw InputError("\(fileInfo.path): \(fileInfo.records) records; convert_cifar_data's keys (file·10000 + item) allow at most 10000 per training file")
                }
                try put(map: map, records: fileInfo.records, keyBase: k * 10_000, writer: writer)
                trainRecords += fileInfo.records
            }
        }
        let testRecords = test.files[0].records
        guard testRecords <= 100_000 else {
            throw InputError("\(test.files[0].path): \(testRecords) records; five-digit keys allow at most 100000")
        }
        try write(to: testPath, initialMapSize: initialMapSize) { writer in
            try put(map: test.maps[0], records: testRecords, keyBase: 0, writer: writer)
        }
        return Summary(trainPath: trainPath, trainRecords: trainRecords, testPath: testPath, testRecords: testRecords)
    }

    private static func put(map: DataMappedFile, records: Int, keyBase: Int, writer: LMDBWriter) throws {
        var datum = Datum()
        datum.channels = 3
        datum.height = 32
        datum.width = 32
        for i in 0..<records {
            let start = i * CIFAR10Source.recordBytes
            datum.label = Int32(map.bytes[start])
            datum.data = Array(UnsafeRawBufferPointer(rebasing: map.bytes[(start + 1)..<(start + CIFAR10Source.recordBytes)]))
            writer.put(key: fiveDigitKey(keyBase + i), value: DatumCodec.encode(datum))
            if writer.pendingCount >= recordsPerTransaction { try writer.commit() }
        }
    }

    /// "%05d" (zero-padded to five digits, longer numbers printed whole).
    static func fiveDigitKey(_ n: Int) -> [UInt8] {
        let digits = Array(String(n).utf8)
        return digits.count >= 5 ? digits : Array(repeating: UInt8(ascii: "0"), count: 5 - digits.count) + digits
    }

    /// Writes a database into `final + ".tmp-<pid>"` and renames it to `final` when complete; on
    /// failure the temporary directory is removed.
    private static func write(to final: String, initialMapSize: Int, _ body: (LMDBWriter) throws -> Void) throws {
        let temp = "\(final).tmp-\(getpid())"
        removeTree(temp)
        do {
            let writer = try LMDBWriter(path: temp, initialMapSize: initialMapSize)
            try body(writer)
            try writer.close()
            guard rename(temp, final) == 0 else {
                throw InputError("\(final): cannot move the finished LMDB into place (\(String(cString: strerror(errno))))")
            }
        } catch {
            removeTree(temp)
            throw error
        }
    }

    /// Removes an LMDB directory we created (its files, then the directory).
    private static func removeTree(_ dir: String) {
        for f in ["data.mdb", "lock.mdb"] { unlink(CIFAR10Source.join(dir, f)) }
        rmdir(dir)
    }
}
