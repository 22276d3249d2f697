import InitDiagCore
import CHDF5
import Foundation

// The only file of initdiag that calls the HDF5 C API (HDF5 1.10 serial; docs/toolchain.md). Everything
// else (trace writer/reader, Caffe snapshots) goes through these small classes, which own their
// HDF5 ids (closed on deinit), check every return code and throw `HDF5Error` naming the file and
// the object path. The automatic error-stack printing is switched off on every thread that calls
// in (the stack is per-thread in the thread-safe build); the innermost HDF5 message is kept in
// the thrown error instead.

/// A failed HDF5 call: `file`, the object `path` inside it, what we tried, and HDF5's own reason.
public struct HDF5Error: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let path: String
    public let operation: String
    public let reason: String

    public var description: String {
        let at = path.isEmpty ? "" : " at \(path)"
        let why = reason.isEmpty ? "" : ": \(reason)"
        return "\(file)\(at): cannot \(operation)\(why)"
    }
}

/// A value stored in an HDF5 attribute. Strings are variable-length UTF-8 (h5py reads `str`),
/// integers int64, reals float64; arrays are 1-D.
public enum HDF5AttributeValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case double(Double)
    case ints([Int64])
    case doubles([Double])
    /// A 1-D array of variable-length strings (h5py reads it as a list, in order).
    case strings([String])

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var intValue: Int64? {
        switch self {
        case .int(let v): return v
        case .ints(let v) where v.count == 1: return v[0]
        default: return nil
        }
    }
    /// Integers convert to Double.
    public var doubleValue: Double? {
        switch self {
        case .double(let v): return v
        case .int(let v): return Double(v)
        case .doubles(let v) where v.count == 1: return v[0]
        default: return nil
        }
    }
    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .ints(let v): return v.map(String.init).joined(separator: ",")
        case .doubles(let v): return v.map { String($0) }.joined(separator: ",")
        case .strings(let v): return v.joined(separator: ",")
        }
    }
}

/// Element types the wrapper creates datasets with (file types are little-endian IEEE / two's
/// complement, what Caffe's `H5LTmake_dataset_*` writes on x86).
public enum HDF5ElementType: Sendable {
    case float32, float64, int32, int64

    fileprivate var fileType: hid_t {
        switch self {
        case .float32: return initdiag_H5T_IEEE_F32LE()
        case .float64: return initdiag_H5T_IEEE_F64LE()
        case .int32: return initdiag_H5T_STD_I32LE()
        case .int64: return initdiag_H5T_STD_I64LE()
        }
    }
}

/// The kind of object a link points at.
public enum HDF5ObjectKind: Sendable, Equatable { case group, dataset, other }

/// Upper bound on the elements of a dataset we agree to read into memory: a corrupt header must
/// not make us allocate terabytes (2^34 float32 = 64 GiB, more than any real blob).
private let hdf5MaxReadElements = 1 << 34

private let hdf5Default = initdiag_H5P_DEFAULT()

/// Collects the innermost description of the current thread's HDF5 error stack.
private func hdf5CurrentReason() -> String {
    final class Box { var messages: [String] = [] }
    let box = Box()
    let unmanaged = Unmanaged.passRetained(box)
    defer { unmanaged.release() }
    _ = H5Ewalk2(initdiag_H5E_DEFAULT(), H5E_WALK_DOWNWARD, { _, err, context in
        if let err, let desc = err.pointee.desc, let context {
            Unmanaged<Box>.fromOpaque(context).takeUnretainedValue().messages.append(String(cString: desc))
        }
        return 0
    }, unmanaged.toOpaque())
    _ = H5Eclear2(initdiag_H5E_DEFAULT())
    // Walking downward ends at the function that first detected the problem: the most specific.
    // Some descriptions span lines (a read failure embeds ctime()'s "…2026\n"): the CLI's error
    // is one line, so line breaks become spaces.
    let reason = box.messages.last ?? ""
    return reason.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
}

