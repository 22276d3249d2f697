import InitDiagCore
import Foundation

/// One blob of a snapshot: its N-D shape and values in row-major order.
/// What the snapshot writer reads of a live blob: its shape and its contiguous data and diff
/// (the engine's `Blob` conforms). Keeps the trace code free of the engine's types.
public protocol CaffeSnapshotWritable: AnyObject {
    var shape: [Int] { get }
    var dataBuffer: UnsafeMutableBufferPointer<Float> { get }
    var diffBuffer: UnsafeMutableBufferPointer<Float> { get }
}

public struct CaffeSnapshotBlob: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// The weights of a `*.caffemodel.h5`, by layer name.
public struct CaffeSnapshotWeights: Sendable {
    /// Layer names in the file's (HDF5 name) order.
    public var layerNames: [String]
    /// Blobs of each layer in blob order ("0", "1", …).
    public var data: [String: [CaffeSnapshotBlob]]
    /// The `diff` group, when the file has one.
    public var diff: [String: [CaffeSnapshotBlob]]?
}

/// The contents of a `*.solverstate.h5`.
public struct CaffeSolverState: Sendable, Equatable {
    public var iter: Int
    /// The `.caffemodel.h5` written with it.
    public var learnedNet: String
    public var currentStep: Int
    /// SGD momentum history, one blob per learnable parameter in net order.
    public var history: [CaffeSnapshotBlob]
    /// initdiag's additions, needed to resume on the exact trajectory (data positions, the run
    /// generator's draw count): int64 scalars in the group `initdiag`, which Caffe never reads.
    /// Empty for a state Caffe wrote.
    public var resumeCounters: [String: Int64]
    /// The run generator's state (`MT19937.stateWords`), dataset `initdiag/generator_state`
    /// (int64 × 625); nil when absent (a Caffe state, or one written before it was saved).
    public var generatorState: [UInt32]?

    public init(iter: Int, learnedNet: String, currentStep: Int, history: [CaffeSnapshotBlob],
                resumeCounters: [String: Int64] = [:], generatorState: [UInt32]? = nil) {
        self.iter = iter
        self.learnedNet = learnedNet
        self.currentStep = currentStep
        self.history = history
        self.resumeCounters = resumeCounters
        self.generatorState = generatorState
    }
}

/// Caffe's HDF5 snapshots (docs/semantics.md §7; BVLC/caffe src/caffe/net.cpp Net::ToHDF5 and
/// CopyTrainedLayersFromHDF5, src/caffe/solvers/sgd_solver.cpp SnapshotSolverStateToHDF5 /
/// RestoreSolverStateFromHDF5, src/caffe/util/hdf5.cpp).
///
/// Layout written, as Caffe writes it: group `data` with one group per layer (every layer, also
/// those without blobs), float32 datasets "0", "1", … with the blob's N-D shape; `diff` the same
/// for gradients when asked. Solver state: int32 dataset `iter` (1 element), fixed-length string
/// `learned_net`, int32 `current_step` (1 element), group `history` with "0", "1", …, plus
/// initdiag's optional group `initdiag` of int64 scalars (resume counters; Caffe ignores it). The default
/// (earliest) HDF5 file format is used so HDF5 1.8 builds of Caffe can read the files.
///
/// A layer name with `/` becomes nested groups (Caffe's H5Gopen2/H5Lexists treat the name as a
/// path); reading reports it under its full name again.
///
/// Files are written under a temporary name in the same folder, closed, synced and renamed, so
/// the final name never holds a half-written file.
public enum CaffeSnapshot {
    /// Writes a `.caffemodel.h5`. `layers` in net order; `diff`, when given, holds the gradient
    /// blobs of the same layers.
    public static func writeWeights(to path: String, layers: [(name: String, blobs: [CaffeSnapshotBlob])],
                                    diff: [(name: String, blobs: [CaffeSnapshotBlob])]? = nil) throws {
        try atomically(path) { file in
            try writeGroup(file.createGroup("data"), layers)
            if let diff { try writeGroup(file.createGroup("diff"), diff) }
        }
    }

    /// Writes a `.caffemodel.h5` straight from the net's blobs (their `data`, and with
    /// `writeDiff` their `diff` in a `diff` group), without copying them.
    public static func writeWeights(to path: String, netLayers layers: [(name: String, blobs: [any CaffeSnapshotWritable])],
                                    writeDiff: Bool = false) throws {
        try atomically(path) { file in
            let data = try file.createGroup("data")
            let diff = writeDiff ? try file.createGroup("diff") : nil
            for (name, blobs) in layers {
                let dataLayer = try layerGroup(data, name)
                let diffLayer = try diff.map { try layerGroup($0, name) }
                for (i, blob) in blobs.enumerated() {
                    try dataLayer.createFloatDataset(String(i), shape: blob.shape,
                                                     values: UnsafeBufferPointer(blob.dataBuffer))
                    try diffLayer?.createFloatDataset(String(i), shape: blob.shape,
                                                      values: UnsafeBufferPointer(blob.diffBuffer))
                }
            }
        }
    }

