import Foundation
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Helpers shared by the data tests: temporary directories, small CIFAR-10 files, fixtures.
enum DataTestSupport {
    /// A fresh directory under the system temp dir; the caller removes it.
    static func makeTempDir(_ tag: String = "data") throws -> String {
        var template = Array("\(NSTemporaryDirectory())/initdiag-\(tag)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw InputError("mkdtemp failed") }
        return String(cString: p)
    }

    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    /// The package root, found from this file's path.
    static var packageRoot: String { InitDiagTests.packageRoot() }

    static func fixture(_ relative: String) -> String { packageRoot + "/Fixtures/data/" + relative }

    /// The CIFAR-10 binary directory if present: env INITDIAG_CIFAR10, else the shared copy that
    /// sits beside the repository (`../shared/data/cifar-10-batches-bin` from the package root, as
    /// on the project machines and in CI).
    static var realCIFAR10: String? {
        let candidates = [ProcessInfo.processInfo.environment["INITDIAG_CIFAR10"],
                          packageRoot + "/../shared/data/cifar-10-batches-bin"]
        for case let c? in candidates where FileManager.default.fileExists(atPath: c + "/data_batch_1.bin") { return c }
        return nil
    }

    /// Pixel byte j of synthetic CIFAR record `item` of file `file`: a pattern that differs per
    /// record and per position.
    static func pixel(file: Int, item: Int, _ j: Int) -> UInt8 { UInt8((j * 31 + item * 17 + file * 101) % 256) }
    static func label(file: Int, item: Int) -> UInt8 { UInt8((file * 3 + item * 7) % 10) }

    /// Writes a CIFAR-10 binary file of `records` records (label + 3072 pattern bytes each).
    static func writeCIFARFile(_ path: String, file: Int, records: Int, extraBytes: Int = 0) throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records * 3073 + extraBytes)
        for i in 0..<records {
            bytes.append(label(file: file, item: i))
            for j in 0..<3072 { bytes.append(pixel(file: file, item: i, j)) }
        }
        bytes.append(contentsOf: repeatElement(7, count: extraBytes))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A small CIFAR-10 directory: data_batch_1 (3 records), data_batch_2 (2), data_batch_4 (1),
    /// test_batch (3). File numbers in `pixel`/`label` are 1, 2, 4 and 0 for the test file.
    static func makeSmallCIFAR() throws -> String {
        let dir = try makeTempDir("cifar")
        try writeCIFARFile(dir + "/data_batch_1.bin", file: 1, records: 3)
        try writeCIFARFile(dir + "/data_batch_2.bin", file: 2, records: 2)
        try writeCIFARFile(dir + "/data_batch_4.bin", file: 4, records: 1)
        try writeCIFARFile(dir + "/test_batch.bin", file: 0, records: 3)
        return dir
    }

    /// The (file, item) pairs of the small train set in Caffe's order.
    static let smallTrainOrder: [(file: Int, item: Int)] = [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (4, 0)]

    static func expectedPixels(file: Int, item: Int) -> [UInt8] { (0..<3072).map { pixel(file: file, item: item, $0) } }

    /// Copies a directory's regular files into a new temp dir (LMDB readers create lock files;
    /// fixtures in the repository stay untouched).
    static func copyDir(_ src: String) throws -> String {
        let dst = try makeTempDir("copy")
        for name in try FileManager.default.contentsOfDirectory(atPath: src) {
            try FileManager.default.copyItem(atPath: src + "/" + name, toPath: dst + "/" + name)
        }
        return dst
    }

    /// Whether `body` throws an InputError whose message contains every string in `parts`.
    static func inputError(_ body: () throws -> Void) -> InputError? {
        do { try body() } catch let e as InputError { return e } catch { return nil }
        return nil
    }
}