/// A NUL-terminated name buffer as a String.
private func hdf5String(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Switches off HDF5's own error printing for the calling thread.
@inline(__always) func hdf5Silence() { _ = initdiag_silence_errors() }

/// A variable-length UTF-8 string type (caller closes).
private func hdf5MakeVlenStringType() -> hid_t {
    let t = H5Tcopy(initdiag_H5T_C_S1())
    if t >= 0 {
        _ = H5Tset_size(t, initdiag_H5T_VARIABLE())
        _ = H5Tset_cset(t, H5T_CSET_UTF8)
    }
    return t
}

/// Base of groups, datasets and files: an open id plus the names used in error messages.
public class HDF5Object: @unchecked Sendable {
    public let id: hid_t
    /// The file on disk (for messages).
    public let filePath: String
    /// The object's path inside the file.
    public let path: String

    init(id: hid_t, filePath: String, path: String) {
        self.id = id
        self.filePath = filePath
        self.path = path
    }

    func error(_ operation: String, _ subpath: String? = nil) -> HDF5Error {
        HDF5Error(file: filePath, path: subpath ?? path, operation: operation, reason: hdf5CurrentReason())
    }

    func check(_ status: herr_t, _ operation: String, _ subpath: String? = nil) throws {
        if status < 0 { throw error(operation, subpath) }
    }

    func childPath(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    // MARK: attributes

    public func hasAttribute(_ name: String) throws -> Bool {
        hdf5Silence()
        let r = H5Aexists(id, name)
        if r < 0 { throw error("check attribute '\(name)'") }
        return r > 0
    }

    /// Creates or replaces attribute `name`.
    public func setAttribute(_ name: String, _ value: HDF5AttributeValue) throws {
        hdf5Silence()
        if try hasAttribute(name) {
            try check(H5Adelete(id, name), "replace attribute '\(name)'")
        }
        let space: hid_t
        let fileType: hid_t
        var ownsType = false
        switch value {
        case .string:
            space = H5Screate(H5S_SCALAR)
            fileType = hdf5MakeVlenStringType()
            ownsType = true
        case .int:
            space = H5Screate(H5S_SCALAR)
            fileType = initdiag_H5T_STD_I64LE()
        case .double:
            space = H5Screate(H5S_SCALAR)
            fileType = initdiag_H5T_IEEE_F64LE()
        case .ints(let v):
            var dims = [hsize_t(v.count)]
            space = H5Screate_simple(1, &dims, nil)
            fileType = initdiag_H5T_STD_I64LE()
        case .doubles(let v):
            var dims = [hsize_t(v.count)]
            space = H5Screate_simple(1, &dims, nil)
            fileType = initdiag_H5T_IEEE_F64LE()
        case .strings(let v):
            var dims = [hsize_t(v.count)]
            space = H5Screate_simple(1, &dims, nil)
            fileType = hdf5MakeVlenStringType()
            ownsType = true
        }
        defer {
            if space >= 0 { H5Sclose(space) }
            if ownsType && fileType >= 0 { H5Tclose(fileType) }
        }
        if space < 0 || fileType < 0 { throw error("prepare attribute '\(name)'") }
        let attr = H5Acreate2(id, name, fileType, space, hdf5Default, hdf5Default)
        if attr < 0 { throw error("create attribute '\(name)'") }
        defer { H5Aclose(attr) }
        let status: herr_t
        switch value {
        case .string(let s):
            status = s.withCString { cs -> herr_t in
                var pointer: UnsafePointer<CChar>? = cs
                return H5Awrite(attr, fileType, &pointer)
            }
        case .int(let v):
            var x = v
            status = H5Awrite(attr, initdiag_H5T_NATIVE_INT64(), &x)
        case .double(let v):
            var x = v
            status = H5Awrite(attr, initdiag_H5T_NATIVE_DOUBLE(), &x)
        case .ints(let v):
            status = v.withUnsafeBufferPointer { H5Awrite(attr, initdiag_H5T_NATIVE_INT64(), $0.baseAddress) }
        case .doubles(let v):
            status = v.withUnsafeBufferPointer { H5Awrite(attr, initdiag_H5T_NATIVE_DOUBLE(), $0.baseAddress) }
        case .strings(let v):
            let copies = v.map { strdup($0) }
            defer { copies.forEach { free($0) } }
            var pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
            status = H5Awrite(attr, fileType, &pointers)
        }
        try check(status, "write attribute '\(name)'")
    }

    /// The names of all attributes, in HDF5's name order.
    public func attributeNames() throws -> [String] {
        hdf5Silence()
        // H5Aget_num_attrs is deprecated and H5Oget_info is versioned differently in 1.10 and
        // 1.12: probe indices until HDF5 says there is no attribute with that index.
        var names: [String] = []
        var index: hsize_t = 0
        while true {
            let n = H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, hdf5Default)
            if n < 0 { _ = H5Eclear2(initdiag_H5E_DEFAULT()); break }
            var buffer = [CChar](repeating: 0, count: Int(n) + 1)
            let m = H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, hdf5Default)
            if m < 0 { throw error("read attribute name #\(index)") }
            names.append(hdf5String(buffer))
            index += 1
        }
        return names
    }

    /// Reads attribute `name`; nil when it does not exist. Scalars and 1-element arrays of
    /// numbers come back as `.int`/`.double`; strings (fixed or variable length) as `.string`.
    public func attribute(_ name: String) throws -> HDF5AttributeValue? {
        guard try hasAttribute(name) else { return nil }
        let attr = H5Aopen(id, name, hdf5Default)
        if attr < 0 { throw error("open attribute '\(name)'") }
        defer { H5Aclose(attr) }
        let type = H5Aget_type(attr)
        if type < 0 { throw error("read the type of attribute '\(name)'") }
        defer { H5Tclose(type) }
        let space = H5Aget_space(attr)
        if space < 0 { throw error("read the shape of attribute '\(name)'") }
        defer { H5Sclose(space) }
        let points = H5Sget_simple_extent_npoints(space)
        if points < 0 || Int(points) > hdf5MaxReadElements { throw error("read the shape of attribute '\(name)'") }
        let count = Int(points)
        switch H5Tget_class(type) {
        case H5T_STRING:
            guard count >= 1 else { return .string("") }
            if H5Tis_variable_str(type) > 0 {
                let memType = hdf5MakeVlenStringType()
                defer { H5Tclose(memType) }
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                try check(H5Aread(attr, memType, &pointers), "read attribute '\(name)'")
                let values = pointers.map { $0.map { String(cString: $0) } ?? "" }
                _ = initdiag_vlen_reclaim(memType, space, &pointers)
                return H5Sget_simple_extent_type(space) == H5S_SCALAR ? .string(values[0]) : .strings(values)
            } else {
                let size = H5Tget_size(type)
                guard size > 0, size < (1 << 30) else { throw error("read attribute '\(name)'") }
                var bytes = [UInt8](repeating: 0, count: size * count + 1)
                try check(H5Aread(attr, type, &bytes), "read attribute '\(name)'")
                let first = bytes[0..<size]
                let end = first.firstIndex(of: 0) ?? first.endIndex
                return .string(String(decoding: first[first.startIndex..<end], as: UTF8.self))
            }
        case H5T_INTEGER:
            var values = [Int64](repeating: 0, count: max(count, 1))
            try check(H5Aread(attr, initdiag_H5T_NATIVE_INT64(), &values), "read attribute '\(name)'")
            return H5Sget_simple_extent_type(space) == H5S_SCALAR ? .int(values[0]) : .ints(Array(values.prefix(count)))
        case H5T_FLOAT:
            var values = [Double](repeating: 0, count: max(count, 1))
            try check(H5Aread(attr, initdiag_H5T_NATIVE_DOUBLE(), &values), "read attribute '\(name)'")
            return H5Sget_simple_extent_type(space) == H5S_SCALAR ? .double(values[0]) : .doubles(Array(values.prefix(count)))
        default:
            throw HDF5Error(file: filePath, path: path, operation: "read attribute '\(name)'",
                            reason: "unsupported attribute type")
        }
    }
}