    /// Reads a `.caffemodel.h5`. Throws InputError naming the file when it is not HDF5, damaged,
    /// or lacks the `data` group; and, unless `allowNonFinite`, naming the layer and blob when a
    /// weight is NaN or infinite.
    public static func readWeights(from path: String, allowNonFinite: Bool = false) throws -> CaffeSnapshotWeights {
        let file = try openForReading(path, what: "Caffe HDF5 weights")
        do {
            guard try file.hasChild("data"), try file.childKind("data") == .group else {
                throw InputError("\(path): not a Caffe HDF5 weights file (no group /data)")
            }
            var names: [String] = []
            let data = try readLayers(file.openGroup("data"), prefix: "", names: &names, path: path,
                                      allowNonFinite: allowNonFinite)
            var diff: [String: [CaffeSnapshotBlob]]?
            if try file.hasChild("diff"), try file.childKind("diff") == .group {
                var ignored: [String] = []
                diff = try readLayers(file.openGroup("diff"), prefix: "", names: &ignored, path: path, allowNonFinite: true)
            }
            return CaffeSnapshotWeights(layerNames: names, data: data, diff: diff)
        } catch let error as HDF5Error {
            throw InputError("\(path): damaged Caffe HDF5 weights file (\(error.description))")
        }
    }

    /// Writes a `.solverstate.h5`.
    public static func writeSolverState(_ state: CaffeSolverState, to path: String) throws {
        guard let iter = Int32(exactly: state.iter), let step = Int32(exactly: state.currentStep) else {
            throw InputError("\(path): iteration \(state.iter) / step \(state.currentStep) does not fit Caffe's int")
        }
        try atomically(path) { file in
            try file.createInt32Dataset("iter", values: [iter])
            try file.createFixedStringDataset("learned_net", value: state.learnedNet)
            try file.createInt32Dataset("current_step", values: [step])
            let history = try file.createGroup("history")
            for (i, blob) in state.history.enumerated() {
                try blob.values.withUnsafeBufferPointer {
                    try history.createFloatDataset(String(i), shape: blob.shape, values: $0)
                }
            }
            if !state.resumeCounters.isEmpty || state.generatorState != nil {
                let extras = try file.createGroup(resumeGroup)
                for (name, value) in state.resumeCounters.sorted(by: { $0.key < $1.key }) {
                    let dataset = try extras.createExtendibleDataset(name, type: .int64, chunk: 1)
                    try [value].withUnsafeBufferPointer { try dataset.append(int64s: $0, at: 0) }
                }
                if let words = state.generatorState {
                    let dataset = try extras.createExtendibleDataset(generatorStateName, type: .int64, chunk: words.count)
                    try words.map(Int64.init).withUnsafeBufferPointer { try dataset.append(int64s: $0, at: 0) }
                }
            }
        }
    }

    /// Reads a `.solverstate.h5`; InputError naming the file when it is damaged or incomplete.
    public static func readSolverState(from path: String) throws -> CaffeSolverState {
        let file = try openForReading(path, what: "Caffe HDF5 solver state")
        do {
            for name in ["iter", "learned_net", "current_step", "history"] where !(try file.hasChild(name)) {
                throw InputError("\(path): not a Caffe HDF5 solver state (no '\(name)')")
            }
            func scalarInt(_ name: String) throws -> Int {
                let values = try file.openDataset(name).readInt64s().values
                guard let first = values.first else { throw InputError("\(path): '\(name)' is empty") }
                return Int(first)
            }
            let iter = try scalarInt("iter")
            let step = try scalarInt("current_step")
            let learned = try file.openDataset("learned_net").readString()
            let history = try file.openGroup("history")
            var blobs: [CaffeSnapshotBlob] = []
            // Caffe restores history_[i] from dataset "i" for i in 0..<history_.size().
            var i = 0
            while try history.hasChild(String(i)) {
                let (shape, values) = try history.openDataset(String(i)).readFloats()
                blobs.append(CaffeSnapshotBlob(shape: shape, values: values))
                i += 1
            }
            var counters: [String: Int64] = [:]
            var generator: [UInt32]?
            if try file.hasChild(resumeGroup), try file.childKind(resumeGroup) == .group {
                let extras = try file.openGroup(resumeGroup)
                for name in try extras.childNames() {
                    if name == generatorStateName {
                        let words = try extras.openDataset(name).readInt64s().values
                        guard words.allSatisfy({ (0...Int64(UInt32.max)).contains($0) }),
                              let g = MT19937(stateWords: words.map { UInt32($0) }) else {
                            throw InputError("\(path): '\(resumeGroup)/\(name)' is not a generator state (625 words, the last ≤ 624)")
                        }
                        generator = g.stateWords
                        continue
                    }
                    guard let value = try extras.openDataset(name).readInt64s().values.first else {
                        throw InputError("\(path): '\(resumeGroup)/\(name)' is empty")
                    }
                    counters[name] = value
                }
            }
            return CaffeSolverState(iter: iter, learnedNet: learned, currentStep: step, history: blobs,
                                    resumeCounters: counters, generatorState: generator)
        } catch let error as HDF5Error {
            throw InputError("\(path): damaged Caffe HDF5 solver state (\(error.description))")
        }
    }

