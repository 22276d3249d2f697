import InitDiagCore
import InitDiagTrace
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file (empty files map to an empty buffer). The pages are
/// read lazily by the kernel, so opening the 150 MB CIFAR-10 training set costs nothing up front.
final class DataMappedFile {
    let path: String
    let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw InputError("\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw InputError("\(path): cannot stat (\(String(cString: strerror(errno))))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw InputError("\(path): not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw InputError("\(path): cannot map \(size) bytes (\(String(cString: strerror(errno))))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }
}

/// The CIFAR-10 binary version (docs/semantics.md §8): files of 3073-byte records, byte 0 = label, then
/// the red, green and blue 32×32 planes, each row-major. Records come out as Caffe's
/// convert_cifar_data stores them (BVLC/caffe examples/cifar10/convert_cifar_data.cpp): channels 3,
/// 32×32, the 3072 bytes unchanged (RGB planes, not BGR), label = byte 0.
///
/// TRAIN reads data_batch_1.bin … data_batch_5.bin (those present, in that order), TEST reads
/// test_batch.bin. Any file whose size is a multiple of 3073 is accepted (the shared test_batch.bin
/// holds 1000 records).
public final class CIFAR10Source: DataSource {
    public static let recordBytes = 3073
    public static let imageBytes = 3072
    public static let trainFileNames = (1...5).map { "data_batch_\($0).bin" }
    public static let testFileName = "test_batch.bin"

    public let directory: String
    public let phase: Phase
    /// The files read, in order, each with its number of records.
    public let files: [(path: String, records: Int)]
    /// The mapped files (the converter reads records straight from them).
    let maps: [DataMappedFile]
    /// Record index at which each file starts in the concatenated order, plus the total at the end.
    private let fileStarts: [Int]
    private let total: Int
    private var fileIndex = 0
    private var itemIndex = 0

    public init(directory: String, phase: Phase) throws {
        self.directory = directory
        self.phase = phase
        let names = phase == .TRAIN ? CIFAR10Source.trainFileNames : [CIFAR10Source.testFileName]
        var maps: [DataMappedFile] = []
        for name in names {
            let path = CIFAR10Source.join(directory, name)
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            let map = try DataMappedFile(path: path)
            guard map.bytes.count % CIFAR10Source.recordBytes == 0 else {
                throw InputError("\(path): \(map.bytes.count) bytes is not a whole number of 3073-byte CIFAR-10 records")
            }
            maps.append(map)
        }
        guard !maps.isEmpty else {
            // The parent of the batches folder (the tarball unpacks into cifar-10-batches-bin/):
            // name the subfolder that holds them.
            let holding = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted().first { sub in
                FileManager.default.fileExists(atPath: CIFAR10Source.join(CIFAR10Source.join(directory, sub), names[0]))
            }
            if let holding {
                throw InputError("\(directory): no CIFAR-10 binary files for \(phase) here, but its subfolder \(holding) holds them: use cifar10:\(CIFAR10Source.join(directory, holding))")
            }
            throw InputError("\(directory): no CIFAR-10 binary files for \(phase) (expected \(names.joined(separator: ", ")))")
        }
        var starts = [0]
        var total = 0
        for m in maps {
            total += m.bytes.count / CIFAR10Source.recordBytes
            starts.append(total)
        }
        guard total > 0 else {
            throw InputError("\(directory): the CIFAR-10 files for \(phase) hold no records")
        }
        self.maps = maps
        self.fileStarts = starts
        self.total = total
        self.files = maps.map { ($0.path, $0.bytes.count / CIFAR10Source.recordBytes) }
        skipEmptyFiles()
    }

    public var recordCount: Int? { total }

    public var description: String {
        let names = files.map { String($0.path.split(separator: "/").last ?? "") }
        return "cifar10:\(directory) (\(phase): \(names.joined(separator: ", ")); \(total) records)"
    }

    public func next(into record: DataRecord) throws {
        let map = maps[fileIndex]
        let start = itemIndex * CIFAR10Source.recordBytes
        record.prepareBytes(channels: 3, height: 32, width: 32)
        record.label = Int32(map.bytes[start])
        record.bytes.withUnsafeMutableBytes { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: map.bytes[(start + 1)..<(start + CIFAR10Source.recordBytes)]))
        }
        if record.origin != map.path { record.origin = map.path }
        record.index = itemIndex
        if !record.keyBytes.isEmpty { record.keyBytes.removeAll(keepingCapacity: true) }
        itemIndex += 1
        skipEmptyFiles()
    }

    public func rewind() throws {
        fileIndex = 0
        itemIndex = 0
        skipEmptyFiles()
    }

    /// Moves past the end of the current file (and any empty files) to the next record, wrapping.
    private func skipEmptyFiles() {
        while itemIndex >= files[fileIndex].records {
            itemIndex = 0
            fileIndex = (fileIndex + 1) % files.count
        }
    }

    /// The record at a global position (file order), without moving the stream.
    public func record(at position: Int, into record: DataRecord) throws {
        guard position >= 0, position < total else {
            throw InputError("\(directory): record \(position) is out of range (0..<\(total))")
        }
        let savedFile = fileIndex, savedItem = itemIndex
        var f = 0
        while position >= fileStarts[f + 1] { f += 1 }
        fileIndex = f
        itemIndex = position - fileStarts[f]
        try next(into: record)
        fileIndex = savedFile
        itemIndex = savedItem
    }

    static func join(_ dir: String, _ name: String) -> String {
        dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }
}