/// A group (also the base of `HDF5File`, whose root group it is).
public class HDF5Group: HDF5Object, @unchecked Sendable {
    deinit { if id >= 0 { H5Gclose(id) } }

    /// Creates the child group `name` (one link name, no `/`).
    public func createGroup(_ name: String) throws -> HDF5Group {
        hdf5Silence()
        let g = H5Gcreate2(id, name, hdf5Default, hdf5Default, hdf5Default)
        if g < 0 { throw error("create group", childPath(name)) }
        return HDF5Group(id: g, filePath: filePath, path: childPath(name))
    }

    /// Creates the group at a relative path `a/b/c`, making the missing intermediate groups.
    public func createGroup(path relative: String) throws -> HDF5Group {
        hdf5Silence()
        let lcpl = H5Pcreate(initdiag_H5P_LINK_CREATE())
        if lcpl < 0 { throw error("create group", childPath(relative)) }
        defer { H5Pclose(lcpl) }
        try check(H5Pset_create_intermediate_group(lcpl, 1), "create group", childPath(relative))
        let g = H5Gcreate2(id, relative, lcpl, hdf5Default, hdf5Default)
        if g < 0 { throw error("create group", childPath(relative)) }
        return HDF5Group(id: g, filePath: filePath, path: childPath(relative))
    }