    /// The group of a `.solverstate.h5` holding `CaffeSolverState.resumeCounters`.
    public static let resumeGroup = "initdiag"
    /// The dataset in `resumeGroup` holding `CaffeSolverState.generatorState`.
    public static let generatorStateName = "generator_state"

    // MARK: - helpers

    private static func openForReading(_ path: String, what: String) throws -> HDF5File {
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError("\(path): no such file")
        }
        do {
            return try HDF5File.open(path: path, readOnly: true)
        } catch let error as HDF5Error {
            let reason = error.reason.isEmpty ? "not an HDF5 file" : error.reason
            throw InputError("\(path): cannot read as \(what) (\(reason))")
        }
    }

    package static func layerGroup(_ parent: HDF5Group, _ name: String) throws -> HDF5Group {
        guard !name.isEmpty else {
            throw HDF5Error(file: parent.filePath, path: parent.path, operation: "create a group for a layer",
                            reason: "the layer name is empty")
        }
        // HDF5 reads a path component "." as the group itself, so a layer named "." (or "a/./b")
        // has no group of its own: the write failed with "name already exists". Say why instead.
        if name.split(separator: "/", omittingEmptySubsequences: false).dropFirst(name.hasPrefix("/") ? 1 : 0).contains(".") {
            throw HDF5Error(file: parent.filePath, path: parent.path, operation: "create a group for layer '\(name)'",
                            reason: "a Caffe HDF5 snapshot cannot hold a layer named '.' (HDF5 reads it as the group itself); rename the layer")
        }
        return name.contains("/") ? try parent.createGroup(path: name) : try parent.createGroup(name)
    }

    private static func writeGroup(_ group: HDF5Group, _ layers: [(name: String, blobs: [CaffeSnapshotBlob])]) throws {
        for (name, blobs) in layers {
            let layer = try layerGroup(group, name)
            for (i, blob) in blobs.enumerated() {
                try blob.values.withUnsafeBufferPointer {
                    try layer.createFloatDataset(String(i), shape: blob.shape, values: $0)
                }
            }
        }
    }

    /// Every group under `group` is a layer (its datasets "0", "1", … its blobs); a group that
    /// holds groups is also a path prefix of layers whose names contain `/`.
    private static func readLayers(_ group: HDF5Group, prefix: String, names: inout [String], path: String,
                                   allowNonFinite: Bool) throws -> [String: [CaffeSnapshotBlob]] {
        var result: [String: [CaffeSnapshotBlob]] = [:]
        for child in try group.childNames() where try group.childKind(child) == .group {
            let layerName = prefix + child
            let layer = try group.openGroup(child)
            var blobs: [CaffeSnapshotBlob] = []
            var i = 0
            while try layer.hasChild(String(i)) {
                let dataset = try layer.openDataset(String(i))
                guard try dataset.isFloatingPoint() else {
                    throw InputError("\(path): layer '\(layerName)' blob \(i) is not floating point")
                }
                let (shape, values) = try dataset.readFloats()
                if !allowNonFinite, let bad = values.firstIndex(where: { !$0.isFinite }) {
                    throw InputError("\(path): layer '\(layerName)' blob \(i) holds a non-finite value (\(values[bad]) at element \(bad))")
                }
                blobs.append(CaffeSnapshotBlob(shape: shape, values: values))
                i += 1
            }
            let subLayers = try readLayers(layer, prefix: layerName + "/", names: &names, path: path,
                                           allowNonFinite: allowNonFinite)
            // A group that only exists as the prefix of nested names is not itself a layer.
            if !blobs.isEmpty || subLayers.isEmpty {
                names.append(layerName)
                result[layerName] = blobs
            }
            result.merge(subLayers) { a, _ in a }
        }
        return result
    }

    /// Writes with `body` into `<dir>/.<name>.partial-<pid>`, closes, fsyncs and renames to
    /// `path`; removes the temporary file on failure. Failures are InputErrors naming `path`.
    package static func atomically(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
        do {
            let file = try HDF5File.create(path: temporary)
            do {
                try body(file)
                try file.close()
            } catch {
                try? file.close()
                throw error
            }
            let fd = open(temporary, O_RDONLY)
            if fd >= 0 { _ = fsync(fd); _ = Foundation.close(fd) }
            if rename(temporary, path) != 0 {
                let reason = String(cString: strerror(errno))
                throw InputError("cannot write \(path): \(reason)")
            }
        } catch let error as HDF5Error {
            unlink(temporary)
            throw InputError("cannot write \(path): \(error.description)")
        } catch {
            unlink(temporary)
            throw error
        }
    }
}

extension CaffeSnapshot {
    /// Whether the file starts with HDF5's signature (\x89HDF\r\n\x1a\n at offset 0), which is how
    /// Caffe tells an HDF5 snapshot from a binary .caffemodel.
    public static func isHDF5(path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 8)) ?? Data()
        return head == Data([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A])
    }
}