    /// Opens the group at a relative path (`a` or `a/b`).
    public func openGroup(_ relative: String) throws -> HDF5Group {
        hdf5Silence()
        let g = H5Gopen2(id, relative, hdf5Default)
        if g < 0 { throw error("open group", childPath(relative)) }
        return HDF5Group(id: g, filePath: filePath, path: childPath(relative))
    }

    /// Whether the link `name` (one name) exists.
    public func hasChild(_ name: String) throws -> Bool {
        hdf5Silence()
        let r = H5Lexists(id, name, hdf5Default)
        if r < 0 { throw error("look up '\(name)'") }
        return r > 0
    }

    /// The names of the group's links in HDF5's name order.
    public func childNames() throws -> [String] {
        hdf5Silence()
        var info = H5G_info_t()
        try check(H5Gget_info(id, &info), "list the group")
        var names: [String] = []
        names.reserveCapacity(Int(info.nlinks))
        for index in 0..<info.nlinks {
            let n = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, hdf5Default)
            if n < 0 { throw error("read link name #\(index)") }
            var buffer = [CChar](repeating: 0, count: Int(n) + 1)
            if H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, hdf5Default) < 0 {
                throw error("read link name #\(index)")
            }
            names.append(hdf5String(buffer))
        }
        return names
    }

    /// What the link `name` points at.
    public func childKind(_ name: String) throws -> HDF5ObjectKind {
        hdf5Silence()
        let object = H5Oopen(id, name, hdf5Default)
        if object < 0 { throw error("open object", childPath(name)) }
        defer { H5Oclose(object) }
        switch H5Iget_type(object) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }

    /// A 1-D dataset of current length 0, extendible without limit, chunked by `chunk` elements.
    public func createExtendibleDataset(_ name: String, type: HDF5ElementType, chunk: Int = 256) throws -> HDF5Dataset {
        hdf5Silence()
        var dims: [hsize_t] = [0]
        var maxDims: [hsize_t] = [initdiag_H5S_UNLIMITED()]
        let space = H5Screate_simple(1, &dims, &maxDims)
        if space < 0 { throw error("create dataspace", childPath(name)) }
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(initdiag_H5P_DATASET_CREATE())
        if dcpl < 0 { throw error("create dataset properties", childPath(name)) }
        defer { H5Pclose(dcpl) }
        var chunkDims: [hsize_t] = [hsize_t(max(1, chunk))]
        try check(H5Pset_chunk(dcpl, 1, &chunkDims), "set chunking", childPath(name))
        let d = H5Dcreate2(id, name, type.fileType, space, hdf5Default, dcpl, hdf5Default)
        if d < 0 { throw error("create dataset", childPath(name)) }
        return HDF5Dataset(id: d, filePath: filePath, path: childPath(name))
    }

    /// A 2-D dataset of current shape 0 × `columns`, extendible without limit along its first
    /// axis, chunked by `chunkRows` rows; with `deflate` (a zlib level 1…9) the chunks are
    /// compressed (HDF5's standard filter, which h5py and HDFView read without options).
    public func createExtendibleMatrix(_ name: String, columns: Int, type: HDF5ElementType,
                                       chunkRows: Int = 64, deflate: Int? = nil) throws -> HDF5Dataset {
        hdf5Silence()
        var dims: [hsize_t] = [0, hsize_t(columns)]
        var maxDims: [hsize_t] = [initdiag_H5S_UNLIMITED(), hsize_t(columns)]
        let space = H5Screate_simple(2, &dims, &maxDims)
        if space < 0 { throw error("create dataspace", childPath(name)) }
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(initdiag_H5P_DATASET_CREATE())
        if dcpl < 0 { throw error("create dataset properties", childPath(name)) }
        defer { H5Pclose(dcpl) }
        var chunkDims: [hsize_t] = [hsize_t(max(1, chunkRows)), hsize_t(columns)]
        try check(H5Pset_chunk(dcpl, 2, &chunkDims), "set chunking", childPath(name))
        if let deflate { try check(H5Pset_deflate(dcpl, UInt32(deflate)), "set deflate", childPath(name)) }
        let d = H5Dcreate2(id, name, type.fileType, space, hdf5Default, dcpl, hdf5Default)
        if d < 0 { throw error("create dataset", childPath(name)) }
        return HDF5Dataset(id: d, filePath: filePath, path: childPath(name))
    }

    /// A contiguous float32 dataset of the given N-D shape (rank 0 = scalar), filled from `values`
    /// (`values.count` must be the shape's product).
    public func createFloatDataset(_ name: String, shape: [Int], values: UnsafeBufferPointer<Float>) throws {
        hdf5Silence()
        let count = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), count == values.count else {
            throw HDF5Error(file: filePath, path: childPath(name), operation: "create dataset",
                            reason: "shape \(shape) does not hold \(values.count) values")
        }
        let space: hid_t
        if shape.isEmpty {
            space = H5Screate(H5S_SCALAR)
        } else {
            var dims = shape.map { hsize_t($0) }
            space = H5Screate_simple(Int32(shape.count), &dims, nil)
        }
        if space < 0 { throw error("create dataspace", childPath(name)) }
        defer { H5Sclose(space) }
        let d = H5Dcreate2(id, name, HDF5ElementType.float32.fileType, space, hdf5Default, hdf5Default, hdf5Default)
        if d < 0 { throw error("create dataset", childPath(name)) }
        defer { H5Dclose(d) }
        if count > 0 {
            try check(H5Dwrite(d, initdiag_H5T_NATIVE_FLOAT(), initdiag_H5S_ALL(), initdiag_H5S_ALL(), hdf5Default,
                               values.baseAddress), "write dataset", childPath(name))
        }
    }

    /// A 1-D int32 dataset (Caffe's `hdf5_save_int`: `H5LTmake_dataset_int`, one element).
    public func createInt32Dataset(_ name: String, values: [Int32]) throws {
        hdf5Silence()
        var dims = [hsize_t(values.count)]
        let space = H5Screate_simple(1, &dims, nil)
        if space < 0 { throw error("create dataspace", childPath(name)) }
        defer { H5Sclose(space) }
        let d = H5Dcreate2(id, name, HDF5ElementType.int32.fileType, space, hdf5Default, hdf5Default, hdf5Default)
        if d < 0 { throw error("create dataset", childPath(name)) }
        defer { H5Dclose(d) }
        if !values.isEmpty {
            try values.withUnsafeBufferPointer {
                try check(H5Dwrite(d, initdiag_H5T_NATIVE_INT32(), initdiag_H5S_ALL(), initdiag_H5S_ALL(), hdf5Default,
                                   $0.baseAddress), "write dataset", childPath(name))
            }
        }
    }

    /// A scalar fixed-length, NUL-terminated string dataset of strlen+1 bytes: what Caffe's
    /// `hdf5_save_string` (`H5LTmake_dataset_string`) writes and `hdf5_load_string` expects.
    public func createFixedStringDataset(_ name: String, value: String) throws {
        hdf5Silence()
        var bytes = Array(value.utf8)
        bytes.append(0)
        let type = H5Tcopy(initdiag_H5T_C_S1())
        if type < 0 { throw error("create string type", childPath(name)) }
        defer { H5Tclose(type) }
        try check(H5Tset_size(type, bytes.count), "create string type", childPath(name))
        try check(H5Tset_strpad(type, H5T_STR_NULLTERM), "create string type", childPath(name))
        let space = H5Screate(H5S_SCALAR)
        if space < 0 { throw error("create dataspace", childPath(name)) }
        defer { H5Sclose(space) }
        let d = H5Dcreate2(id, name, type, space, hdf5Default, hdf5Default, hdf5Default)
        if d < 0 { throw error("create dataset", childPath(name)) }
        defer { H5Dclose(d) }
        try check(H5Dwrite(d, type, initdiag_H5S_ALL(), initdiag_H5S_ALL(), hdf5Default, bytes), "write dataset",
                  childPath(name))
    }

    public func openDataset(_ relative: String) throws -> HDF5Dataset {
        hdf5Silence()
        let d = H5Dopen2(id, relative, hdf5Default)
        if d < 0 { throw error("open dataset", childPath(relative)) }
        return HDF5Dataset(id: d, filePath: filePath, path: childPath(relative))
    }
}

/// An open HDF5 file; the object itself is the root group "/".
public final class HDF5File: HDF5Group, @unchecked Sendable {
    private var fileID: hid_t
    private var rootID: hid_t

    private init(fileID: hid_t, rootID: hid_t, filePath: String) {
        self.fileID = fileID
        self.rootID = rootID
        super.init(id: rootID, filePath: filePath, path: "/")
    }

    /// The (earliest) default file format, so HDF5 1.8 readers (Caffe builds, old h5py) read it.
    /// `fileLocking: false` keeps this process from taking the POSIX lock HDF5 1.10 places on a
    /// file open for writing, so other processes (h5dump, h5py) can open it while we hold it; see
    /// TraceWriter for why that is sound for our write pattern.
    /// `latestFormat` selects the newest file format (libver bounds latest/latest), which SWMR
    /// writing needs.
    public static func create(path: String, fileLocking: Bool = true, latestFormat: Bool = false) throws -> HDF5File {
        hdf5Silence()
        let fapl = H5Pcreate(initdiag_H5P_FILE_ACCESS())
        if fapl < 0 { throw HDF5Error(file: path, path: "", operation: "create file", reason: hdf5CurrentReason()) }
        defer { H5Pclose(fapl) }
        if latestFormat && initdiag_set_latest_format(fapl) < 0 {
            throw HDF5Error(file: path, path: "", operation: "create file", reason: hdf5CurrentReason())
        }
        if !fileLocking && H5Pset_file_locking(fapl, false, true) < 0 {
            throw HDF5Error(file: path, path: "", operation: "create file", reason: hdf5CurrentReason())
        }
        let f = H5Fcreate(path, initdiag_H5F_ACC_TRUNC(), hdf5Default, fapl)
        if f < 0 { throw HDF5Error(file: path, path: "", operation: "create file", reason: hdf5CurrentReason()) }
        return try wrap(f, path)
    }

    /// Opens an existing file. Read-only opens fall back to an SWMR read when the file says a
    /// SWMR writer has it open (or died holding it), which plain opens refuse.
    public static func open(path: String, readOnly: Bool = true, fileLocking: Bool = true) throws -> HDF5File {
        hdf5Silence()
        let fapl = H5Pcreate(initdiag_H5P_FILE_ACCESS())
        if fapl < 0 { throw HDF5Error(file: path, path: "", operation: "open file", reason: hdf5CurrentReason()) }
        defer { H5Pclose(fapl) }
        if !fileLocking && H5Pset_file_locking(fapl, false, true) < 0 {
            throw HDF5Error(file: path, path: "", operation: "open file", reason: hdf5CurrentReason())
        }
        var f = H5Fopen(path, readOnly ? initdiag_H5F_ACC_RDONLY() : initdiag_H5F_ACC_RDWR(), fapl)
        if f < 0 {
            let reason = hdf5CurrentReason()
            if readOnly {
                f = H5Fopen(path, initdiag_H5F_ACC_RDONLY() | initdiag_H5F_ACC_SWMR_READ(), fapl)
                _ = H5Eclear2(initdiag_H5E_DEFAULT())
            }
            if f < 0 { throw HDF5Error(file: path, path: "", operation: "open file", reason: reason) }
        }
        return try wrap(f, path)
    }

    private static func wrap(_ f: hid_t, _ path: String) throws -> HDF5File {
        let root = H5Gopen2(f, "/", hdf5Default)
        if root < 0 {
            let reason = hdf5CurrentReason()
            H5Fclose(f)
            throw HDF5Error(file: path, path: "/", operation: "open the root group", reason: reason)
        }
        return HDF5File(fileID: f, rootID: root, filePath: path)
    }

    /// Switches the file to SWMR writing (HDF5 ≥ 1.10; the file must have been created with
    /// `latestFormat`, and no attribute may be open). From then on no object or attribute may be
    /// created, and only SWMR readers can open the file — h5dump 1.10 cannot (see TraceWriter).
    public func startSWMRWrite() throws {
        hdf5Silence()
        try check(H5Fstart_swmr_write(fileID), "start SWMR writing")
    }

    /// Writes every buffered object and the metadata to disk: after this the file on disk is a
    /// complete, consistent HDF5 file.
    public func flush() throws {
        hdf5Silence()
        guard fileID >= 0 else { return }
        try check(H5Fflush(fileID, H5F_SCOPE_GLOBAL), "flush the file")
    }

    /// Closes the file. Objects opened from it must have been released first, or HDF5 keeps the
    /// file open until they are (H5F_CLOSE_DEFAULT = weak close).
    public func close() throws {
        hdf5Silence()
        guard fileID >= 0 else { return }
        let rootStatus = H5Gclose(rootID)
        let fileStatus = H5Fclose(fileID)
        rootID = -1
        fileID = -1
        if rootStatus < 0 || fileStatus < 0 { throw error("close the file") }
    }

    /// Drops this object's ids without closing them: the file stays open in this process exactly
    /// as a crashed process would leave it on disk. For tests of crash safety only.
    func leakForTesting() {
        rootID = -1
        fileID = -1
    }

    deinit {
        if rootID >= 0 { H5Gclose(rootID) }
        if fileID >= 0 { H5Fclose(fileID) }
        rootID = -1
    }
}

/// An open dataset.
public final class HDF5Dataset: HDF5Object, @unchecked Sendable {
    private var closed = false

    deinit { if !closed { H5Dclose(id) } }

    func leakForTesting() { closed = true }

    /// The current dimensions.
    public func shape() throws -> [Int] {
        hdf5Silence()
        let space = H5Dget_space(id)
        if space < 0 { throw error("read the dataset's shape") }
        defer { H5Sclose(space) }
        return try shape(of: space)
    }

    private func shape(of space: hid_t) throws -> [Int] {
        let rank = H5Sget_simple_extent_ndims(space)
        if rank < 0 || rank > 32 { throw error("read the dataset's shape") }
        if rank == 0 { return [] }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if H5Sget_simple_extent_dims(space, &dims, nil) < 0 { throw error("read the dataset's shape") }
        var total = 1
        for d in dims {
            let (p, overflow) = total.multipliedReportingOverflow(by: Int(clamping: d))
            if overflow || p > hdf5MaxReadElements {
                throw HDF5Error(file: filePath, path: path, operation: "read the dataset",
                                reason: "dimensions \(dims) are too large")
            }
            total = p
        }
        // A chunked dataset can declare 2^33 elements in a 4 KB file (chunks never written): the
        // read would then die allocating tens of GiB. Values are read as at most 8 bytes each.
        if total > (32 << 20) {
            let available = MemoryGuard.machineAvailableBytes()
            if total > available / 8 {
                throw HDF5Error(file: filePath, path: path, operation: "read the dataset",
                                reason: "dimensions \(dims) need about \(MemoryGuard.format(total * 8)) but only \(MemoryGuard.format(available)) is available")
            }
        }
        return dims.map { Int($0) }
    }

    /// The class of the stored elements.
    public func isFloatingPoint() throws -> Bool {
        let type = H5Dget_type(id)
        if type < 0 { throw error("read the dataset's type") }
        defer { H5Tclose(type) }
        return H5Tget_class(type) == H5T_FLOAT
    }

    public func isString() throws -> Bool {
        let type = H5Dget_type(id)
        if type < 0 { throw error("read the dataset's type") }
        defer { H5Tclose(type) }
        return H5Tget_class(type) == H5T_STRING
    }

    /// Appends `count` elements of memory type `memType` from `values` to a 1-D extendible
    /// dataset whose current length is `length` (tracked by the caller, so no query per append).
    func append(_ values: UnsafeRawPointer, count: Int, memType: hid_t, at length: Int) throws {
        guard count > 0 else { return }
        var newDims: [hsize_t] = [hsize_t(length + count)]
        try check(H5Dset_extent(id, &newDims), "extend the dataset")
        let fileSpace = H5Dget_space(id)
        if fileSpace < 0 { throw error("extend the dataset") }
        defer { H5Sclose(fileSpace) }
        var start: [hsize_t] = [hsize_t(length)]
        var counts: [hsize_t] = [hsize_t(count)]
        try check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &counts, nil), "select the appended rows")
        let memSpace = H5Screate_simple(1, &counts, nil)
        if memSpace < 0 { throw error("append to the dataset") }
        defer { H5Sclose(memSpace) }
        try check(H5Dwrite(id, memType, memSpace, fileSpace, hdf5Default, values), "append to the dataset")
    }

    /// Appends `rows` rows of `columns` Int64 (row-major) to a 2-D extendible dataset whose current
    /// number of rows is `length`.
    public func appendRows(int64s: UnsafeBufferPointer<Int64>, columns: Int, at length: Int) throws {
        hdf5Silence()
        guard let base = int64s.baseAddress, columns > 0 else { return }
        let rows = int64s.count / columns
        guard rows > 0 else { return }
        var newDims: [hsize_t] = [hsize_t(length + rows), hsize_t(columns)]
        try check(H5Dset_extent(id, &newDims), "extend the dataset")
        let fileSpace = H5Dget_space(id)
        if fileSpace < 0 { throw error("extend the dataset") }
        defer { H5Sclose(fileSpace) }
        var start: [hsize_t] = [hsize_t(length), 0]
        var counts: [hsize_t] = [hsize_t(rows), hsize_t(columns)]
        try check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &counts, nil), "select the appended rows")
        let memSpace = H5Screate_simple(2, &counts, nil)
        if memSpace < 0 { throw error("append to the dataset") }
        defer { H5Sclose(memSpace) }
        try check(H5Dwrite(id, initdiag_H5T_NATIVE_INT64(), memSpace, fileSpace, hdf5Default, base), "append to the dataset")
    }

    public func append(doubles: UnsafeBufferPointer<Double>, at length: Int) throws {
        hdf5Silence()
        guard let base = doubles.baseAddress else { return }
        try append(base, count: doubles.count, memType: initdiag_H5T_NATIVE_DOUBLE(), at: length)
    }

    public func append(int64s: UnsafeBufferPointer<Int64>, at length: Int) throws {
        hdf5Silence()
        guard let base = int64s.baseAddress else { return }
        try append(base, count: int64s.count, memType: initdiag_H5T_NATIVE_INT64(), at: length)
    }

    private func readAll<T>(_ zero: T, _ memType: hid_t) throws -> (shape: [Int], values: [T]) {
        hdf5Silence()
        let space = H5Dget_space(id)
        if space < 0 { throw error("read the dataset's shape") }
        defer { H5Sclose(space) }
        let dims = try shape(of: space)
        let count = dims.reduce(1, *)
        var values = [T](repeating: zero, count: count)
        if count > 0 {
            let status = values.withUnsafeMutableBytes {
                H5Dread(id, memType, initdiag_H5S_ALL(), initdiag_H5S_ALL(), hdf5Default, $0.baseAddress)
            }
            try check(status, "read the dataset")
        }
        return (dims, values)
    }

    /// Every element converted to Float (HDF5 converts from the stored numeric type).
    public func readFloats() throws -> (shape: [Int], values: [Float]) { try readAll(Float(0), initdiag_H5T_NATIVE_FLOAT()) }
    public func readDoubles() throws -> (shape: [Int], values: [Double]) { try readAll(Double(0), initdiag_H5T_NATIVE_DOUBLE()) }
    public func readInt64s() throws -> (shape: [Int], values: [Int64]) { try readAll(Int64(0), initdiag_H5T_NATIVE_INT64()) }

    /// A scalar (or first element of a) string dataset, fixed- or variable-length.
    public func readString() throws -> String {
        hdf5Silence()
        let type = H5Dget_type(id)
        if type < 0 { throw error("read the dataset's type") }
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_STRING else {
            throw HDF5Error(file: filePath, path: path, operation: "read a string", reason: "the dataset is not a string")
        }
        let space = H5Dget_space(id)
        if space < 0 { throw error("read the dataset's shape") }
        defer { H5Sclose(space) }
        let points = H5Sget_simple_extent_npoints(space)
        guard points >= 1, Int(points) <= 1 << 20 else { return "" }
        if H5Tis_variable_str(type) > 0 {
            let memType = hdf5MakeVlenStringType()
            defer { H5Tclose(memType) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: Int(points))
            try check(H5Dread(id, memType, initdiag_H5S_ALL(), initdiag_H5S_ALL(), hdf5Default, &pointers), "read the string")
            let value = pointers[0].map { String(cString: $0) } ?? ""
            _ = initdiag_vlen_reclaim(memType, space, &pointers)
            return value
        }
        let size = H5Tget_size(type)
        guard size > 0, size < (1 << 30), Int(points) * size < (1 << 30) else {
            throw HDF5Error(file: filePath, path: path, operation: "read a string", reason: "string size \(size) is invalid")
        }
        var bytes = [UInt8](repeating: 0, count: Int(points) * size)
        try check(H5Dread(id, type, initdiag_H5S_ALL(), initdiag_H5S_ALL(), hdf5Default, &bytes), "read the string")
        let first = bytes[0..<size]
        let end = first.firstIndex(of: 0) ?? first.endIndex
        return String(decoding: first[first.startIndex..<end], as: UTF8.self)
    }
}
